"""Client order ids: deterministic, distinct, and inside every venue's charset and length."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.cex.orders.ids import CLIENT_ID_RE, LEGS, MAX_ATTEMPT, client_order_id

BINANCE_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # newClientOrderId
OKX_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")  # clOrdId: letters and digits, <= 32
BYBIT_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")  # orderLinkId

opportunity_ids = st.text(min_size=1, max_size=80)
legs = st.sampled_from(sorted(LEGS))
attempts = st.integers(min_value=0, max_value=MAX_ATTEMPT)


def test_same_inputs_give_the_same_id():
    assert client_order_id("SOL/USDC:42", "buy", 1) == client_order_id("SOL/USDC:42", "buy", 1)
    assert len(client_order_id("SOL/USDC:42", "buy", 1)) == 31


@given(opportunity_ids, legs, attempts)
def test_every_id_is_valid_on_every_venue(opp, leg, attempt):
    cid = client_order_id(opp, leg, attempt)
    assert CLIENT_ID_RE.match(cid)
    assert BINANCE_RE.match(cid) and OKX_RE.match(cid) and BYBIT_RE.match(cid)


@settings(max_examples=200)
@given(st.lists(st.tuples(opportunity_ids, legs, attempts), min_size=2, max_size=200,
                unique=True))
def test_distinct_opportunity_leg_attempt_never_collide(keys):
    ids = {client_order_id(*k) for k in keys}
    assert len(ids) == len(keys)


def test_a_day_of_realistic_ids_has_no_collision():
    keys = [(f"SOL/USDC:{n}", leg, a) for n in range(20_000) for leg in ("buy", "sell")
            for a in range(3)]
    assert len({client_order_id(*k) for k in keys}) == len(keys)


def test_bad_leg_or_attempt_is_refused():
    with pytest.raises(ValueError, match="leg must be one of"):
        client_order_id("x", "long")
    with pytest.raises(ValueError, match=r"attempt must be in 0\.\.1295"):
        client_order_id("x", "buy", MAX_ATTEMPT + 1)


@given(opportunity_ids, legs, attempts, st.integers(min_value=1, max_value=35))
def test_slice_ids_are_valid_everywhere_and_differ_from_the_unsliced_id(opp, leg, attempt, k):
    cid = client_order_id(opp, leg, attempt, k)
    assert len(cid) == 32 and OKX_RE.match(cid) and BINANCE_RE.match(cid) and BYBIT_RE.match(cid)
    assert cid != client_order_id(opp, leg, attempt)
    assert cid != client_order_id(opp, leg, attempt, k % 35 + 1)
