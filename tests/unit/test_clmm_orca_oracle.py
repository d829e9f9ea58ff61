"""Cross-check against Orca's own compiled quote code (npm @orca-so/whirlpools-core, WASM).

The package is rust-sdk/core built to WASM; `orca_core_oracle.cjs` calls its
`swapQuoteByInputToken` / `swapQuoteByOutputToken`, `tickIndexToSqrtPrice` and
`sqrtPriceToTickIndex` on the same pool and tick arrays, and every quote must equal ours to the
unit. `tests/oracles/install.sh` installs the package with npm into a cache folder outside the
repo ($SOLARB_ORCA_CORE_DIR or ~/.cache/solarb/...); the test never installs anything and skips
with the reason where it is absent. Set SOLARB_SKIP_NPM_ORACLE=1 to skip them on purpose.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from operators.clmm import QuoteError, quote_swap
from operators.clmm.accounts import TickArray, Whirlpool
from tests.unit.orca_helpers import SAMO_USDC, SOL_USDC, load_pool, synth_arrays, synth_pool

CORE_VERSION = "3.1.0"
SCRIPT = Path(__file__).with_name("orca_core_oracle.cjs")
BINDINGS = "node_modules/@orca-so/whirlpools-core/dist/nodejs/orca_whirlpools_core_js_bindings.js"


@pytest.fixture(scope="module")
def orca_core() -> tuple[str, Path]:
    """(node executable, path of the installed WASM bindings), or skip with the reason."""
    if os.environ.get("SOLARB_SKIP_NPM_ORACLE"):
        pytest.skip("SOLARB_SKIP_NPM_ORACLE is set")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed: cannot run Orca's WASM core as an oracle")
    default = Path.home() / ".cache" / "solarb" / f"orca-whirlpools-core-{CORE_VERSION}"
    folder = Path(os.environ.get("SOLARB_ORCA_CORE_DIR", default))
    bindings = folder / BINDINGS
    if not bindings.is_file():
        pytest.skip(
            f"@orca-so/whirlpools-core {CORE_VERSION} not installed under {folder} "
            "(tests/oracles/install.sh installs it from the npm registry)"
        )
    return node, bindings


def _pool_json(w: Whirlpool) -> dict[str, Any]:
    return {
        "fee_tier_index_seed": list(w.fee_tier_index_seed.to_bytes(2, "little")),
        "tick_spacing": w.tick_spacing,
        "fee_rate": w.fee_rate,
        "protocol_fee_rate": w.protocol_fee_rate,
        "liquidity": str(w.liquidity),
        "sqrt_price": str(w.sqrt_price),
        "tick_current_index": w.tick_current_index,
        "fee_growth_global_a": str(w.fee_growth_global_a),
        "fee_growth_global_b": str(w.fee_growth_global_b),
        "reward_last_updated_timestamp": str(w.reward_last_updated_timestamp),
        "reward_infos": [
            [str(r.emissions_per_second_x64), str(r.growth_global_x64)] for r in w.reward_infos
        ],
    }


def _array_json(ta: TickArray) -> dict[str, Any]:
    return {
        "start_tick_index": ta.start_tick_index,
        "ticks": [
            [
                t.initialized,
                str(t.liquidity_net),
                str(t.liquidity_gross),
                str(t.fee_growth_outside_a),
                str(t.fee_growth_outside_b),
                [str(x) for x in t.reward_growths_outside],
            ]
            for t in ta.ticks
        ],
    }


def _oracle(core: tuple[str, Path], request: dict[str, Any]) -> dict[str, Any]:
    node, bindings = core
    done = subprocess.run(
        [node, str(SCRIPT), str(bindings)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _random_cases(rng: random.Random, n: int, max_exp: int) -> list[tuple[int, bool, bool]]:
    cases = []
    for _ in range(n):
        exp = rng.uniform(0, max_exp)
        cases.append(
            (max(1, int(10**exp)) + rng.randrange(0, 1000), rng.random() < 0.5, rng.random() < 0.5)
        )
    return cases


def _assert_same_quotes(
    core: tuple[str, Path],
    pool: Whirlpool,
    arrays: list[TickArray],
    cases: list[tuple[int, bool, bool]],
) -> tuple[int, int]:
    """Every case quoted by both; returns (cases compared, cases both refused)."""
    request = {
        "whirlpool": _pool_json(pool),
        "tick_arrays": [_array_json(a) for a in arrays],
        "cases": [[str(a), a_to_b, exact_in] for a, a_to_b, exact_in in cases],
    }
    theirs = _oracle(core, request)["quotes"]
    refused = 0
    for (amount, a_to_b, exact_in), their in zip(cases, theirs, strict=True):
        label = f"amount={amount} a_to_b={a_to_b} exact_in={exact_in}"
        try:
            q = quote_swap(pool, arrays, amount, a_to_b=a_to_b, exact_in=exact_in)
        except QuoteError as exc:
            assert their[0] == "error", f"{label}: we refused ({exc}) but Orca core quoted {their}"
            refused += 1
            continue
        assert their[0] != "error", f"{label}: Orca core refused ({their[1]}) but we quoted {q}"
        assert [q.amount_in, q.amount_out, q.fee_amount] == [int(x) for x in their], label
    return len(cases), refused


@pytest.mark.parametrize("window", [slice(0, 6), slice(1, 7)])
def test_sol_usdc_quotes_equal_orca_core_to_the_unit(
    orca_core: tuple[str, Path], fixtures: Path, window: slice
) -> None:
    pool, arrays, _ = load_pool(fixtures / SOL_USDC)
    # the core takes at most 6 tick arrays: compare on both 6-array windows of the 7
    compared, refused = _assert_same_quotes(
        orca_core, pool, arrays[window], _random_cases(random.Random(7), 400, 13)
    )
    assert compared == 400 and refused < 100


def test_samo_usdc_quotes_equal_orca_core_to_the_unit(
    orca_core: tuple[str, Path], fixtures: Path
) -> None:
    pool, arrays, _ = load_pool(fixtures / SAMO_USDC)
    compared, refused = _assert_same_quotes(
        orca_core, pool, arrays[:6], _random_cases(random.Random(11), 300, 14)
    )
    assert compared == 300 and refused < 150


def test_dense_synthetic_pool_quotes_equal_orca_core_to_the_unit(
    orca_core: tuple[str, Path],
) -> None:
    # many overlapping positions on tick spacing 1: swaps cross dozens of initialized ticks
    rng = random.Random(5)
    nets: dict[int, int] = {}
    for _ in range(120):
        lo = rng.randrange(-260, 200)
        hi = lo + rng.randrange(1, 60)
        liq = rng.randrange(10**6, 10**12)
        nets[lo] = nets.get(lo, 0) + liq
        nets[hi] = nets.get(hi, 0) - liq
    liquidity = sum(v for k, v in nets.items() if k <= 3)
    pool = synth_pool(3, liquidity, tick_spacing=1, fee_rate=3000)
    arrays = synth_arrays(nets, [-264, -176, -88, 0, 88, 176], tick_spacing=1)
    compared, refused = _assert_same_quotes(orca_core, pool, arrays, _random_cases(rng, 400, 11))
    assert compared == 400 and refused < 200


def test_tick_math_equals_orca_core(orca_core: tuple[str, Path]) -> None:
    from operators.clmm.math import sqrt_price_from_tick_index, tick_index_from_sqrt_price

    rng = random.Random(3)
    ticks = [rng.randrange(-443636, 443637) for _ in range(1500)] + [-443636, 443636, 0, -1, 1]
    prices = [rng.randrange(4295048016, 79226673515401279992447579056) for _ in range(1000)]
    prices += [
        sqrt_price_from_tick_index(t) + d for t in ticks[:500] for d in (-1, 0) if t > -443636
    ]
    out = _oracle(
        orca_core,
        {
            "whirlpool": _pool_json(synth_pool(0, 1)),
            "tick_arrays": [],
            "cases": [],
            "ticks": ticks,
            "sqrt_prices": [str(p) for p in prices],
        },
    )
    assert [str(sqrt_price_from_tick_index(t)) for t in ticks] == out["tick_prices"]
    assert [tick_index_from_sqrt_price(p) for p in prices] == out["price_ticks"]
