"""The shared kernel: the error family, environment readers, DRF glue, URL fetching, rate limits, body caps and
result rendering. It imports no DeepRead app."""
