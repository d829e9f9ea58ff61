"""Typed settings: `default.toml` + `markets.toml`, environment overrides, keychain references.

Load with `load_settings()`. Overrides use `SOLARB__SECTION__KEY=value` (value parsed as TOML when
it parses, else kept as a string), e.g. `SOLARB__RISK__MAX_NOTIONAL_USD=2500`.
A bad file raises one `ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from operators.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_PATH = CONFIG_DIR / "default.toml"
MARKETS_PATH = CONFIG_DIR / "markets.toml"
ENV_PREFIX = "SOLARB__"
ENV_CONFIG = "SOLARB_CONFIG"
ENV_MARKETS = "SOLARB_MARKETS"
ENV_OVERRIDES = "SOLARB_OVERRIDES"
"""Override snippets (e.g. `solarb calibrate`'s `calibrated.toml`), comma-separated paths."""


class _Model(BaseModel):
    # allow_inf_nan=False: a NaN threshold compares False with everything and silently disables
    # the rule it belongs to (`min_net_bps=nan` gave 0 signals), so NaN/inf are refused everywhere
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SecretRef(str):
    """A `keychain:service:name` reference; the secret itself never sits in config."""

    @classmethod
    def parse(cls, value: str) -> SecretRef:
        """Validate the reference form; raw secrets are refused."""
        parts = value.split(":")
        if len(parts) != 3 or parts[0] != "keychain" or not parts[1] or not parts[2]:
            raise ValueError(
                "secrets must be references of the form 'keychain:service:name', "
                "never the secret itself"
            )
        return cls(value)

    @property
    def service(self) -> str:
        """Keychain service name."""
        return self.split(":")[1]

    @property
    def name(self) -> str:
        """Keychain entry name."""
        return self.split(":")[2]


def is_secret_ref(value: str) -> bool:
    """Whether a config value is a `keychain:...` reference (resolved at start-up)."""
    return value.startswith("keychain:")


def _url_or_ref(value: str) -> str:
    # an endpoint URL often carries the provider's key, so it may live in the keychain instead
    if is_secret_ref(value):
        return SecretRef.parse(value)
    return value


class VenueSettings(_Model):
    kind: Literal["cex", "clmm", "clob"]
    ws_url: str = ""
    rest_url: str = ""
    program_id: str = ""
    taker_fee_bps: float = Field(ge=0, le=1000)
    maker_fee_bps: float = Field(default=0.0, ge=-100, le=1000)
    api_key: str | None = None
    api_secret: str | None = None
    api_passphrase: str | None = None  # OKX: the API key's passphrase (a keychain reference)
    api_key_type: Literal["hmac", "ed25519"] = "hmac"  # ed25519: api_secret holds the PEM key
    enabled: bool = True
    stale_after_ms: int | None = Field(default=None, ge=1)
    """CEX only: no market data for this long flags the feed and its books stale. None = the
    venue adapter's budget, derived from its book stream's cadence (1 s for every built-in)."""
    recv_window_ms: int = Field(default=5000, ge=1, le=60_000)  # signed orders' validity window
    private_ws_url: str = ""  # the account's private order stream ("" = none: REST answers only)
    order_ws_url: str = ""  # WS order entry ("" = orders over REST; queries stay REST)

    @field_validator("api_key", "api_secret", "api_passphrase")
    @classmethod
    def _secret_is_ref(cls, v: str | None) -> str | None:
        return None if v is None else SecretRef.parse(v)

    @field_validator("ws_url", "rest_url", "private_ws_url", "order_ws_url")
    @classmethod
    def _url_may_be_ref(cls, v: str) -> str:
        return _url_or_ref(v)


class EngineSettings(_Model):
    journal_dir: str = "out/journal"
    report_path: str = "out/report.md"
    book_depth: int = Field(default=50, ge=1, le=5000)
    stale_after_ms: int = Field(default=2000, ge=1)
    replay_batch_size: int = Field(default=1, ge=1)
    paper_cex_latency_ms: int = Field(default=20, ge=0)
    paper_dex_latency_ms: int = Field(default=400, ge=0)
    leg_order: Literal["both", "dex_first"] = "both"
    """Paper/replay legs: `both` at once (what the samples pin), or the DEX leg first and the
    CEX leg on its fill (operators/legs.py)."""
    journal_flush_rows: int = Field(default=1000, ge=1)  # journal rows pending before a write
    journal_flush_ms: int = Field(default=1000, ge=0)  # ... or age of the oldest pending row
    control_dir: str = "out/control"  # `solarb kill` / `arm` flag file and the engine's pid
    control_poll_ms: int = Field(default=100, ge=1)  # how often a live run reads control_dir


class ThresholdSettings(_Model):
    safety_margin_bps: float = Field(default=5.0, ge=0)
    slippage_default_bps: float = Field(default=2.0, ge=0)
    min_net_bps: float = Field(default=0.0)
    hedge_fee_bps: float = Field(default=0.0, ge=0)
    funding_bps_per_hour: float = 0.0
    expected_hold_s: float = Field(default=5.0, ge=0)
    debounce_ms: int = Field(default=1000, ge=0)
    rearm_below_bps: float = Field(default=2.0, ge=0)
    # Added by the spread engine (operators/spread.py, operators/signals.py, operators/costs.py):
    update_min_edge_change_bps: float = Field(default=1.0, ge=0)  # an update needs this edge move
    update_min_size_change_pct: float = Field(default=10.0, ge=0)  # ... or this size move (%)
    slippage_min_fills: int = Field(default=20, ge=1)  # fills before a venue's p95 replaces default
    slippage_window_fills: int = Field(default=200, ge=1)  # rolling window of realised slippage


class GasSettings(_Model):
    signatures: int = Field(default=1, ge=1)
    base_fee_lamports: int = Field(default=5000, ge=0)
    cu_limit: int = Field(default=200_000, ge=1, le=1_400_000)
    cu_price_floor_micro_lamports: int = Field(default=1_000, ge=0)
    cu_price_cap_micro_lamports: int = Field(default=2_000_000, ge=0)
    priority_share_of_edge: float = Field(default=0.1, ge=0, le=1)
    # Added by the spread engine (operators/costs.py LandingStats): raise the CU price floor past
    # price buckets whose recent landing rate is under the target.
    landing_target_rate: float = Field(default=0.8, ge=0, le=1)
    landing_min_samples: int = Field(default=20, ge=1)
    landing_window: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _floor_below_cap(self) -> GasSettings:
        if self.cu_price_floor_micro_lamports > self.cu_price_cap_micro_lamports:
            raise ValueError("cu_price_floor_micro_lamports must not exceed the cap")
        return self


class RiskSettings(_Model):
    max_notional_usd: Decimal = Field(default=Decimal("5000"), gt=0)
    max_notional_per_minute_usd: Decimal = Field(default=Decimal("20000"), gt=0)
    max_open_orders: int = Field(default=4, ge=1)
    max_exposure_usd: Decimal = Field(default=Decimal("10000"), gt=0)
    kill_switch: bool = False
    ws_down_kill_ms: int = Field(default=1000, ge=1)
    rearm: Literal["auto", "manual"] = "auto"
    rearm_after_ms: int = Field(default=5000, ge=0)
    max_slot_lag: int = Field(default=20, ge=0)
    limit_slippage_bps: int = Field(default=10, ge=0, le=1000)
    # issue 13 rails: a gross spread above this is refused as too good to be true
    max_spread_bps: int = Field(default=300, ge=1)
    max_clock_drift_ms: int = Field(default=1000, ge=1)  # venue clock vs ours: kill above this
    # issue 12 item 3: leg limits from the edge; both legs at their limits lose at most this
    give_up_bps: float = Field(default=1.0, ge=0, le=100)
    # fill risk (operators/fill_risk.py, per pair where the fills are): kills held until `arm`
    max_daily_loss_usd: Decimal = Field(default=Decimal("500"), gt=0)  # realised, UTC day
    max_slippage_p95_bps: float = Field(default=20.0, ge=0)  # per venue, vs decision price
    slippage_kill_window_fills: int = Field(default=200, ge=1)  # rolling window per venue
    slippage_kill_min_fills: int = Field(default=20, ge=1)  # fills before the p95 may kill
    max_dex_failures: int = Field(default=3, ge=1)  # failed DEX transactions in the window
    dex_failure_window_ms: int = Field(default=60_000, ge=1)
    # live: the guard books from the execution reports (operators/guard_book.py)
    reports_settle_ms: int = Field(default=500, ge=0)  # a report takes effect this much later
    unreported_leg_ms: int = Field(default=10_000, ge=1)  # a reserved leg with no report, freed


class ExecutionSettings(_Model):
    """CEX order entry (connectors/cex/order_transport.py, user_stream.py, orders/common.py)."""

    order_timeout_ms: int = Field(default=2000, ge=1)  # REST order request timeout
    max_resends: int = Field(default=1, ge=0, le=5)  # re-sends after the venue never got it
    # slicing (operators/depth.py, operators/legs.py): a CEX IOC leg deeper than this quantile
    # of the depth its book held at the leg's limit over the last `slice_window` views
    slice_by_depth: bool = True
    slice_depth_quantile: float = Field(default=0.95, gt=0, le=1)  # slice = this depth quantile
    slice_window: int = Field(default=200, ge=1)  # book views kept per CEX market
    slice_min_samples: int = Field(default=20, ge=1)  # before that, orders are not sliced
    user_stream_backoff_max_ms: int = Field(default=10_000, ge=1)  # private-stream reconnects

    @model_validator(mode="after")
    def _samples_fit_the_window(self) -> ExecutionSettings:
        if self.slice_min_samples > self.slice_window:
            raise ValueError(
                f"slice_min_samples ({self.slice_min_samples}) must not exceed slice_window "
                f"({self.slice_window}): no order could ever be sliced"
            )
        return self


class DexExecutionSettings(_Model):
    """DEX send and confirm (connectors/solana/sender.py, blockhash.py, wsol.py)."""

    skip_preflight: bool = False  # True: no simulation by the node before it forwards
    confirm_commitment: Literal["confirmed", "finalized"] = "confirmed"
    rebroadcast_ms: int = Field(default=400, ge=50)  # re-send the same bytes this often
    confirm_timeout_ms: int = Field(default=90_000, ge=1)  # hard bound on one send
    dry_run: bool = False  # only simulateTransaction; report what would have happened
    blockhash_refresh_ms: int = Field(default=2_000, ge=50)
    blockhash_min_remaining_blocks: int = Field(default=40, ge=1, le=150)
    wsol_floor_lamports: int = Field(default=100_000_000, ge=0)  # top up below this
    wsol_target_lamports: int = Field(default=2_000_000_000, ge=1)  # ... back to this
    wsol_check_ms: int = Field(default=5_000, ge=10)  # the wSOL keeper reads the balance this often
    wsol_reserve_lamports: int = Field(default=1_000_000_000, ge=0)  # largest SOL input of a trade
    service_attempts: int = Field(default=3, ge=1, le=20)  # tries per cycle of a DEX service
    service_backoff_ms: int = Field(default=100, ge=0)  # first wait between tries, doubling
    service_backoff_max_ms: int = Field(default=2_000, ge=0)  # ... up to this
    # live execution (connectors/execution.py):
    keypair_path: str = ""  # the sealed Solana keypair (`solarb keys keypair-new --out F`)
    keypair_password: str | None = None  # its password: a keychain reference
    unwind_slippage_bps: int = Field(default=100, ge=1, le=5000)
    """Hedge / unwind orders: the limit is the filled leg's price moved this far against us."""
    treasury: str = ""
    """The cold wallet (base58 address) that profits are swept to: an address, never a key.
    Shown by `solarb check --online`; solarb itself does not sweep yet (an operator does)."""

    @field_validator("treasury")
    @classmethod
    def _treasury_is_an_address(cls, v: str) -> str:
        if v:
            from solders.pubkey import Pubkey

            try:
                Pubkey.from_string(v)
            except ValueError as e:
                raise ValueError(f"not a base58 Solana address ({e})") from None
        return v

    @field_validator("keypair_password")
    @classmethod
    def _password_is_ref(cls, v: str | None) -> str | None:
        return None if v is None else SecretRef.parse(v)

    @model_validator(mode="after")
    def _floor_below_target(self) -> DexExecutionSettings:
        if self.wsol_floor_lamports >= self.wsol_target_lamports:
            raise ValueError("wsol_floor_lamports must be below wsol_target_lamports")
        if self.service_backoff_ms > self.service_backoff_max_ms:
            raise ValueError("service_backoff_ms must not exceed service_backoff_max_ms")
        return self


class DexComputeSettings(_Model):
    """Compute unit limits of DEX swap transactions (connectors/solana/compute.py)."""

    cu_limits: dict[str, int] = Field(default_factory=dict)
    """Venue id -> the compute unit limit of one swap transaction on it (budget instructions,
    token account creation and the swap itself); a venue without an entry cannot be sent to."""
    measure_at_startup: bool = False  # simulate a sample swap per venue and size from its units
    measure_margin_bps: int = Field(default=2_000, ge=0, le=100_000)  # added to measured units

    @field_validator("cu_limits")
    @classmethod
    def _limits_in_range(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {venue: n for venue, n in v.items() if not 1 <= n <= 1_400_000}
        if bad:
            raise ValueError(f"compute unit limits must be in [1, 1400000], got {bad}")
        return v


class DelaySettings(_Model):
    """A log-normal delay by its median and 99th percentile (operators/latency.py)."""

    median_ms: float = Field(ge=0)
    p99_ms: float = Field(ge=0)

    @model_validator(mode="after")
    def _median_within_p99(self) -> DelaySettings:
        if self.median_ms > self.p99_ms or (self.median_ms == 0 < self.p99_ms):
            raise ValueError("need 0 < median_ms <= p99_ms (or both 0)")
        return self


class VenueLatencySettings(_Model):
    """One venue's paper delays; a component left out keeps its fixed default."""

    feed: DelaySettings | None = None  # extra market-data delay before our decision
    ack: DelaySettings | None = None  # intent -> matched (CEX) / landed and executed (DEX)
    confirm: DelaySettings | None = None  # executed -> reported to us (moves report time only)


class PaperSettings(_Model):
    """Paper/replay latency model; no venue listed = the fixed `engine.paper_*_latency_ms`."""

    seed: int = 0  # draws are hash-seeded by (seed, intent id, venue, component)
    latency: dict[str, VenueLatencySettings] = Field(default_factory=dict)


class RpcSettings(_Model):
    http: list[str] = Field(min_length=1)
    ws: list[str] = Field(min_length=1)
    failover_http: str = ""
    failover_ws: str = ""
    commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"
    timeout_ms: int = Field(default=5000, ge=1)
    stale_after_ms: int = Field(default=1000, ge=1)
    """The account feed carried no slot or account this long = `stale` (slots every ~400 ms)."""

    @field_validator("http", "ws")
    @classmethod
    def _urls_may_be_refs(cls, v: list[str]) -> list[str]:
        return [_url_or_ref(u) for u in v]

    @field_validator("failover_http", "failover_ws")
    @classmethod
    def _url_may_be_ref(cls, v: str) -> str:
        return _url_or_ref(v)


class TelemetrySettings(_Model):
    """OpenTelemetry traces (docs/observability.md); the standard OTEL_* variables override."""

    enabled: bool = False
    otlp_endpoint: str = ""
    """OTLP collector URL; "" means the protocol's local default (gRPC :4317, HTTP :4318)."""
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    service_name: str = "solarb"
    sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = "parentbased_always_on"
    sampler_arg: float = Field(default=1.0, ge=0.0, le=1.0)
    """Ratio of traces kept by the `*traceidratio` samplers."""
    health_traces: list[str] = Field(
        default_factory=lambda: ["resync", "bad_account", "bad_frame", "kill"]
    )
    """Health statuses that get a trace of their own."""
    log_level: str = "INFO"

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must be an http:// or https:// URL (or empty)")
        return v


class MarketSettings(_Model):
    """One venue's market for a pair: a CEX symbol, a CLMM pool or a CLOB market."""

    venue: str
    market: Literal["spot", "perp"] = "spot"
    symbol: str = ""
    address: str = ""
    quote_currency: str = "USDC"
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    reference: bool = False
    """A reference book, never traded: it prices SOL (gas) or a stablecoin for its pair
    (`[reference]`); needs `base_currency`. CEX markets only."""
    base_currency: str = ""
    """What one unit of the book's base is (`SOL`, `USDC`, ...): reference books only."""
    min_notional: Decimal | None = Field(default=None, gt=0)
    """The venue's minimum order notional, in this market's quote currency (a smaller leg is
    not executable); unset: no minimum beyond one lot."""
    base_is_a: bool = True
    tick_arrays: list[str] = Field(default_factory=list)

    @property
    def market_id(self) -> str:
        """Key of this market in the graph: `venue:symbol-or-address[:perp]`."""
        ident = self.symbol or self.address
        return f"{self.venue}:{ident}" + (":perp" if self.market == "perp" else "")

    @model_validator(mode="after")
    def _has_identity(self) -> MarketSettings:
        if not (self.symbol or self.address):
            raise ValueError(f"market on {self.venue} needs a 'symbol' (CEX) or 'address' (DEX)")
        return self


class ReferenceSettings(_Model):
    """Where reference prices come from: the SOL price (gas, priority fees) and the value of
    each non-pair quote currency (USDT in a USDC pair...)."""

    sol: Literal["books", "constant"] = "books"
    """`books`: the pair's own CEX books when its base is SOL, else a reference book of SOL;
    `constant`: `sol_price_quote` (journaled)."""
    fx: Literal["books", "constant"] = "books"
    """`books`: a reference book pricing the currency in the pair quote; `constant`: [fx]."""
    constant_fallback: bool = False
    """A pair with no book for a reference it needs falls back to the constant (journaled at
    start) instead of being refused."""


class PairSettings(_Model):
    name: str
    base: str
    quote: str
    base_decimals: int = Field(ge=0, le=18)
    quote_decimals: int = Field(ge=0, le=18)
    max_trade_base: Decimal = Field(gt=0)
    size_steps: int = Field(default=16, ge=1, le=64)
    base_mint: str = ""
    """The base token's SPL mint; when set, every DEX market is checked against it at start."""
    quote_mint: str = ""
    markets: list[MarketSettings] = Field(min_length=1)
    hedges: list[MarketSettings] = Field(default_factory=list)
    """`[[pairs.hedges]]`: USDT perps that hedge a one-legged opportunity's net base before it
    is unwound (operators/legs.py), each serving the pair's spot markets of its own exchange
    (`binance` spot -> `binance-usdm` perp). Never an arb leg and never priced by the spread
    engine; the live gateway trades them (engine/exec_step.py `hedge_markets`)."""

    @model_validator(mode="after")
    def _hedges_are_perps(self) -> PairSettings:
        for h in self.hedges:
            if h.market != "perp" or h.reference:
                raise ValueError(
                    f"pair {self.name}: hedge market {h.market_id} must be a perp "
                    "(market = \"perp\"), never a reference book"
                )
        return self


class Settings(_Model):
    engine: EngineSettings = EngineSettings()
    venues: dict[str, VenueSettings]
    thresholds: ThresholdSettings = ThresholdSettings()
    gas: GasSettings = GasSettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    dex_execution: DexExecutionSettings = DexExecutionSettings()
    dex_compute: DexComputeSettings = DexComputeSettings()
    rpc: RpcSettings
    telemetry: TelemetrySettings = TelemetrySettings()
    paper: PaperSettings = PaperSettings()
    fx: dict[str, Decimal] = Field(default_factory=lambda: {"USDC": Decimal(1)})
    sol_price_quote: Decimal = Field(default=Decimal("150"), gt=0)
    reference: ReferenceSettings = ReferenceSettings()
    pairs: list[PairSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _markets_name_known_venues(self) -> Settings:
        for pair in self.pairs:
            for m in [*pair.markets, *pair.hedges]:
                if m.venue not in self.venues:
                    raise ValueError(
                        f"pair {pair.name}: market venue {m.venue!r} is not in [venues]"
                    )
                if m.quote_currency not in self.fx:
                    raise ValueError(
                        f"pair {pair.name}: quote currency {m.quote_currency!r} has no [fx] rate"
                    )
        return self

    @model_validator(mode="after")
    def _paper_latency_names_known_venues(self) -> Settings:
        unknown = sorted(set(self.paper.latency) - set(self.venues))
        if unknown:
            raise ValueError(f"[paper.latency] names venues not in [venues]: {unknown}")
        return self

    def pair(self, name: str) -> PairSettings:
        """The pair called `name` (e.g. `SOL/USDC`)."""
        for p in self.pairs:
            if p.name == name:
                return p
        raise ConfigError(f"no pair named {name!r} in markets config")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    applied: list[str] = []
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = data
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment {name}: {'.'.join(keys)} is not a table")
            node = child
        node[keys[-1]] = _parse_env_value(raw)
        applied.append(".".join(keys))
    return applied


def _describe(exc: ValidationError, files: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{files}: key '{loc}': {err['msg']}")
    return "\n".join(lines)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    """Deep-merge `over` into `base`: tables merge key by key, any other value replaces."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def load_settings(
    path: str | Path | None = None,
    markets_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str | Path] = (),
) -> Settings:
    """Read, merge, override and validate the config; raise `ConfigError` on any problem.

    `overrides` (then `$SOLARB_OVERRIDES`, comma-separated) are TOML snippets merged over the
    config file in order, table by table, before the `SOLARB__...` variables (e.g. the
    `calibrated.toml` that `solarb calibrate` writes)."""
    env = os.environ if env is None else env
    cfg_path = Path(path or env.get(ENV_CONFIG) or DEFAULT_PATH)
    mk_path = Path(markets_path or env.get(ENV_MARKETS) or MARKETS_PATH)
    data = _read_toml(cfg_path)
    env_over = [p for p in env.get(ENV_OVERRIDES, "").split(",") if p.strip()]
    for over in [*overrides, *env_over]:
        _merge(data, _read_toml(Path(over)))
    markets = _read_toml(mk_path)
    if "pairs" in markets:
        data["pairs"] = markets["pairs"]
    if "reference" in markets:
        # how these markets are valued belongs with them (e.g. a sample without a SOL book)
        _merge(data, {"reference": markets["reference"]})
    _apply_env(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, f"{cfg_path} + {mk_path}")) from None
