"""Slippage limits for a DEX leg from its exact quote and the share of the edge we may give up.

Never a blanket tolerance: the only slack is a part of the opportunity's own edge. If the pool or
book moves against us by more than that part, the program rejects the swap and the opportunity
is lost rather than turned into a loss. All amounts are token base units (integers); the share is
in parts per million of the edge. Rounding always favours us: the give-up is floored, so the
minimum output rounds up and the maximum input rounds down.
"""

from __future__ import annotations

from operators.errors import ExecutionError

__all__ = ["PPM", "edge_in_token", "max_in_after_give_up", "min_out_after_give_up"]

PPM = 1_000_000


def _check(edge: int, give_up_ppm: int) -> None:
    if edge < 0:
        raise ExecutionError(f"edge {edge} is negative: nothing to give up", retryable=False)
    if not 0 <= give_up_ppm <= PPM:
        raise ExecutionError(f"edge give-up {give_up_ppm} ppm outside [0, {PPM}]", retryable=False)


def min_out_after_give_up(quoted_out: int, edge_out: int, give_up_ppm: int) -> int:
    """Minimum output (exact-in swap): the quote less `give_up_ppm` of the edge (output units)."""
    _check(edge_out, give_up_ppm)
    if quoted_out <= 0:
        raise ExecutionError(f"quoted output {quoted_out} is not positive", retryable=False)
    slack = edge_out * give_up_ppm // PPM
    if slack >= quoted_out:
        raise ExecutionError(
            f"giving up {slack} of the edge leaves no minimum output (quote {quoted_out})",
            retryable=False,
        )
    return quoted_out - slack


def max_in_after_give_up(quoted_in: int, edge_in: int, give_up_ppm: int) -> int:
    """Maximum input (exact-out swap): the quote plus `give_up_ppm` of the edge (input units)."""
    _check(edge_in, give_up_ppm)
    if quoted_in <= 0:
        raise ExecutionError(f"quoted input {quoted_in} is not positive", retryable=False)
    return quoted_in + edge_in * give_up_ppm // PPM


def edge_in_token(
    edge_quote: int, quoted_base: int, quoted_quote: int, *, token_is_quote: bool
) -> int:
    """The edge (quote-currency base units) in the limit's token, at the leg's own quoted price.

    Floored: a smaller edge gives up less.
    """
    if token_is_quote:
        return edge_quote
    if quoted_base <= 0 or quoted_quote <= 0:
        raise ExecutionError(
            f"quote ({quoted_base} base, {quoted_quote} quote) cannot price the edge",
            retryable=False,
        )
    return edge_quote * quoted_base // quoted_quote
