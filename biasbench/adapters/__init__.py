"""Model adapters: one module per model family, behind the protocol in :mod:`biasbench.adapters.base`."""
