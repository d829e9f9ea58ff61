"""Bench: CEX order entry per venue.

- intent -> signed request bytes: `order_from_intent` (limit price and qty rounded to the
  market's filters, refusals checked) + the venue codec's `place` (params, JSON, HMAC / Ed25519
  signature, headers), p50/p99 per venue and key type; for USD-M the WS API frame too (HMAC
  signed, or an Ed25519 session's unsigned frame);
- intent -> final order state on loopback: the same plus the async transport sending it to the
  simulated venue (signature and window checked, IOC matched) and, for OKX and Bybit whose
  placement answer is an ack only, the client-id query; p50/p99 per venue (Binance spot,
  Binance USD-M perps, OKX, Bybit), and for each also over its WS order entry (one kept-open,
  logged-in socket); USD-M over its futures WS API with an HMAC key (every order signed) and
  with an Ed25519 key (`session.logon` once, orders unsigned).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from fractions import Fraction

import aiohttp

from connectors.cex.order_transport import OrderTransport, OrderTransportConfig
from connectors.cex.orders import binance, bybit, okx
from connectors.cex.orders.codec import OrderCodec, WsOrderCodec
from connectors.cex.orders.common import Credentials, SymbolFilters, order_from_intent
from connectors.cex.orders.ids import client_order_id
from connectors.cex.orders.limits import SlidingWindows
from connectors.cex.ws_orders import WsOrderEntry
from sim.cex_orders import DeskLimits
from sim.cex_venues import start_venues

ED25519_PEM = (b"-----BEGIN PRIVATE KEY-----\n"
               b"MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n"
               b"-----END PRIVATE KEY-----\n")
"""Binance's published illustrative Ed25519 test key (fix-api.md), never a real one."""
KEY, SECRET, PASSPHRASE = "bench-key", "bench-secret", "bench-pass"


def _filters(venue: str, symbol: str, market: str) -> SymbolFilters:
    return SymbolFilters(venue=venue, symbol=symbol, market=market,  # type: ignore[arg-type]
                         price_decimals=2, tick_units=1, qty_decimals=3, step_units=1,
                         min_qty_units=1, min_notional_units=100_000, base_per_qty=Fraction(1))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _signing(codec: OrderCodec | WsOrderCodec | None, creds: Credentials,
             filters: SymbolFilters, n: int) -> list[float]:
    assert codec is not None
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        spec = order_from_intent(filters, side="buy", size_base=1_500_000_000 + i,
                                 limit_quote=225_375_600, base_decimals=9, quote_decimals=6,
                                 tif="IOC", client_order_id=client_order_id(str(i), "buy"))
        codec.place(creds, filters, spec, 1_700_000_000_000 + i, 5000)
        out.append((time.perf_counter_ns() - t0) / 1e3)
    return out


async def _timed(place, f: SymbolFilters, px: int, qty: int, tag: str,  # type: ignore[no-untyped-def]
                 n: int) -> list[float]:
    """ms from intent to final state of `n` IOC buys at the best ask via `place`."""
    times = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        spec = order_from_intent(
            f, side="buy", size_base=qty * 10**9 // 10**f.qty_decimals,
            limit_quote=px * qty * 10, base_decimals=9, quote_decimals=6, tif="IOC",
            client_order_id=client_order_id(f"{tag}{i}", "buy"))
        await place(f, spec)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times


async def _loopback(n: int) -> dict[str, list[float]]:
    sim = await start_venues(seed=3, frame_interval_s=3600.0)
    out: dict[str, list[float]] = {}
    hmac_creds = Credentials(KEY, SECRET, passphrase=PASSPHRASE)
    ed_creds = Credentials("bench-ed-key", ed25519_pem=ED25519_PEM)
    cases = [("binance", "SOLUSDC", "spot", hmac_creds, "binance"),
             ("binance-usdm", "SOLUSDT", "perp", hmac_creds, "binance_usdm"),
             ("binance-usdm", "SOLUSDT", "perp", ed_creds, "binance_usdm_ed25519"),
             ("okx", "SOL-USDC", "spot", hmac_creds, "okx"),
             ("bybit", "SOLUSDT", "spot", hmac_creds, "bybit")]
    try:
        async with aiohttp.ClientSession() as session:
            for venue, symbol, market, creds, label in cases:
                desk = sim.desk(venue)
                desk.add_account(KEY, SECRET, passphrase=PASSPHRASE)
                desk.add_account("bench-ed-key", ed25519_pem=ED25519_PEM)
                # The bench measures latency, not rate limits: lift the loopback venue's (it
                # declares them to the client: Binance rateLimits, Bybit X-Bapi-Limit) and
                # OKX's locally counted windows.
                desk.limits = DeskLimits(*(10**9,) * 5)
                t = OrderTransport(venue, sim.rest_url(venue), session, creds,
                                   config=OrderTransportConfig(settle_interval_s=0.0))
                t.windows = SlidingWindows.of(())
                await t.sync_time()
                f = await t.fetch_filters(symbol, market)
                px, qty = sim.sims[venue].feed(symbol).book.top(1)[1][0]
                if creds is hmac_creds:
                    out[label] = await _timed(t.place, f, px, qty, f"{label}", n)
                if t.codec.ws_orders is not None:  # every venue's WS order entry
                    ws = WsOrderEntry(sim.trade_url(venue), session, t)
                    await ws.connect()
                    ws_label = "binance_ws_api" if label == "binance" else f"{label}_ws"
                    if label.endswith("_ed25519"):
                        ws_label = label.replace("_ed25519", "_ws_ed25519")
                    out[ws_label] = await _timed(ws.place, f, px, qty, f"ws{label}", n)
                    await ws.close()
    finally:
        await sim.stop()
    return out


def run(quick: bool = False) -> list[dict[str, object]]:
    """Run the order-entry bench; quick=True takes about a second."""
    n = 500 if quick else 20_000
    hmac_creds = Credentials(KEY, SECRET, passphrase=PASSPHRASE)
    ed_creds = Credentials(KEY, ed25519_pem=ED25519_PEM)
    cases = [
        ("binance_hmac", binance.SPOT, hmac_creds, _filters("binance", "SOLUSDC", "spot")),
        ("binance_ed25519", binance.SPOT, ed_creds, _filters("binance", "SOLUSDC", "spot")),
        ("binance_usdm_ws_hmac", binance.USDM.ws_orders, hmac_creds,
         _filters("binance-usdm", "SOLUSDT", "perp")),
        ("binance_usdm_ws_ed25519_session", binance.USDM.ws_orders, ed_creds,
         _filters("binance-usdm", "SOLUSDT", "perp")),
        ("okx", okx.OKX, hmac_creds, _filters("okx", "SOL-USDC", "spot")),
        ("bybit", bybit.BYBIT, hmac_creds, _filters("bybit", "SOLUSDT", "spot")),
    ]
    rows: list[dict[str, object]] = []
    for name, codec, creds, filters in cases:
        us = _signing(codec, creds, filters, n)
        note = f"{n} intents -> rounded spec -> signed request"
        rows.append({"name": f"cex_order_sign_{name}_p50", "value": statistics.median(us),
                     "unit": "us", "target": "<= 200 us", "better": "lower", "note": note})
        rows.append({"name": f"cex_order_sign_{name}_p99", "value": _pct(us, 0.99),
                     "unit": "us", "target": "<= 200 us", "better": "lower", "note": note})
    loop = asyncio.run(_loopback(50 if quick else 500))
    for venue, ms in loop.items():
        note = (f"{len(ms)} IOC orders on loopback ({'WS' if 'ws' in venue else 'REST'}), "
                "answer + (OKX/Bybit) client-id query")
        rows.append({"name": f"cex_order_{venue}_intent_to_final_p50",
                     "value": statistics.median(ms), "unit": "ms", "target": "<= 5 ms",
                     "better": "lower", "note": note})
        rows.append({"name": f"cex_order_{venue}_intent_to_final_p99", "value": _pct(ms, 0.99),
                     "unit": "ms", "target": "<= 5 ms", "better": "lower", "note": note})
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
