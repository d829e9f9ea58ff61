"""CEX order clients, sans-I/O: one codec per venue (binance.py, okx.py, bybit.py).

Each codec renders limit IOC/FOK orders, cancels and client-id queries as exact signed request
bytes, reads the venue's answers and maps its error codes to `ExecutionError(retryable=...)`.
common.py holds the exact decimals, market filters, rounding and slicing rules; ids.py the
client order ids; keys.py the credentials from config. The private streams (fills back) are
<venue>_ws.py (login steps + push parsers into updates.OrderUpdate, the `PrivateStream` of
private.py; Binance USD-M's listenKey stream and futures WS API order entry are
binance_usdm_ws.py). Each codec's `ws_orders`
is its WebSocket order entry (a `WsOrderCodec` of codec.py), limits.py reads the venues'
rate-limit headers. The async transports are connectors/cex/order_transport.py (REST),
ws_orders.py (WS order entry) and user_stream.py.
Each CEX adapter (connectors/venues/<venue>.py) exposes its codec as `orders`.
"""
