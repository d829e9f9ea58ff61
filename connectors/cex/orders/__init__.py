"""CEX order clients, sans-I/O: one codec per venue (binance.py, okx.py, bybit.py).

Each codec renders limit IOC/FOK orders, cancels and client-id queries as exact signed request
bytes, reads the venue's answers and maps its error codes to `ExecutionError(retryable=...)`.
common.py holds the exact decimals, market filters and rounding rules; ids.py the client order
ids; the async transport is connectors/cex/order_transport.py. Each CEX adapter
(connectors/venues/<venue>.py) exposes its codec as `orders`.
"""
