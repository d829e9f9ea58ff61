"""OpenBook and Phoenix DEX legs through the live gateway on the stand-ins: the gateway fetches
what each adapter's builder needs (OpenBook: the book side taken, `wanted_accounts` +
`complete_swap`; Phoenix: its one market account) and the legs land."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from solders.transaction import VersionedTransaction

from bench.dex_send_setup import legs
from connectors.execution import ExecOrder, ExecutionGateway
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID, plan_swap
from connectors.solana.tx_outcome import TxRecord
from operators.events import ExecutionReport, OrderIntent
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from tests.integration.loop_support import gateway_values

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PAIR = "SOL/USDC"


def test_openbook_and_phoenix_sells_land_with_the_accounts_their_builders_need(
    tmp_path: Path,
) -> None:
    clob = {leg.venue: leg for leg in legs("11111111111111111111111111111111")
            if leg.venue in ("openbook", "phoenix")}  # fmt: skip
    markets = tmp_path / "markets_clob.toml"
    markets.write_text(SAMPLE_MARKETS.read_text() + "".join(
        f'\n  [[pairs.markets]]\n  venue = "{v}"\n  address = "{leg.request.market_address}"\n'
        for v, leg in sorted(clob.items())
    ))  # fmt: skip
    loop = Loopback([SAMPLE_POOL], rpcs=2).start()
    try:
        for node in loop.standins:  # the bench's synthetic markets, vaults and book sides
            for leg in clob.values():
                for key, (data, owner, lamports) in leg.accounts.items():
                    node.set_account(key, data, owner, lamports)
        settings = loop.settings(None, markets)
        keys = loop.trading(settings)
        gw = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer).start()
        try:
            for venue, leg in sorted(clob.items()):
                mid = f"{venue}:{leg.request.market_address}"
                size = leg.request.amount  # SOL in, the bench's size; at least 1 USDC unit out
                intent = OrderIntent(f"{venue}/sell", venue, mid, mid, "sell", size, 1, 1, 1, 1,
                                     PAIR)  # fmt: skip
                gw.submit(ExecOrder("send", intent, "sell", 0, 5_000))
            out = gateway_values(gw, 2)
            sent = gw.ledger.get("openbook/sell")
        finally:
            gw.close()
    finally:
        loop.stop()
    reports = {r.intent_id: r for r in out if isinstance(r, ExecutionReport)}
    rows = {r.signature: r for r in out if isinstance(r, TxRecord)}
    for venue, leg in clob.items():
        r = reports[f"{venue}/sell"]
        assert (r.status, r.filled_base, r.extra["outcome"]) == ("filled", leg.request.amount,
                                                                  "landed")  # fmt: skip
        assert r.quote_amount == leg.request.quoted_out  # the bench quote of this very book
        assert rows[r.extra["signature"]].status == "landed"
    # OpenBook's take names the makers it meets (from the book side the gateway fetched): one
    # open-orders account more than the same take planned without the book
    assert sent is not None
    msg = VersionedTransaction.from_bytes(sent.signed.tx_bytes).message
    keys = [str(k) for k in msg.account_keys]
    (take,) = [ix for ix in msg.instructions if keys[ix.program_id_index] == OPENBOOK_PROGRAM_ID]
    req = replace(clob["openbook"].request, owner=sent.leg.owner, limit=1, worst_price=None)
    bare = plan_swap(replace(req, book_side=None)).instruction
    assert len(take.accounts) == len(bare.accounts) + 1
