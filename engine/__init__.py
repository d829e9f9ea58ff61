"""The engine layer: the graph's step logic, between `connectors` and `flows`.

`build_graph` (engine/graph.py) wires the one graph every flow uses; the steps it runs live in
engine/steps.py (pair, risk, paper), the per-market state in engine/markets.py, the frame
router in engine/router.py, config -> operator parameters in engine/params.py, and the live
inputs (CEX feeds, Solana account feed, bounds) in engine/live_inputs.py.
Layering: operators <- connectors <- engine <- flows (checked by import-linter).
"""
