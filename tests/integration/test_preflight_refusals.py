"""Issue 13's done-when, at the command line: `solarb check --loopback` exits non-zero and names
the failing check; `solarb live` / `paper` refuse to start on wrong decimals as on a wrong
`base_is_a` (tests/unit/test_verify_markets.py has that one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from sim.simulate import SAMPLE_MARKETS
from tests.conftest import MemoryKeyring

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_check_loopback_exits_non_zero_and_names_the_failing_check(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    # the Binance secret is missing from the keychain: keychain and key checks are red
    memory_keyring.store[("solarb", "binance_api_key")] = "test-key"
    code = main(["--markets", str(SAMPLE_MARKETS), "check", "--loopback", "--within", "5"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL keychain                     missing: binance.api_secret" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RED: 8/10 checks passed; failing: keychain, key binance"), last
    assert "test-key" not in out


@pytest.mark.parametrize("field", ["quote_decimals = 6", "base_decimals = 9"])
def test_paper_on_loopback_refuses_wrong_decimals_before_any_feed_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    name, value = field.split(" = ")
    bad = tmp_path / "markets.toml"
    text = SAMPLE_MARKETS.read_text()
    assert field in text
    bad.write_text(text.replace(field, f"{name} = {int(value) + 2}"))
    code = main(["--markets", str(bad), "paper", "--loopback", "--duration", "5",
                 "--journal", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert code == 2
    assert "the markets file does not match the chain" in err
    assert "decimals are base 9 / quote 6 on chain" in err
    assert not (tmp_path / "j").exists()  # refused before any run folder was made
