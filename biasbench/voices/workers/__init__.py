"""Scripts that run inside other environments (not imported by biasbench itself)."""
