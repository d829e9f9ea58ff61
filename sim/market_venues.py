"""The market simulator's venues beyond the Binance book: follower CEX books and DEX markets.

`sim.market.simulate_market` drives these: a follower CEX (OKX, Bybit) re-centres its book
every step on the fair price as it was `lag` steps ago, with quote noise and any local
dislocation of its own (fading as its arbitrageurs close it); a DEX market (Orca, Raydium CLMM,
Phoenix, OpenBook) takes other traders' swaps every slot and has its own competitors, who close
a gap to the fair price wider than their hurdle after their lag (docs/simulator.md). Wire
formats and account layouts come from `sim.cex_frames` and `sim.dex_venues` (the project's own
encoders); each venue draws from its own random streams, handed in by the caller.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from operators.events import RawFrame
from sim.cex_frames import BAND_TICKS, SIDE_MIN_LEVELS, SimFeed
from sim.dex_venues import _DEX_VENUES, _DexVenue
from sim.simulate import SimConfig, SimPool

if TYPE_CHECKING:
    from sim.market import MarketConfig, _InOrder

N_CHANGED = {"orca": 1, "raydium_clmm": 1, "phoenix": 1, "openbook": 2}
"""Accounts a price move rewrites, per DEX venue (the last ones of its first publication)."""
CEX_SYMBOLS = {"okx": "SOL-USDC", "bybit": "SOLUSDC"}
"""Follower CEX -> its SOL/USDC symbol (sim/sample/markets_all.toml)."""


class TrackingFeed(SimFeed):
    """A `SimFeed` whose book re-centres on a moving mid (the venue following the fair price)."""

    def step_to(self, mid_ticks: int, ts_ms: int) -> bytes:
        """Move the book to `mid_ticks`, change a few levels, return the venue's update frame."""
        book = self.book
        book.mid_ticks = mid_ticks
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        for side, changed, sign in ((book.bids, changed_b, -1), (book.asks, changed_a, 1)):
            for px in [p for p in side if not 1 <= sign * (p - mid_ticks) <= BAND_TICKS]:
                del side[px]  # crossed or out of the band: pulled
                changed[px] = 0
            while len(side) < SIDE_MIN_LEVELS + 10:
                px = mid_ticks + sign * self.rng.randint(1, BAND_TICKS)
                if px not in side:
                    side[px] = changed[px] = self.rng.randint(1, 50_000)
        more_b, more_a = book.step(self.rng.randint(1, 4))
        changed_b.update(more_b)
        changed_a.update(more_a)
        prev_u, prev_seq = self.update_id, self.seq
        self.update_id += 1
        self.seq += self.rng.randint(1, 5)
        self._record_truth()
        prev = prev_seq if self.venue == "okx" else prev_u
        return self.render_update(changed_b, changed_a, prev_u + 1, prev, ts_ms)




class CexFollower:
    """A CEX book (OKX v5 `books`, Bybit v5 `orderbook.50`) following the fair price."""

    def __init__(
        self,
        cfg: MarketConfig,
        venue: str,
        rng: random.Random,
        recv: _InOrder,
        lag_noise: tuple[int, float] | None = None,
        symbol: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.venue = venue
        self.rng = rng
        self.recv = recv
        self.lag_steps, self.noise_bps = lag_noise or cfg.cex_followers[venue]
        self.offset_bps = 0.0
        self.feed = TrackingFeed(
            venue,
            symbol or CEX_SYMBOLS[venue],
            seed=rng.randrange(1 << 30),
            mid_ticks=round(float(cfg.mid0) * 100),
            truth_keep=2,
        )

    def start(self, t0: int) -> list[RawFrame]:
        """The WS snapshot that opens the stream."""
        payload = self.feed.ws_snapshot(t0 // 1_000_000)
        return [RawFrame(self.recv.recv_ns(t0), self.venue, self.feed.stream, "ws", payload)]

    def step(self, history: list[float], event_ns: int) -> list[RawFrame]:
        """One depth step: the book moves to the lagged fair price, noise and local offset."""
        lagged = history[max(0, len(history) - 1 - self.lag_steps)]
        noise = self.rng.gauss(0.0, self.noise_bps) if self.noise_bps else 0.0
        target = lagged * math.exp((noise + self.offset_bps) / 1e4)
        self.offset_bps *= self.cfg.cex_local_decay
        frame = self.feed.step_to(round(target * 100), event_ns // 1_000_000)
        return [RawFrame(self.recv.recv_ns(event_ns), self.venue, self.feed.stream, "ws", frame)]


PERP_VENUE, PERP_SYMBOL = "binance-usdm", "SOLUSDT"
PERP_SNAPSHOT = f"GET /fapi/v1/depth?symbol={PERP_SYMBOL}&limit=1000"


class PerpFollower(CexFollower):
    """The Binance USD-M SOLUSDT perp following the fair price: the book a `[[pairs.hedges]]`
    perp hedges on (`MarketConfig.hedge_perp`). USD-M has no WS snapshot: its stream opens with
    a diff and the REST depth snapshot taken at it (lastUpdateId inside that diff, USD-M's rule)."""

    def __init__(self, cfg: MarketConfig, lag_noise: tuple[int, float], rng: random.Random,
                 recv: _InOrder) -> None:  # fmt: skip
        super().__init__(cfg, PERP_VENUE, rng, recv, lag_noise, PERP_SYMBOL)
        self.snapped = False

    def start(self, t0: int) -> list[RawFrame]:
        """Nothing before the first diff (the snapshot comes with it)."""
        return []

    def step(self, history: list[float], event_ns: int) -> list[RawFrame]:
        """One depth step; the first also carries the REST snapshot, received with it."""
        out = super().step(history, event_ns)
        if not self.snapped:
            self.snapped = True
            body = self.feed.rest_snapshot(1000, event_ns // 1_000_000)
            out.append(RawFrame(out[0].ts_recv_ns, PERP_VENUE, PERP_SNAPSHOT, "rest", body))
        return out


class DexMarket:
    """One DEX market under other traders' swaps and its own competitors."""

    def __init__(
        self,
        cfg: MarketConfig,
        venue: str,
        flow_rng: random.Random,
        comp_rng: random.Random,
        recv: _InOrder,
    ) -> None:
        self.cfg = cfg
        self.venue = venue
        self.flow = flow_rng
        self.comp = comp_rng
        self.recv = recv
        self.gap_slots = 0
        self.moved = False
        self.address = ""

    def price(self) -> float:
        """Human price of the market, quote per base."""
        raise NotImplementedError

    def move_to(self, price: float) -> None:
        """Set the market's price (a swap or a requote by someone else)."""
        raise NotImplementedError

    def first_accounts(self) -> list[tuple[str, bytes]]:
        """Every account, in dependency order; the last `N_CHANGED` are the moving ones."""
        raise NotImplementedError

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        """The accounts a price move rewrites."""
        raise NotImplementedError

    def start(self, t0: int, slot: int) -> list[RawFrame]:
        """First publication: static accounts at `t0`, the moving ones just after."""
        accounts = self.first_accounts()
        n = N_CHANGED[self.venue]
        static, moving = accounts[:-n], accounts[-n:]
        return [self._frame(t0, acc, data, slot) for acc, data in static] + [
            self._frame(t0 + 1 + k, acc, data, slot) for k, (acc, data) in enumerate(moving)
        ]

    def _frame(self, ts: int, account: str, data: bytes, slot: int) -> RawFrame:
        return RawFrame(ts, self.venue, f"{self.address}:{account}", "account", data, slot)

    def end_of_slot(self, mid: float) -> bool:
        """Other traders' swaps, then the competitors; True when the competitors traded."""
        from sim.market import _poisson

        cfg = self.cfg
        for _ in range(_poisson(self.flow, cfg.dex_swaps_per_slot)):
            self.move_to(
                self.price() * math.exp(self.flow.gauss(0.0, cfg.dex_swap_impact_bps) / 1e4)
            )
            self.moved = True
        gap_bps = (mid / self.price() - 1.0) * 1e4
        self.gap_slots = self.gap_slots + 1 if abs(gap_bps) > cfg.competitor_hurdle_bps else 0
        lands = self.comp.random() >= cfg.competitor_miss_prob
        if self.gap_slots > cfg.competitor_lag_slots and lands:
            self.move_to(mid * (1.0 - math.copysign(cfg.competitor_residual_bps, gap_bps) / 1e4))
            self.gap_slots = 0
            self.moved = True
            return True
        return False

    def publish(self, event_ns: int, slot: int) -> list[RawFrame]:
        """The slot's account update(s), if the market moved; received in stream order."""
        if not self.moved:
            return []
        self.moved = False
        accounts = self.changed_accounts(event_ns)
        t = self.recv.recv_ns(event_ns)
        self.recv.last_ns = t + len(accounts) - 1
        return [self._frame(t + k, acc, data, slot) for k, (acc, data) in enumerate(accounts)]


class _Whirlpool(DexMarket):
    """An Orca Whirlpool of any pair (`cfg.pair`, geometry `cfg.pool`)."""

    def __init__(self, cfg: MarketConfig, *args: object, **kw: object) -> None:
        super().__init__(cfg, *args, **kw)  # type: ignore[arg-type]
        self.address = cfg.pair.pool_address
        self.pool = SimPool(cfg.pool or SimConfig(mid0=cfg.mid0), self.address, cfg.pair)

    def price(self) -> float:
        return self.pool.price()

    def move_to(self, price: float) -> None:
        self.pool.move_to(price)

    def first_accounts(self) -> list[tuple[str, bytes]]:
        return [*self.pool.tick_arrays(), (self.address, self.pool.account_bytes())]

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        return [(self.address, self.pool.account_bytes())]


class _Rendered(DexMarket):
    """Raydium CLMM, Phoenix, OpenBook: accounts rendered by `sim.dex_venues`' venue classes."""

    def __init__(
        self, cfg: MarketConfig, venue: str, book_rng: random.Random, *args: object
    ) -> None:
        super().__init__(cfg, venue, *args)  # type: ignore[arg-type]
        pools = cfg.pool or SimConfig(mid0=cfg.mid0)
        self.inner: _DexVenue = _DEX_VENUES[venue](pools, venue, book_rng)
        self.address = self.inner.address

    def price(self) -> float:
        return self.inner.price()

    def move_to(self, price: float) -> None:
        self.inner.move_to(price)

    def first_accounts(self) -> list[tuple[str, bytes]]:
        return self.inner.start_accounts(self.cfg.start_ns)

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        return self.inner.changed_accounts(ts_ns)


def dex_market(
    cfg: MarketConfig,
    venue: str,
    *,
    book_rng: random.Random,
    flow_rng: random.Random,
    comp_rng: random.Random,
    recv: _InOrder,
) -> DexMarket:
    """The simulated DEX market of `venue` (`book_rng` draws its CLOB ladders' sizes)."""
    if venue == "orca":
        return _Whirlpool(cfg, venue, flow_rng, comp_rng, recv)
    return _Rendered(cfg, venue, book_rng, flow_rng, comp_rng, recv)
