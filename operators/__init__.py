"""Pure domain logic run inside Bytewax operators: no sockets, no clocks, no globals."""
