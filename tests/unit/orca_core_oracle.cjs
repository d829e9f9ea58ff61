// Oracle for tests/unit/test_clmm_orca_oracle.py: Orca's own compiled core (npm
// @orca-so/whirlpools-core, rust-sdk/core as WASM) quotes the same pool and tick arrays.
// Usage: node orca_core_oracle.cjs <path to dist/nodejs/orca_whirlpools_core_js_bindings.js>
// stdin: {"whirlpool": {...}, "tick_arrays": [...], "cases": [[amount, a_to_b, exact_in]],
//         "ticks": [tick...], "sqrt_prices": [sqrt_price...]}   (big integers as strings)
// stdout: {"quotes": [[in, out, fee] | ["error", message]], "tick_prices": [...], "price_ticks": [...]}
"use strict";
const core = require(process.argv[2]);

const big = (s) => BigInt(s);

function facadeWhirlpool(w) {
  return {
    feeTierIndexSeed: new Uint8Array(w.fee_tier_index_seed),
    tickSpacing: w.tick_spacing,
    feeRate: w.fee_rate,
    protocolFeeRate: w.protocol_fee_rate,
    liquidity: big(w.liquidity),
    sqrtPrice: big(w.sqrt_price),
    tickCurrentIndex: w.tick_current_index,
    feeGrowthGlobalA: big(w.fee_growth_global_a),
    feeGrowthGlobalB: big(w.fee_growth_global_b),
    rewardLastUpdatedTimestamp: big(w.reward_last_updated_timestamp),
    rewardInfos: w.reward_infos.map((r) => ({
      emissionsPerSecondX64: big(r[0]),
      growthGlobalX64: big(r[1]),
    })),
  };
}

function facadeTickArray(ta) {
  return {
    startTickIndex: ta.start_tick_index,
    ticks: ta.ticks.map((t) => ({
      initialized: t[0],
      liquidityNet: big(t[1]),
      liquidityGross: big(t[2]),
      feeGrowthOutsideA: big(t[3]),
      feeGrowthOutsideB: big(t[4]),
      rewardGrowthsOutside: t[5].map(big),
    })),
  };
}

let raw = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (raw += chunk));
process.stdin.on("end", () => {
  const req = JSON.parse(raw);
  const whirlpool = facadeWhirlpool(req.whirlpool);
  const arrays = req.tick_arrays.map(facadeTickArray);
  const quotes = req.cases.map(([amount, aToB, exactIn]) => {
    try {
      if (exactIn) {
        const q = core.swapQuoteByInputToken(big(amount), aToB, 0, whirlpool, null, arrays, 0n);
        return [q.tokenIn.toString(), q.tokenEstOut.toString(), q.tradeFee.toString()];
      }
      const q = core.swapQuoteByOutputToken(big(amount), !aToB, 0, whirlpool, null, arrays, 0n);
      return [q.tokenEstIn.toString(), q.tokenOut.toString(), q.tradeFee.toString()];
    } catch (err) {
      return ["error", String(err)];
    }
  });
  const tickPrices = (req.ticks || []).map((t) => core.tickIndexToSqrtPrice(t).toString());
  const priceTicks = (req.sqrt_prices || []).map((p) => core.sqrtPriceToTickIndex(big(p)));
  process.stdout.write(JSON.stringify({ quotes, tick_prices: tickPrices, price_ticks: priceTicks }));
});
