"""The loopback world: simulated CEX venues + a Solana RPC stand-in, for `--loopback` runs.

Dev tooling, never imported by production code (only the CLI's `--loopback` entry points and
tests). It starts the loopback CEX venue simulators (sim/cex_venues.py: Binance, Binance USD-M,
OKX, Bybit on 127.0.0.1, every book centred on 150.00) and a Solana RPC stand-in
(sim/standin.py) holding the simulated SOL/USDC Whirlpool of sim/simulate.py (`SimPool`: pool +
tick arrays at 150) at each configured Orca pool address, then points the config's venue URLs and
RPC endpoints at them. A small scenario thread moves the pool `jump_bps` below the CEX books every
few seconds and back, so a paper run shows opportunities and fills. It is a SOL/USDC-shaped world:
every CEX symbol is served at 150.
"""

from __future__ import annotations

import json
import os
import threading
from decimal import Decimal
from pathlib import Path

from config import Settings, load_settings
from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID as ORCA
from operators.errors import ConfigError
from sim.cex_venues import ThreadedVenues, start_venues_in_thread
from sim.simulate import MINT_DECIMALS, SPL_TOKEN_PROGRAM, spl_mint_bytes
from sim.standin import SolanaStandIn

POOL_LAMPORTS = 5_435_760
"""Rent-exempt-looking balance for the simulated accounts (the stand-in only stores it)."""
CEX_VENUES = ("binance", "binance-usdm", "okx", "bybit")


class Loopback:
    """Loopback CEX venues + a Solana stand-in with the simulated pool(s); stop() in finally."""

    def __init__(
        self,
        pools: list[str],
        *,
        seed: int = 0,
        frame_interval_s: float = 0.01,
        slot_interval_s: float = 0.4,
    ) -> None:
        from sim.simulate import SimConfig, SimPool

        self.seed = seed
        self.frame_interval_s = frame_interval_s
        self.slot_interval_s = slot_interval_s
        self.sim_pools = {addr: SimPool(SimConfig(), addr) for addr in pools}
        self.venues: ThreadedVenues | None = None
        self.standin: SolanaStandIn | None = None
        self._scenario: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> Loopback:
        """Start the venue simulators and the stand-in (loaded with every pool's accounts)."""
        try:
            self.venues = start_venues_in_thread(
                seed=self.seed, frame_interval_s=self.frame_interval_s
            )
            self.standin = SolanaStandIn(name="loopback")
            for mint, decimals in MINT_DECIMALS.items():  # markets are verified at start-up
                self.standin.set_account(mint, spl_mint_bytes(decimals), SPL_TOKEN_PROGRAM, 1)
            for addr, pool in self.sim_pools.items():
                for key, data in pool.tick_arrays():
                    self.standin.set_account(key, data, ORCA, POOL_LAMPORTS)
                self.standin.set_account(addr, pool.account_bytes(), ORCA, POOL_LAMPORTS)
            self.standin.start_in_thread(auto_advance_s=self.slot_interval_s)
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

    def env(self) -> dict[str, str]:
        """`SOLARB__...` overrides pointing every CEX venue and the RPC at the loopback."""
        if self.venues is None or self.standin is None:
            raise ConfigError("loopback not started")
        v = self.venues.venues
        out = {}
        for venue in CEX_VENUES:
            key = f"SOLARB__VENUES__{venue.upper()}"
            out[f"{key}__WS_URL"] = json.dumps(v.ws_url(venue, "spot"))
            out[f"{key}__REST_URL"] = json.dumps(v.rest_url(venue))
        # a provider token in the RPC URLs, as paid endpoints carry one (the secrets test)
        token = os.environ.get("SOLARB_LOOPBACK_RPC_TOKEN", "")
        tail = f"?api-key={token}" if token else ""
        out["SOLARB__RPC__HTTP"] = json.dumps([self.standin.http_url + tail])
        out["SOLARB__RPC__WS"] = json.dumps([self.standin.ws_url + tail])
        out["SOLARB__RPC__FAILOVER_HTTP"] = '""'  # no public failover: 127.0.0.1 only
        out["SOLARB__RPC__FAILOVER_WS"] = '""'
        return out

    def settings(
        self, config: str | Path | None = None, markets: str | Path | None = None
    ) -> Settings:
        """The config at `config`/`markets` with every venue URL and RPC endpoint on loopback."""
        return load_settings(config, markets, env={**os.environ, **self.env()})

    def move_pool(self, price: float, address: str | None = None) -> int:
        """Write the pool account at `price` (quote per base) as a new slot; returns the slot."""
        if self.standin is None:
            raise ConfigError("loopback not started")
        addr = address or next(iter(self.sim_pools))
        pool = self.sim_pools[addr]
        pool.move_to(price)
        return self.standin.set_account(addr, pool.account_bytes(), ORCA, POOL_LAMPORTS)

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
        if self._scenario is not None:
            self._scenario.join(5.0)
            self._scenario = None
        if self.standin is not None:
            self.standin.stop_thread()
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
