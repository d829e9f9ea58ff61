"""Mask credentials in URLs before a URL reaches a log line, an error, a health event or a file.

Paid RPC providers put the API key in the URL (`?api-key=...`, `/v2/<key>`, `user:pass@`), so
any text that may carry an endpoint URL goes through `redact_text` (or `redact_url` for a bare
URL) at the point where it leaves the transport. `redact_url` is the one place that decides what
looks like a credential.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = frozenset(
    {
        "api-key", "api_key", "apikey", "key", "token", "access_token", "auth", "authorization",
        "secret", "password", "pass", "signature", "sig", "x-api-key", "client_secret",
    }
)  # fmt: skip
"""Query parameter names (lower-case) whose value is always masked."""
_SECRET_WORDS = ("key", "token", "secret", "auth", "pass", "sig")
"""A parameter whose name contains one of these is masked too (`x-token`, `apiKeyId`)."""
_TOKEN_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{20,}$")
"""A path segment this long of token characters is a key (`/v2/<key>`, `/<uuid-ish>`)."""
_HAS_DIGIT = re.compile(r"\d")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},;]+")


def _secret_param(name: str) -> bool:
    n = name.lower()
    return n in SECRET_PARAMS or any(w in n for w in _SECRET_WORDS)


def _secret_segment(seg: str) -> bool:
    # long and mixed with digits: a key or uuid, not a word like `solana-mainnet-rpc-endpoint`
    return bool(_TOKEN_SEGMENT.match(seg)) and bool(_HAS_DIGIT.search(seg))


def _redact_param(param: str) -> str:
    # non-secret parameters keep their exact spelling (no re-encoding)
    name, eq, _value = param.partition("=")
    if not eq:
        return MASK if _secret_segment(name) else param  # `?<key>` with no name
    return f"{name}={MASK}" if _secret_param(unquote_plus(name)) else param


def redact_url(url: str) -> str:
    """`url` with user:password, credential-like query values and token-like path parts masked."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return MASK  # unparseable: show nothing rather than risk the key
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    path = "/".join(MASK if _secret_segment(s) else s for s in parts.path.split("/"))
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    fragment = MASK if parts.fragment else ""
    return urlunsplit(SplitResult(parts.scheme, netloc, path, query, fragment))


_QUERY_IN_TEXT = re.compile(r"([?&])([A-Za-z0-9_.\-%]+)=([^&\s'\"<>#\\()\[\]{},;]+)")
"""A `?name=value` / `&name=value` pair outside a full URL: a request line (`POST /?api-key=..
HTTP/1.1`, as HTTP libraries log it) or a relative URL."""


def redact_text(text: str) -> str:
    """`text` with every URL in it passed through `redact_url` (errors, health details), and
    every credential-like query parameter left outside a full URL masked too."""
    return _QUERY_IN_TEXT.sub(_redact_pair, _URL_IN_TEXT.sub(_redact_match, text))


def _redact_pair(m: re.Match[str]) -> str:
    sep, name, value = m.group(1), m.group(2), m.group(3)
    if value.startswith(MASK) or not _secret_param(unquote_plus(name)):
        return m.group(0)
    return f"{sep}{name}={MASK}"


def _redact_match(m: re.Match[str]) -> str:
    # sentence punctuation right after a URL ("<url>: refused") belongs to the text
    url = m.group(0).rstrip(".:!?")
    return redact_url(url) + m.group(0)[len(url) :]
