"""Markets file vs the chain: every DEX market checked against its own accounts at start-up.

A wrong `base_is_a`, wrong decimals, a pool of another program or of other tokens would be
traded as a huge, false spread (a USDC/SOL pool read as SOL/USDC is a ~434,000 bps "spread").
So before a live or paper run starts, each configured DEX market's main account is fetched and
decoded by its venue adapter, and checked:

- it exists and its owner is the venue's program;
- its tokens are the pair's (`base_mint` / `quote_mint` when the pair config names them), in the
  order `base_is_a` says (CLOB markets: base and quote are fixed by the program);
- the decimals of base and quote (from the account when it holds them, else from the SPL mint
  accounts) equal the pair's `base_decimals` / `quote_decimals`.

Any mismatch refuses to start with one `ConfigError` naming each market and field. Pure: the
caller passes a `fetch(pubkeys) -> {pubkey: (owner, data) | None}` (the RPC in production, a dict
in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config import MarketSettings, PairSettings, Settings
from connectors import venues
from connectors.venues import TokenPair
from operators.errors import ConfigError, DecodeError

SPL_TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EHFLC1PE49qzvzfkqgsUR"
_MINT_LEN = 82
_MINT_DECIMALS_AT = 44


@dataclass(frozen=True, slots=True)
class Account:
    """What the check needs of an on-chain account."""

    owner: str
    data: bytes


Fetch = Callable[[Sequence[str]], Mapping[str, Account | None]]


def mint_decimals(mint: str, account: Account | None) -> int:
    """Decimals of an SPL (or Token-2022) mint account; `ConfigError` if it is not one."""
    if account is None:
        raise ConfigError(f"mint {mint}: account not found")
    if account.owner not in (SPL_TOKEN, TOKEN_2022) or len(account.data) < _MINT_LEN:
        raise ConfigError(f"mint {mint}: not an SPL mint (owner {account.owner})")
    return account.data[_MINT_DECIMALS_AT]


def _dex_markets(settings: Settings) -> list[tuple[PairSettings, MarketSettings]]:
    return [
        (p, m)
        for p in settings.pairs
        for m in p.markets
        if settings.venues[m.venue].enabled and not venues.is_cex(m.venue)
    ]


def verify_dex_markets(settings: Settings, fetch: Fetch) -> int:
    """Check every enabled DEX market against its accounts; the number checked.

    Raises one `ConfigError` listing every market and field that does not match the chain.
    """
    markets = _dex_markets(settings)
    if not markets:
        return 0
    accounts = fetch([m.address for _, m in markets])
    problems: list[str] = []
    tokens: dict[str, TokenPair] = {}
    for _pair, m in markets:
        adapter = venues.dex(m.venue)
        acc = accounts.get(m.address)
        where = f"market {m.market_id}"
        if acc is None:
            problems.append(f"{where}: account {m.address} not found")
            continue
        if acc.owner != adapter.program_id:
            problems.append(
                f"{where}: owner is {acc.owner}, not the {m.venue} program {adapter.program_id}"
            )
            continue
        try:
            decoded = adapter.decode_main(acc.data)
        except DecodeError as exc:
            problems.append(f"{where}: does not decode as a {m.venue} market ({exc})")
            continue
        if adapter.tokens is not None:
            tokens[m.market_id] = adapter.tokens(decoded)
    need = sorted(
        {
            mint
            for t in tokens.values()
            for mint, dec in ((t.mint_a, t.decimals_a), (t.mint_b, t.decimals_b))
            if dec is None
        }
    )
    mints = fetch(need) if need else {}
    for pair, m in markets:
        t = tokens.get(m.market_id)
        if t is not None:
            problems += _check_tokens(pair, m, t, mints)
    if problems:
        raise ConfigError("the markets file does not match the chain:\n  " + "\n  ".join(problems))
    return len(markets)


def _check_tokens(
    pair: PairSettings, m: MarketSettings, t: TokenPair, mints: Mapping[str, Account | None]
) -> list[str]:
    where = f"market {m.market_id}"
    try:
        dec_a = (
            t.decimals_a
            if t.decimals_a is not None
            else mint_decimals(t.mint_a, mints.get(t.mint_a))
        )
        dec_b = (
            t.decimals_b
            if t.decimals_b is not None
            else mint_decimals(t.mint_b, mints.get(t.mint_b))
        )
    except ConfigError as exc:
        return [f"{where}: {exc}"]
    base_is_a = True if t.fixed_order else m.base_is_a
    base, quote = (t.mint_a, t.mint_b) if base_is_a else (t.mint_b, t.mint_a)
    base_dec, quote_dec = (dec_a, dec_b) if base_is_a else (dec_b, dec_a)
    out = []
    if pair.base_mint and pair.quote_mint and {base, quote} == {pair.base_mint, pair.quote_mint}:
        if base != pair.base_mint:
            out.append(
                f"{where}: base_is_a = {str(m.base_is_a).lower()} but the pool's token "
                f"{'A' if base_is_a else 'B'} is the quote mint {pair.quote_mint}; "
                f"set base_is_a = {str(not m.base_is_a).lower()}"
            )
            return out
    elif pair.base_mint or pair.quote_mint:
        for name, want, got in (
            ("base_mint", pair.base_mint, base),
            ("quote_mint", pair.quote_mint, quote),
        ):
            if want and want != got:
                out.append(f"{where}: {name} is {want} in the pair config, the market's is {got}")
        if out:
            return out
    if (base_dec, quote_dec) != (pair.base_decimals, pair.quote_decimals):
        if not t.fixed_order and (quote_dec, base_dec) == (pair.base_decimals, pair.quote_decimals):
            out.append(
                f"{where}: base_is_a = {str(m.base_is_a).lower()} gives base decimals {base_dec} "
                f"and quote decimals {quote_dec}, the pair says {pair.base_decimals} and "
                f"{pair.quote_decimals}; set base_is_a = {str(not m.base_is_a).lower()}"
            )
        else:
            out.append(
                f"{where}: decimals are base {base_dec} / quote {quote_dec} on chain, "
                f"the pair says base_decimals {pair.base_decimals} / quote_decimals "
                f"{pair.quote_decimals}"
            )
    return out


def rpc_fetch(settings: Settings) -> Fetch:
    """A `Fetch` over the configured RPC endpoints (getMultipleAccounts, with failover)."""
    import asyncio

    from connectors.secrets import resolve_rpc
    from connectors.solana.rpc import SolanaRpc

    rpc_settings = resolve_rpc(settings.rpc)

    def fetch(keys: Sequence[str]) -> dict[str, Account | None]:
        async def run() -> dict[str, Account | None]:
            rpc = SolanaRpc(rpc_settings)
            try:
                got = await rpc.get_multiple_accounts(list(keys))
            finally:
                await rpc.close()
            return {
                k: None if a is None else Account(a.owner, a.data) for k, a in zip(keys, got)
            }

        return asyncio.run(run())

    return fetch

