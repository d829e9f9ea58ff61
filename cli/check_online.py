"""`solarb check --online`: the daily preflight against the venues and the chain.

One line per check, `OK` or `FAIL`, with the measured value; any FAIL makes the exit code 1 and
makes `solarb live` refuse to start. Checks: risk caps sane, keychain reachable, each CEX
venue's clock against ours, each RPC's slot lag and latency, every feed (CEX streams, Solana
account feed) connected and in sync within `--within` s, the DEX markets verified against
the chain (`engine/verify.py`) and the CEX symbols against the venues' instrument lists (tick and
lot sizes equal to the order filters), and each configured CEX API key without withdraw
permission (connectors/cex/key_permissions.py; a key that can withdraw is red). The probes are
the production clients (REST client, RPC, live sources); nothing is sent but reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import orjson

from config import Settings
from operators.errors import SolarbError
from operators.events import HealthEvent

if TYPE_CHECKING:
    from sim.loopback import Loopback


@dataclass(frozen=True, slots=True)
class Check:
    """One preflight line: what was checked, whether it passed, and the measured value."""

    name: str
    ok: bool
    value: str

    def line(self) -> str:
        """`OK   name   value` / `FAIL name   value`."""
        return f"{'OK  ' if self.ok else 'FAIL'} {self.name:<28} {self.value}"


def check_risk(settings: Settings) -> list[Check]:
    """Risk caps loaded and mutually consistent; the config kill switch off."""
    r, t = settings.risk, settings.thresholds
    problems = []
    if r.kill_switch:
        problems.append("kill_switch = true")
    if r.max_notional_usd > r.max_notional_per_minute_usd:
        problems.append("max_notional_usd > max_notional_per_minute_usd")
    if r.max_notional_usd > r.max_exposure_usd:
        problems.append("max_notional_usd > max_exposure_usd")
    if r.max_spread_bps <= t.safety_margin_bps + t.min_net_bps:
        problems.append("max_spread_bps at or under the trigger: every signal would be refused")
    value = (
        f"{r.max_notional_usd} USD/trade, {r.max_notional_per_minute_usd} USD/min, exposure "
        f"{r.max_exposure_usd} USD, spread cap {r.max_spread_bps} bps"
    )
    return [Check("risk caps", not problems, "; ".join(problems) or value)]


def check_treasury(settings: Settings) -> list[Check]:
    """The treasury address for sweeps (validated at config load): shown, never a secret."""
    t = settings.dex_execution.treasury
    return [Check("treasury", True, t or "not set (no sweep destination configured)")]


def check_keychain(settings: Settings) -> list[Check]:
    """Every keychain entry the config names is present (values never shown)."""
    from cli.keys import keychain_report

    lines, ok = keychain_report(settings)
    entries = lines[1:]  # the first line names the backend
    missing = [line.split()[0] for line in entries if " MISSING" in line]
    value = f"missing: {', '.join(missing)}" if missing else f"{len(entries)} entries present"
    return [Check("keychain", ok, f"{value} ({lines[0].split('backend', 1)[-1].strip()})")]


def _cex_venues(settings: Settings) -> list[str]:
    from connectors import venues

    return sorted(
        {
            m.venue
            for p in settings.pairs
            for m in p.markets
            if venues.is_cex(m.venue) and settings.venues[m.venue].enabled
        }
    )


async def _clocks(settings: Settings, timeout_s: float) -> list[Check]:
    from connectors.cex.rest import RestClient
    from connectors.secrets import resolve_url

    out = []
    cap_ms = settings.risk.max_clock_drift_ms
    async with aiohttp.ClientSession() as session:
        for venue in _cex_venues(settings):
            url = resolve_url(settings.venues[venue].rest_url or "")
            try:
                off_ns = await asyncio.wait_for(
                    RestClient(venue, url, session).sync_time(), timeout_s
                )
            except (SolarbError, TimeoutError, aiohttp.ClientError) as exc:
                out.append(Check(f"clock {venue}", False, f"server time unavailable: {exc!r}"))
                continue
            off_ms = off_ns / 1e6
            out.append(
                Check(f"clock {venue}", abs(off_ms) <= cap_ms, f"{off_ms:+.0f} ms (cap {cap_ms})")
            )
    return out


async def _symbols(settings: Settings, timeout_s: float) -> list[Check]:
    """Every CEX symbol listed by its venue (exchangeInfo / instruments), with the configured
    tick and lot sizes equal to the venue's filters."""
    from decimal import Decimal

    from connectors import venues
    from connectors.cex.order_transport import INFO_REQUESTS
    from connectors.secrets import resolve_url

    out = []
    async with aiohttp.ClientSession() as session:
        for pair in settings.pairs:
            for m in pair.markets:
                codec = venues.cex(m.venue).orders if venues.is_cex(m.venue) else None
                if codec is None or not settings.venues[m.venue].enabled:
                    continue
                name = f"symbol {m.venue}:{m.symbol}"
                url = resolve_url(settings.venues[m.venue].rest_url or "").rstrip("/")
                try:
                    async with session.get(
                        url + INFO_REQUESTS[m.venue](m.symbol, m.market),
                        timeout=aiohttp.ClientTimeout(total=timeout_s),
                    ) as resp:
                        body = await resp.read()
                    f = codec.parse_filters(body, m.symbol, m.market)
                except (SolarbError, TimeoutError, aiohttp.ClientError) as exc:
                    out.append(Check(name, False, str(exc) or repr(exc)))
                    continue
                tick = Decimal(f.tick_units).scaleb(-f.price_decimals)
                lot = Decimal(f.step_units).scaleb(-f.qty_decimals)
                wrong = [
                    f"{what} {mine} in the markets file, {theirs} at the venue"
                    for what, mine, theirs in (("tick_size", m.tick_size, tick),
                                               ("lot_size", m.lot_size, lot))
                    if mine is not None and mine != theirs
                ]
                out.append(Check(name, not wrong,
                                 "; ".join(wrong) or f"listed, tick {tick}, lot {lot}"))
    return out


async def key_permission_checks(settings: Settings, timeout_s: float) -> list[Check]:
    """Every configured CEX API key: no withdraw permission (the venue's own answer)."""
    from connectors.cex import key_permissions
    from connectors.cex.orders.keys import load_credentials
    from connectors.secrets import resolve_url

    out = []
    async with aiohttp.ClientSession() as session:
        for venue in _cex_venues(settings):
            v = settings.venues[venue]
            if v.api_key is None:
                continue  # market data only: no key, nothing that could withdraw
            name = f"key {venue}"
            if not key_permissions.supported(venue):
                out.append(Check(name, False, "permission check not built for this venue: "
                                              "cannot prove the key cannot withdraw"))
                continue
            try:
                creds = load_credentials(venue, v)
                req = key_permissions.request_for(
                    venue, creds, time.time_ns() // 1_000_000, v.recv_window_ms
                )
                url = resolve_url(v.rest_url or "").rstrip("/") + f"{req.path}?{req.query}"
                async with session.request(
                    req.method, url, headers=dict(req.headers),
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as resp:
                    body, status = await resp.read(), resp.status
                # a refusal (bad signature, unknown key) is a ConfigError with the venue's words
                perm = key_permissions.parse(venue, body, status)
            except (SolarbError, TimeoutError, aiohttp.ClientError) as exc:
                out.append(Check(name, False, str(exc) or repr(exc)))
                continue
            ip = "IP-restricted" if perm.ip_restricted else "NOT IP-restricted"
            if perm.can_withdraw:
                out.append(Check(name, False, f"CAN WITHDRAW: refuse to trade with it ({ip})"))
            else:
                trade = "can trade" if perm.can_trade else "CANNOT trade"
                out.append(Check(name, perm.can_trade, f"no withdraw, {trade}, {ip}"))
    return out


def register_loopback_keys(loop: Loopback, settings: Settings) -> None:
    """Have the loopback venues accept the keychain's keys (no withdraw), as a real account
    would: the dev preflight then proves the signing and the permission path end to end."""
    from connectors.cex import key_permissions
    from connectors.cex.orders.keys import load_credentials
    from connectors.secrets import resolve_secret

    if loop.venues is None:
        return
    for venue in _cex_venues(settings):
        v = settings.venues[venue]
        if v.api_key is None or v.api_secret is None or not key_permissions.supported(venue):
            continue
        try:
            creds = load_credentials(venue, v)
        except SolarbError:
            continue  # the keychain check reports the missing entry; nothing to register
        loop.venues.venues.desk(venue).add_account(
            creds.api_key, resolve_secret(v.api_secret),
            passphrase=creds.passphrase)


async def _rpcs(settings: Settings, timeout_s: float) -> list[Check]:
    from connectors.redact import redact_url
    from connectors.secrets import resolve_rpc

    rpc = resolve_rpc(settings.rpc)
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": [{"commitment": rpc.commitment}]}
    )
    results: list[tuple[str, int | None, float, str]] = []
    async with aiohttp.ClientSession() as session:
        for url in rpc.http:
            t0 = time.perf_counter()
            try:
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as resp:
                    doc = orjson.loads(await resp.read())
                slot, err = int(doc["result"]), ""
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                slot, err = None, repr(exc)
            results.append((redact_url(url), slot, (time.perf_counter() - t0) * 1e3, err))
    top = max((s for _, s, _, _ in results if s is not None), default=0)
    out = []
    for name, slot, ms, err in results:
        if slot is None:
            out.append(Check(f"rpc {name}", False, f"unreachable: {err}"))
            continue
        lag = top - slot
        ok = lag <= settings.risk.max_slot_lag
        out.append(Check(f"rpc {name}", ok, f"slot {slot}, lag {lag}, {ms:.0f} ms"))
    return out


def check_feeds(settings: Settings, within_s: float) -> list[Check]:
    """Every live feed partition (CEX streams, Solana account feed) reports `up` within N s."""
    from engine.live_inputs import account_source, cex_sources

    parts: dict[str, object] = {}
    for src in cex_sources(settings):
        for name in src.list_parts():
            parts[f"feed {src.venue}:{src.market}"] = src.build_part("check", name, None)
    acc = account_source(settings)
    if acc is not None:
        source, _watcher = acc
        for name in source.list_parts():
            parts["feed solana:accounts"] = source.build_part("check", name, None)
    t0 = time.monotonic()
    up_at: dict[str, float] = {}
    last: dict[str, str] = {}
    try:
        while len(up_at) < len(parts) and time.monotonic() - t0 < within_s:
            for key, part in parts.items():
                if key in up_at:
                    continue
                for item in part.next_batch():  # type: ignore[attr-defined]
                    if isinstance(item, HealthEvent):
                        last[key] = f"{item.status}: {item.detail}"
                        if item.status == "up":
                            up_at[key] = time.monotonic() - t0
            time.sleep(0.01)
    finally:
        for part in parts.values():
            part.close()  # type: ignore[attr-defined]
    return [
        Check(key, True, f"up and in sync after {up_at[key]:.2f} s")
        if key in up_at
        else Check(key, False, f"not up within {within_s:g} s (last: {last.get(key, 'nothing')})")
        for key in parts
    ]


def check_markets(settings: Settings) -> list[Check]:
    """Every DEX market's accounts match the markets file (engine/verify.py)."""
    from engine.verify import rpc_fetch, verify_dex_markets

    try:
        n = verify_dex_markets(settings, rpc_fetch(settings))
    except SolarbError as exc:
        return [Check("markets on chain", False, str(exc))]
    return [Check("markets on chain", True, f"{n} DEX market(s) verified")]


def run_online_checks(
    settings: Settings,
    *,
    within_s: float = 10.0,
    timeout_s: float = 5.0,
    emit: Callable[[str], None] = print,
) -> bool:
    """Run every check, printing one line each; True when all are green."""
    checks: list[Check] = []

    def add(new: list[Check]) -> None:
        for c in new:
            emit(c.line())
        checks.extend(new)

    add(check_risk(settings))
    add(check_keychain(settings))
    add(check_treasury(settings))
    add(asyncio.run(_clocks(settings, timeout_s)))
    add(asyncio.run(_rpcs(settings, timeout_s)))
    add(check_markets(settings))
    add(asyncio.run(_symbols(settings, timeout_s)))
    add(asyncio.run(key_permission_checks(settings, timeout_s)))
    add(check_feeds(settings, within_s))
    bad = [c.name for c in checks if not c.ok]
    emit(f"{'GREEN' if not bad else 'RED'}: {len(checks) - len(bad)}/{len(checks)} checks passed"
         + (f"; failing: {', '.join(bad)}" if bad else ""))
    return not bad
