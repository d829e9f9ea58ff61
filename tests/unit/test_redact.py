"""`redact_url` masks every credential-like part of an endpoint URL, and only those."""

from __future__ import annotations

import pytest

from connectors.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://mainnet.helius-rpc.com/?api-key=SECRET123", "https://mainnet.helius-rpc.com/?api-key=***"),
        ("https://rpc.example.com/?apikey=S1&commitment=confirmed", "https://rpc.example.com/?apikey=***&commitment=confirmed"),
        ("https://rpc.example.com/?token=S1", "https://rpc.example.com/?token=***"),
        ("https://rpc.example.com/?key=S1", "https://rpc.example.com/?key=***"),
        ("https://rpc.example.com/?client_secret=S1", "https://rpc.example.com/?client_secret=***"),
        ("https://rpc.example.com/?auth=S1", "https://rpc.example.com/?auth=***"),
        ("https://rpc.example.com/?x-access-token=S1", "https://rpc.example.com/?x-access-token=***"),
        ("https://user:hunter2@rpc.example.com:8899/", "https://***@rpc.example.com:8899/"),
        ("https://solana-mainnet.g.alchemy.com/v2/AbCdEf1234567890XyZ12345", "https://solana-mainnet.g.alchemy.com/v2/***"),
        ("https://rpc.example.com/3f2a9c1e-7b4d-4e0a-9a55-0c6f1d2e3b4a/", "https://rpc.example.com/***/"),
        ("wss://api.mainnet-beta.solana.com", "wss://api.mainnet-beta.solana.com"),
        ("https://solana-rpc.publicnode.com/solana-mainnet-endpoint", "https://solana-rpc.publicnode.com/solana-mainnet-endpoint"),
        ("http://127.0.0.1:8899/", "http://127.0.0.1:8899/"),
        ("wss://stream.binance.com:9443/stream?streams=solusdc@depth@100ms", "wss://stream.binance.com:9443/stream?streams=solusdc@depth@100ms"),
        ("https://rpc.example.com/?AbCdEf1234567890XyZ12345", "https://rpc.example.com/?***"),
        ("http://127.0.0.1:notaport/?api-key=S1", "***"),
    ],
)  # fmt: skip
def test_redact_url_masks_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_every_url_inside_an_error_message() -> None:
    text = (
        "ClientConnectorError: Cannot connect to URL('http://u:p@127.0.0.1:1/?api-key=SECRET123') "
        "after wss://x.example.com/?token=T0KEN; retry. ws://h/?key=K: refused"
    )
    assert redact_text(text) == (
        "ClientConnectorError: Cannot connect to URL('http://***@127.0.0.1:1/?api-key=***') "
        "after wss://x.example.com/?token=***; retry. ws://h/?key=***: refused"
    )


def test_a_key_in_a_request_line_without_scheme_is_masked() -> None:
    """HTTP libraries log `POST /?api-key=... HTTP/1.1` (no scheme, no host): found by the
    secrets test on the stand-in's access log and the websockets client's DEBUG lines."""
    assert redact_text('"POST /?api-key=tok3n HTTP/1.1" 200') == '"POST /?api-key=*** HTTP/1.1" 200'
    assert redact_text("> GET /v1?x=1&token=abc HTTP/1.1") == "> GET /v1?x=1&token=*** HTTP/1.1"
    assert redact_text("GET /api/v3/depth?symbol=SOLUSDC&limit=100") == (
        "GET /api/v3/depth?symbol=SOLUSDC&limit=100")
