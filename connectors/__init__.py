"""The outside world: sans-I/O venue codecs, thin transports, Bytewax sources and sinks."""
