#!/usr/bin/env bash
# Install the venues' own published quote/decode code from the npm registry into
# ~/.cache/solarb, outside the repo. Tests use them as oracles (our decoders and quotes must equal
# them to the unit); tests never install anything themselves and skip with the reason when a
# package is absent. Best effort: without node/npm or the registry, say so and exit 0.
set -uo pipefail
CACHE="${SOLARB_ORACLE_CACHE:-$HOME/.cache/solarb}"
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "oracles: node/npm not found; the npm oracle tests will skip"
    exit 0
fi
install() {  # folder, packages...
    local dir="$CACHE/$1"; shift
    mkdir -p "$dir"
    if (cd "$dir" && timeout 300 npm install --no-audit --no-fund --silent "$@" >/dev/null 2>&1); then
        echo "oracles: $* -> $dir"
    else
        echo "oracles: could not install $* (registry unreachable?); those tests will skip"
    fi
}
install orca-whirlpools-core-3.1.0 @orca-so/whirlpools-core@3.1.0
install raydium-sdk-v2 @raydium-io/raydium-sdk-v2@0.2.73-alpha
install clob-oracle @ellipsis-labs/phoenix-sdk@2.0.3 @openbook-dex/openbook-v2@0.2.10
# swap_v2 instruction builder (codama client on @solana/kit) for tests/unit/test_dex_swap_oracle.py
install orca-whirlpools-client @orca-so/whirlpools-client@7.0.0 @solana/kit@5
exit 0
