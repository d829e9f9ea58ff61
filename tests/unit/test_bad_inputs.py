"""Everything a user hands solarb that is wrong gives one typed error naming it, never a traceback.

Config files, environment overrides, captures, account files for `solarb quote`, and a capture
replayed with the wrong markets file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli.main import main
from config import DEFAULT_PATH, load_settings
from connectors.capture import validate_capture
from connectors.journal import LATEST, read_table
from connectors.secrets import resolve_rpc
from operators.errors import ConfigError, FeedError
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, write_capture
from tests.conftest import MemoryKeyring


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "good.parquet"
    write_capture(path, SimConfig(duration_s=30, jumps=((20, 70),)))
    return path


# ----------------------------------------------------------------------------- config


def test_config_path_that_is_a_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, SAMPLE_MARKETS, env={})
    assert str(err.value) == f"{tmp_path}: is a directory, not a TOML file"


def test_config_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_bytes(b"[engine]\nbook_depth = 5 # \xff\xfe\n")
    with pytest.raises(ConfigError) as err:
        load_settings(bad, SAMPLE_MARKETS, env={})
    assert str(err.value) == f"{bad}: not UTF-8 text (byte 26): not a TOML file"


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("SOLARB__THRESHOLDS__MIN_NET_BPS", "nan", "thresholds.min_net_bps"),
        ("SOLARB__THRESHOLDS__SAFETY_MARGIN_BPS", "inf", "thresholds.safety_margin_bps"),
        ("SOLARB__GAS__PRIORITY_SHARE_OF_EDGE", "-nan", "gas.priority_share_of_edge"),
        ("SOLARB__RISK__MAX_NOTIONAL_USD", '"NaN"', "risk.max_notional_usd"),
        ("SOLARB__SOL_PRICE_QUOTE", '"Infinity"', "sol_price_quote"),
    ],
)
def test_nan_or_infinite_setting_from_the_environment_is_refused(
    name: str, value: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=f"key '{key}': Input should be a finite number"):
        load_settings(None, SAMPLE_MARKETS, env={name: value})


def test_nan_in_a_config_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    text = DEFAULT_PATH.read_text()
    cfg.write_text(text.replace("min_net_bps = 0.0", "min_net_bps = nan"))
    with pytest.raises(
        ConfigError, match=r"key 'thresholds\.min_net_bps': Input should be a finite number"
    ):
        load_settings(cfg, SAMPLE_MARKETS, env={})


def test_rpc_urls_may_be_keychain_references_resolved_at_start(
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.set_password("solarb", "rpc_http", "https://rpc.example.com/?api-key=S3")
    memory_keyring.set_password("solarb", "rpc_ws", "wss://rpc.example.com/?api-key=S3")
    env = {
        "SOLARB__RPC__HTTP": '["keychain:solarb:rpc_http", "https://b.example.com"]',
        "SOLARB__RPC__WS": '["keychain:solarb:rpc_ws", "wss://b.example.com"]',
    }
    settings = load_settings(None, SAMPLE_MARKETS, env=env)
    assert settings.rpc.http == ["keychain:solarb:rpc_http", "https://b.example.com"]
    rpc = resolve_rpc(settings.rpc)
    assert rpc.http == ["https://rpc.example.com/?api-key=S3", "https://b.example.com"]
    assert rpc.ws == ["wss://rpc.example.com/?api-key=S3", "wss://b.example.com"]
    assert rpc.failover_http == settings.rpc.failover_http


def test_rpc_url_reference_missing_from_the_keychain_is_a_config_error(
    memory_keyring: MemoryKeyring,
) -> None:
    env = {"SOLARB__RPC__FAILOVER_HTTP": '"keychain:solarb:nope"'}
    settings = load_settings(None, SAMPLE_MARKETS, env=env)
    with pytest.raises(ConfigError, match="keychain:solarb:nope: no such entry in the keychain"):
        resolve_rpc(settings.rpc)


# ----------------------------------------------------------------------------- captures


def _flipped(good: Path, out: Path) -> Path:
    data = bytearray(good.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    out.write_bytes(bytes(data))
    return out


def _bad_captures(good: Path, d: Path) -> dict[str, tuple[Path, str]]:
    zero = d / "zero.parquet"
    zero.write_bytes(b"")
    trunc = d / "trunc.parquet"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    table = pq.read_table(good)
    no_slot = d / "noslot.parquet"
    pq.write_table(table.drop_columns(["slot"]), no_slot)
    wrong = d / "wrongtype.parquet"
    pq.write_table(table.set_column(0, "ts_recv_ns", table["ts_recv_ns"].cast(pa.string())), wrong)
    return {
        "zero": (zero, f"{zero}: empty file (0 bytes), not a capture"),
        "truncated": (trunc, f"{trunc}: cannot read capture (truncated, corrupt or not Parquet)"),
        "bit-flipped": (_flipped(good, d / "flip.parquet"), "(corrupt capture)"),
        "no slot": (no_slot, f"{no_slot}: not a solarb capture (missing column 'slot')"),
        "wrong type": (
            wrong,
            f"{wrong}: column 'ts_recv_ns' is string, a solarb capture has int64",
        ),
        "directory": (d, f"{d}: not a file"),
    }


def test_every_broken_capture_is_a_feed_error_naming_the_file(
    capture: Path, tmp_path: Path
) -> None:
    assert validate_capture(capture) == 301 + 44  # Binance frames + Orca account writes
    for case, (path, message) in _bad_captures(capture, tmp_path).items():
        with pytest.raises(FeedError) as err:
            validate_capture(path)
        assert message in str(err.value), case
        assert str(path) in str(err.value), case


def test_replay_of_a_broken_capture_prints_one_error_and_keeps_the_previous_journal(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "journal"
    common = ["--markets", str(SAMPLE_MARKETS), "replay", "--report", str(tmp_path / "r.md")]
    assert main([*common, "--journal", str(journal), "--run-id", "good", str(capture)]) == 0
    before = read_table(journal, "counters")
    capsys.readouterr()
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for case, (path, message) in _bad_captures(capture, bad_dir).items():
        code = main([*common, "--journal", str(journal), str(path)])
        err = capsys.readouterr().err
        assert code == 2, case
        assert err.startswith("error: ") and message in err, case
        assert "Traceback" not in err, case
    assert (journal / LATEST).read_text() == "good\n"
    assert sorted(p.name for p in journal.iterdir()) == ["good", LATEST]
    assert read_table(journal, "counters") == before


def test_capture_replayed_without_its_markets_file_counts_and_warns_about_unrouted_frames(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_pool = tmp_path / "markets.toml"
    text = SAMPLE_MARKETS.read_text()
    start = text.index('  [[pairs.markets]]\n  venue = "binance"')
    end = text.index('  [[pairs.markets]]\n  venue = "orca"')
    only_pool.write_text(text[:start] + text[end:])
    journal = tmp_path / "j"
    args = ["--markets", str(only_pool), "replay", str(capture), "--journal", str(journal)]
    assert main([*args, "--report", str(tmp_path / "r.md")]) == 0
    out, err = capsys.readouterr()
    assert "unrouted       301 frames matched no market (binance 301)" in out.splitlines()
    warning = (
        "301 of 345 frames matched no configured market — "
        "did you pass the capture's markets file (--markets)?"
    )
    assert f"WARNING        {warning}" in out.splitlines()
    assert err == f"warning: {warning}\n"
    counters = read_table(journal, "counters")
    assert counters is not None
    assert {
        (r["step"], r["key"], r["name"]): r["value"]
        for r in counters.to_pylist()
        if r["step"] == "route"
    } == {("route", "binance", "unrouted_frames"): 301}
    assert f"orca:{SAMPLE_POOL} 44" in out


# ----------------------------------------------------------------------------- quote


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"data_b64": "not base64!!"}', "'data_b64' is not valid base64"),
        (b'{"data_b64": ', "not valid JSON"),
        (b'{"account": {"data": [42]}}', "'account.data[0]' is not a base64 string"),
        (b'{"lamports": 1}', "JSON account without 'data_b64' or 'account.data'"),
    ],
)
def test_quote_with_a_bad_account_file_is_one_error_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    pool = tmp_path / "pool.json"
    pool.write_bytes(content)
    assert main(["quote", "--pool", str(pool), "--amount", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: account {pool}: {message}")
    assert "Traceback" not in err


def test_quote_with_a_missing_account_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quote", "--pool", str(tmp_path / "nope"), "--amount", "1"]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'nope'}: cannot read account file: No such file or directory\n"
    )


def test_solana_cli_json_account_is_decoded_from_base64(tmp_path: Path) -> None:
    from cli.main import _account_bytes

    p = tmp_path / "a.json"
    p.write_text(json.dumps({"account": {"data": ["AQID", "base64"]}}))
    assert _account_bytes(str(p)) == b"\x01\x02\x03"


def test_error_raised_inside_the_dataflow_is_one_error_line_too(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # resuming into a run folder whose part file is garbage: the sink fails as Bytewax opens it
    bad_part = tmp_path / "journal" / "r1" / "health" / "w0-00000.parquet"
    bad_part.parent.mkdir(parents=True)
    bad_part.write_bytes(b"not parquet")
    args = ["--markets", str(SAMPLE_MARKETS), "replay", str(capture), "--run-id", "r1"]
    code = main([*args, "--journal", str(tmp_path / "journal"), "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {bad_part}: unreadable journal part: " in err
    assert "Traceback" not in err
