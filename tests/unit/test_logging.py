"""Structured logs: JSON lines that parse, per-module levels, and no secret in any record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cli.logs import configure_logging, parse_levels
from cli.main import build_parser, main
from config import load_settings
from connectors.solana.rpc import SolanaRpc
from operators.errors import ConfigError

KEY = "9f2c1a7e-5b3d-4c8e-a1f0-7d6e5c4b3a21"
KEYED = f"https://mainnet.helius-rpc.com/?api-key={KEY}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    touched = ["connectors", "connectors.cex", "connectors.solana", "engine"]
    levels = {n: logging.getLogger(n).level for n in touched}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for n, lv in levels.items():
        logging.getLogger(n).setLevel(lv)


def _lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_log_level_spec_sets_module_levels_and_a_bare_level_the_root() -> None:
    assert parse_levels("connectors.cex=DEBUG, engine=info") == {
        "connectors.cex": logging.DEBUG,
        "engine": logging.INFO,
    }
    assert parse_levels("ERROR") == {"": logging.ERROR}
    with pytest.raises(ConfigError, match="'LOUD' is not a level"):
        parse_levels("engine=LOUD")


def test_json_lines_parse_and_carry_extras_and_no_secret(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("json", "connectors.cex=DEBUG,engine=INFO", stream=out)
    logging.getLogger("connectors.cex.transport").debug(
        "connecting to %s", KEYED, extra={"venue": "binance", "url": KEYED, "attempt": 2}
    )
    logging.getLogger("engine.steps").debug("not shown: engine is at INFO")
    logging.getLogger("engine.steps").info("shown")
    logging.getLogger("flows.paper").info("not shown: the root stays at WARNING")
    try:
        raise OSError(f"connect {KEYED} refused")
    except OSError:
        logging.getLogger("connectors.solana.rpc").exception("request failed")
    lines = _lines(out)
    assert [(x["level"], x["logger"]) for x in lines] == [
        ("DEBUG", "connectors.cex.transport"),
        ("INFO", "engine.steps"),
        ("ERROR", "connectors.solana.rpc"),
    ]
    first = lines[0]
    assert list(first)[:4] == ["ts", "level", "logger", "message"]
    assert first["ts"].endswith("Z") and first["ts"][10] == "T"
    assert first["message"] == "connecting to https://mainnet.helius-rpc.com/?api-key=***"
    assert (first["venue"], first["attempt"]) == ("binance", 2)
    assert first["url"] == "https://mainnet.helius-rpc.com/?api-key=***"
    assert "OSError: connect https://mainnet.helius-rpc.com/?api-key=*** refused" in lines[2]["exc"]
    assert KEY not in out.getvalue()


def test_text_lines_are_redacted_too(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("text", "INFO", stream=out)
    logging.getLogger("connectors.solana.rpc").warning("slow %s", KEYED, extra={"url": KEYED})
    (line,) = out.getvalue().splitlines()
    assert line.endswith(
        "WARNING connectors.solana.rpc: slow https://mainnet.helius-rpc.com/?api-key=*** "
        "url=https://mainnet.helius-rpc.com/?api-key=***"
    )


def test_rpc_health_changes_are_logged_by_the_module_logger_without_the_key(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure_logging("json", "connectors.solana=INFO", stream=out)
    rpc_settings = load_settings(env={}).rpc.model_copy(update={"http": [KEYED], "ws": [KEYED]})
    rpc = SolanaRpc(rpc_settings)
    rpc._health("primary0", "down", f"POST {KEYED}: 503")
    (line,) = _lines(out)
    assert line["logger"] == "connectors.solana.rpc"
    assert (line["level"], line["source"], line["status"]) == ("INFO", "rpc:primary0", "down")
    masked = "https://mainnet.helius-rpc.com/?api-key=***"
    assert line["message"] == f"rpc:primary0 down: POST {masked}: 503"
    assert KEY not in out.getvalue()


def test_cli_takes_log_format_and_level_before_the_subcommand() -> None:
    args = build_parser().parse_args(
        ["--log-format", "json", "--log-level", "connectors.cex=DEBUG", "check"]
    )
    assert (args.log_format, args.log_level) == ("json", "connectors.cex=DEBUG")


def test_a_bad_log_level_is_one_error_line(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-level", "engine=LOUD", "check"]) == 2
    assert capsys.readouterr().err.startswith("error: --log-level 'engine=LOUD'")
