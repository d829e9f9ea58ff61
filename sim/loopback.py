"""The loopback world: simulated CEX venues + a Solana RPC stand-in, for `--loopback` runs.

Dev tooling, never imported by production code (only the CLI's `--loopback` entry points and
tests). It starts the loopback CEX venue simulators (sim/cex_venues.py: Binance, Binance USD-M,
OKX, Bybit on 127.0.0.1, every book centred on 150.00) and a Solana RPC stand-in
(sim/standin.py) holding the simulated SOL/USDC Whirlpool of sim/simulate.py (`SimPool`: pool +
tick arrays at 150) at each configured Orca pool address, then points the config's venue URLs and
RPC endpoints at them. A small scenario thread moves the pool `jump_bps` below the CEX books every
few seconds and back, so a paper run shows opportunities and fills. It is a SOL/USDC-shaped world:
every CEX symbol is served at 150.

For live trading (`solarb live --loopback`) `rpcs=2` starts two stand-ins holding the same
accounts (the sender broadcasts every swap to both; each executes it, so they stay alike), the
pools' vaults are funded, and `trading()` funds a fresh wallet and registers fresh API keys on
the venues (in memory only: nothing reaches the OS keychain). `start_faults()` injects the
venues' faults on a schedule: CEX rejects, timeouts after accept and user-stream drops, dropped
and failed Solana transactions; partial fills come from the IOC limits against the books.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from solders.keypair import Keypair

from config import Settings, load_settings
from connectors import venues as venue_registry
from connectors.cex.orders.common import Credentials
from connectors.keypair import Signer
from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID as ORCA
from connectors.solana.programs import associated_token_address
from operators.errors import ConfigError
from sim.cex_private import PRIVATE_PATHS, TRADE_PATHS
from sim.cex_venues import ThreadedVenues, start_venues_in_thread
from sim.dex_exec import encode_token_account
from sim.simulate import MINT_DECIMALS, SPL_TOKEN_PROGRAM, USDC_MINT, sample_pubkey, spl_mint_bytes
from sim.standin import SolanaStandIn

POOL_LAMPORTS = 5_435_760
"""Rent-exempt-looking balance for the simulated accounts (the stand-in only stores it)."""
CEX_VENUES = ("binance", "binance-usdm", "okx", "bybit")
TOKEN_RENT = 2_039_280
DEEP = 10**15
"""Token balance of the simulated vaults and of the trading wallet (base units)."""
WALLET_LAMPORTS = 10**12


@dataclass(frozen=True)
class LoopbackTrading:
    """A funded test wallet and API keys the loopback venues accept (memory only)."""

    signer: Signer
    credentials: dict[str, Credentials]


class Loopback:
    """Loopback CEX venues + a Solana stand-in with the simulated pool(s); stop() in finally."""

    def __init__(
        self,
        pools: list[str],
        *,
        seed: int = 0,
        frame_interval_s: float = 0.01,
        slot_interval_s: float = 0.4,
        rpcs: int = 1,
    ) -> None:
        from sim.simulate import SimConfig, SimPool

        self.seed = seed
        self.frame_interval_s = frame_interval_s
        self.slot_interval_s = slot_interval_s
        self.sim_pools = {addr: SimPool(SimConfig(), addr) for addr in pools}
        self.venues: ThreadedVenues | None = None
        self.standin: SolanaStandIn | None = None
        self.standins: list[SolanaStandIn] = []
        self.rpcs = rpcs
        self._scenario: threading.Thread | None = None
        self._faults: threading.Thread | None = None
        self.faults_injected: dict[str, int] = {}
        self._stop = threading.Event()

    def start(self) -> Loopback:
        """Start the venue simulators and the stand-in (loaded with every pool's accounts)."""
        try:
            self.venues = start_venues_in_thread(
                seed=self.seed, frame_interval_s=self.frame_interval_s
            )
            for i in range(self.rpcs):
                node = SolanaStandIn(name="loopback" if i == 0 else f"loopback{i}")
                self.standins.append(node)
                if i == 0:
                    self.standin = node
                for mint, decimals in MINT_DECIMALS.items():  # markets are verified at start-up
                    node.set_account(mint, spl_mint_bytes(decimals), SPL_TOKEN_PROGRAM, 1)
                for addr, pool in self.sim_pools.items():
                    for key, data in pool.tick_arrays():
                        node.set_account(key, data, ORCA, POOL_LAMPORTS)
                    node.set_account(addr, pool.account_bytes(), ORCA, POOL_LAMPORTS)
                    for label, mint in ((pool.spec.vault_a_label, pool.spec.base_mint),
                                        (pool.spec.vault_b_label, USDC_MINT)):  # fmt: skip
                        vault = encode_token_account(mint, addr, DEEP)
                        node.set_account(sample_pubkey(label), vault, SPL_TOKEN_PROGRAM, TOKEN_RENT)
                node.start_in_thread(auto_advance_s=self.slot_interval_s)
        except BaseException:
            self.stop()
            raise
        return self

    def cex_mid(self) -> Decimal:
        """The price every simulated CEX book is centred on (quote per base)."""
        if self.venues is None:
            raise ConfigError("loopback not started")
        feed = self.venues.venues.feed("binance", "SOLUSDC")  # every feed shares the centre
        return Decimal(feed.book.mid_ticks).scaleb(-feed.px_dec)

    def env(self, *, ws_orders: bool = False) -> dict[str, str]:
        """`SOLARB__...` overrides pointing every CEX venue and the RPC at the loopback
        (`ws_orders`: every venue's orders over its WS order entry, `order_ws_url`)."""
        if self.venues is None or self.standin is None:
            raise ConfigError("loopback not started")
        v = self.venues.venues
        out = {}
        for venue in CEX_VENUES:
            key = f"SOLARB__VENUES__{venue.upper()}"
            out[f"{key}__WS_URL"] = json.dumps(v.ws_url(venue, "spot"))
            out[f"{key}__REST_URL"] = json.dumps(v.rest_url(venue))
            if venue in PRIVATE_PATHS:
                out[f"{key}__PRIVATE_WS_URL"] = json.dumps(v.private_url(venue))
            if ws_orders and venue in TRADE_PATHS:
                out[f"{key}__ORDER_WS_URL"] = json.dumps(v.trade_url(venue))
        # a provider token in the RPC URLs, as paid endpoints carry one (the secrets test)
        token = os.environ.get("SOLARB_LOOPBACK_RPC_TOKEN", "")
        tail = f"?api-key={token}" if token else ""
        out["SOLARB__RPC__HTTP"] = json.dumps([n.http_url + tail for n in self.standins])
        out["SOLARB__RPC__WS"] = json.dumps([n.ws_url + tail for n in self.standins])
        out["SOLARB__RPC__FAILOVER_HTTP"] = '""'  # no public failover: 127.0.0.1 only
        out["SOLARB__RPC__FAILOVER_WS"] = '""'
        return out

    def settings(
        self, config: str | Path | None = None, markets: str | Path | None = None, *,
        ws_orders: bool = False,
    ) -> Settings:
        """The config at `config`/`markets` with every venue URL and RPC endpoint on loopback
        (`ws_orders`: orders over each venue's WS order entry)."""
        return load_settings(config, markets, env={**os.environ, **self.env(ws_orders=ws_orders)})

    def move_pool(self, price: float, address: str | None = None) -> int:
        """Write the pool account at `price` (quote per base) as a new slot; returns the slot."""
        if self.standin is None:
            raise ConfigError("loopback not started")
        addr = address or next(iter(self.sim_pools))
        pool = self.sim_pools[addr]
        pool.move_to(price)
        slots = [n.set_account(addr, pool.account_bytes(), ORCA, POOL_LAMPORTS)
                 for n in self.standins]  # fmt: skip
        return slots[0]

    def trading(self, settings: Settings) -> LoopbackTrading:
        """A fresh funded wallet on every stand-in and fresh API keys on every CEX venue."""
        if self.venues is None or not self.standins:
            raise ConfigError("loopback not started")
        kp = Keypair()
        owner = kp.pubkey()
        mints = {pool.spec.base_mint for pool in self.sim_pools.values()} | {USDC_MINT}
        for node in self.standins:
            node.svm.airdrop(owner, WALLET_LAMPORTS)
            for mint in sorted(mints):
                ata = str(associated_token_address(owner, mint))
                node.set_account(ata, encode_token_account(mint, str(owner), DEEP),
                                 SPL_TOKEN_PROGRAM, TOKEN_RENT)  # fmt: skip
        creds: dict[str, Credentials] = {}
        for venue in sorted({m.venue for p in settings.pairs for m in (*p.markets, *p.hedges)}):
            if not venue_registry.is_cex(venue):
                continue
            key, secret = "lb" + secrets.token_hex(8), secrets.token_hex(16)
            codec = venue_registry.cex(venue).orders
            passphrase = "lb-pass" if codec is not None and codec.needs_passphrase else ""
            for vid in (venue, *venue_registry.cex(venue).market_sources.values()):
                self.venues.venues.desk(vid).add_account(key, secret, passphrase=passphrase)
            creds[venue] = Credentials(key, secret, passphrase=passphrase)
        return LoopbackTrading(Signer(kp), creds)

    def start_faults(self, every_s: float = 1.5, first_after_s: float = 1.0) -> None:
        """Inject one fault every `every_s`, cycling through the venues' fault kinds."""
        if self.venues is None or not self.standins:
            raise ConfigError("loopback not started")
        v = self.venues.venues
        nodes = self.standins

        def fail_swap() -> None:
            for n in nodes:  # every node: the same bytes fail alike everywhere
                n.fail_next_swap(6036, "AmountOutBelowMinimum")

        kinds: list[tuple[str, Callable[[], None]]] = [
            ("cex_reject", lambda: v.desk("binance").inject("reject")),
            ("cex_timeout_after_accept",
             lambda: v.desk("binance").inject("timeout_after_accept", seconds=1.0)),
            ("dex_dropped_send", lambda: nodes[0].drop_sends(1)),
            ("dex_failed_swap", fail_swap),
            ("user_stream_drop", self._drop_user_streams),
        ]  # fmt: skip

        def run() -> None:
            i = 0
            wait = first_after_s
            while not self._stop.wait(wait):
                name, inject = kinds[i % len(kinds)]
                inject()
                self.faults_injected[name] = self.faults_injected.get(name, 0) + 1
                i += 1
                wait = every_s

        self._faults = threading.Thread(target=run, name="loopback-faults", daemon=True)
        self._faults.start()

    def _drop_user_streams(self) -> None:
        if self.venues is None:
            return
        tv = self.venues
        for venue in CEX_VENUES:
            hub = tv.venues.sims[venue].private
            asyncio.run_coroutine_threadsafe(hub.disconnect(), tv._loop)

    def start_scenario(
        self, jump_bps: float, every_s: float = 4.0, first_after_s: float = 2.0, hold_s: float = 1.5
    ) -> None:
        """Every `every_s`: move the pools `jump_bps` off the CEX mid, rewrite, then move back."""
        mid = float(self.cex_mid())

        def run() -> None:
            wait = first_after_s
            while not self._stop.wait(wait):
                for addr in self.sim_pools:
                    self.move_pool(mid * (1.0 - jump_bps / 1e4), addr)
                if self._stop.wait(hold_s):
                    return
                for addr in self.sim_pools:  # a later write, so DEX paper legs can fill
                    self.move_pool(mid * (1.0 - jump_bps / 1e4), addr)
                if self._stop.wait(hold_s):
                    return
                for addr in self.sim_pools:
                    self.move_pool(mid, addr)
                wait = max(0.0, every_s - 2 * hold_s)

        self._scenario = threading.Thread(target=run, name="loopback-scenario", daemon=True)
        self._scenario.start()

    def stop(self) -> None:
        """Stop the scenario, the stand-in and the venue simulators (idempotent)."""
        self._stop.set()
        for t in (self._scenario, self._faults):
            if t is not None:
                t.join(5.0)
        self._scenario = self._faults = None
        for node in self.standins:
            node.stop_thread()
        self.standins = []
        self.standin = None
        if self.venues is not None:
            self.venues.stop()
            self.venues = None

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_pools(config: str | Path | None, markets: str | Path | None) -> list[str]:
    """Orca pool addresses of the markets config (the loopback serves each); others refused."""
    settings = load_settings(config, markets)
    pools = []
    for pair in settings.pairs:
        for m in pair.markets:
            if m.venue == "orca":
                pools.append(m.address)
            elif settings.venues[m.venue].kind != "cex":
                raise ConfigError(f"--loopback serves Orca pools only, not {m.market_id}")
    return pools
