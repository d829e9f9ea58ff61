"""CEX order clients, sans-I/O: one codec per venue (binance.py, okx.py, bybit.py).

Each codec renders limit IOC/FOK orders, cancels and client-id queries as exact signed request
bytes, reads the venue's answers and maps its error codes to `ExecutionError(retryable=...)`.
common.py holds the exact decimals, market filters, rounding and slicing rules; ids.py the
client order ids; keys.py the credentials from config. The private streams (fills back) are
<venue>_ws.py (login steps + push parsers into updates.OrderUpdate, the `PrivateStream` of
private.py). The async transports are connectors/cex/order_transport.py and user_stream.py.
Each CEX adapter (connectors/venues/<venue>.py) exposes its codec as `orders`.
"""
