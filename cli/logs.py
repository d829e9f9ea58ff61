"""Structured logs for the `solarb` CLI: stdlib `logging`, text or JSON lines, per-module levels.

`--log-format json` writes one JSON object per line (`ts`, `level`, `logger`, `message`, then
any `extra=` fields, and `exc` for a traceback) so a log shipper needs no parsing rules;
`--log-format text` writes one readable line. `--log-level connectors.cex=DEBUG,engine=INFO`
sets levels per logger (loggers are module names, so a package prefix covers its modules); a
bare level (`DEBUG`) sets the root. The default is WARNING at the root, so a run's stdout
summary stays what it was and stderr carries only what needs attention.

Both formatters pass every string they emit through `connectors.redact.redact_text`: a record
that quotes an RPC URL with its API key (in the message, an argument, an extra field or a
traceback) is written with the key masked. That is the formatter's job, not each call site's,
so no log call can forget it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from connectors.redact import redact_text
from operators.errors import ConfigError

FORMATS = ("text", "json")
DEFAULT_ROOT_LEVEL = logging.WARNING
_HANDLER_NAME = "solarb-cli"
# attributes every LogRecord has; anything else on a record came from `extra=`
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _iso_utc(created_s: float) -> str:
    ms = int(created_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created_s)) + f".{ms:03d}Z"


def _clean(value: Any) -> Any:
    # strings (and anything that will be written as one) are redacted; numbers and bools kept
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC ISO-8601, ms), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON, every string redacted."""
        out: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = _clean(value)
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`<ts> <LEVEL> <logger>: <message> key=value ...`, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line (plus a traceback if any), redacted."""
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{_iso_utc(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_text(line)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (not when installed), so a
    handler installed under a redirected stderr (a test's capture) never writes to a closed
    stream later."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _level(name: str, where: str) -> int:
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"--log-level {where!r}: {name.strip()!r} is not a level "
            "(DEBUG, INFO, WARNING, ERROR, CRITICAL)"
        )
    return level


def parse_levels(spec: str | None) -> dict[str, int]:
    """`connectors.cex=DEBUG,engine=INFO` -> {logger: level}; a bare level is the root (`""`)."""
    levels: dict[str, int] = {}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        name, eq, lvl = item.partition("=")
        if not eq:
            levels[""] = _level(name, item)
            continue
        logger = name.strip()
        if not logger:
            raise ConfigError(f"--log-level {item!r}: missing the logger name before '='")
        levels[logger] = _level(lvl, item)
    return levels


def configure_logging(
    fmt: str = "text", levels: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Install the CLI's log handler on the root logger (replacing an earlier one of ours)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--log-format {fmt!r}: use one of {', '.join(FORMATS)}")
    parsed = parse_levels(levels)
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(parsed.pop("", DEFAULT_ROOT_LEVEL))
    for name, level in parsed.items():
        logging.getLogger(name).setLevel(level)
    return handler
