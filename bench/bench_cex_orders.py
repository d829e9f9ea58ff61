"""Bench: CEX order entry per venue.

- intent -> signed request bytes: `order_from_intent` (limit price and qty rounded to the
  market's filters, refusals checked) + the venue codec's `place` (params, JSON, HMAC / Ed25519
  signature, headers), p50/p99 per venue and key type;
- intent -> final order state on loopback: the same plus the async transport sending it to the
  simulated venue (signature and window checked, IOC matched) and, for OKX and Bybit whose
  placement answer is an ack only, the client-id query; p50/p99 per venue, and for Binance
  also over the WebSocket API (one kept-open socket).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from fractions import Fraction

import aiohttp

from connectors.cex.order_transport import OrderTransport, OrderTransportConfig
from connectors.cex.orders import binance, bybit, okx
from connectors.cex.orders.codec import OrderCodec
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


def _signing(codec: OrderCodec, creds: Credentials, filters: SymbolFilters,
             n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        spec = order_from_intent(filters, side="buy", size_base=1_500_000_000 + i,
                                 limit_quote=225_375_600, base_decimals=9, quote_decimals=6,
                                 tif="IOC", client_order_id=client_order_id(str(i), "buy"))
        codec.place(creds, filters, spec, 1_700_000_000_000 + i, 5000)
        out.append((time.perf_counter_ns() - t0) / 1e3)
    return out


async def _loopback(n: int) -> dict[str, list[float]]:
    sim = await start_venues(seed=3, frame_interval_s=3600.0)
    out: dict[str, list[float]] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for venue, symbol in (("binance", "SOLUSDC"), ("okx", "SOL-USDC"),
                                  ("bybit", "SOLUSDT")):
                sim.desk(venue).add_account(KEY, SECRET, passphrase=PASSPHRASE)
                # The bench measures latency, not rate limits: lift the loopback venue's (it
                # declares them to the client: Binance rateLimits, Bybit X-Bapi-Limit) and
                # OKX's locally counted windows.
                sim.desk(venue).limits = DeskLimits(*(10**9,) * 5)
                t = OrderTransport(venue, sim.rest_url(venue), session,
                                   Credentials(KEY, SECRET, passphrase=PASSPHRASE),
                                   config=OrderTransportConfig(settle_interval_s=0.0))
                t.windows = SlidingWindows.of(())
                await t.sync_time()
                f = await t.fetch_filters(symbol, "spot")
                px, qty = sim.sims[venue].feed(symbol).book.top(1)[1][0]
                times = []
                for i in range(n):
                    t0 = time.perf_counter_ns()
                    spec = order_from_intent(
                        f, side="buy", size_base=qty * 10**6, limit_quote=px * qty * 10,
                        base_decimals=9, quote_decimals=6, tif="IOC",
                        client_order_id=client_order_id(f"{venue}{i}", "buy"))
                    await t.place(f, spec)
                    times.append((time.perf_counter_ns() - t0) / 1e6)
                out[venue] = times
                if t.codec.ws_orders is not None:  # every venue's WS order entry
                    ws = WsOrderEntry(sim.trade_url(venue), session, t)
                    await ws.connect()
                    ws_times = []
                    for i in range(n):
                        t0 = time.perf_counter_ns()
                        spec = order_from_intent(
                            f, side="buy", size_base=qty * 10**6, limit_quote=px * qty * 10,
                            base_decimals=9, quote_decimals=6, tif="IOC",
                            client_order_id=client_order_id(f"ws{venue}{i}", "buy"))
                        await ws.place(f, spec)
                        ws_times.append((time.perf_counter_ns() - t0) / 1e6)
                    await ws.close()
                    out["binance_ws_api" if venue == "binance" else f"{venue}_ws"] = ws_times
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
