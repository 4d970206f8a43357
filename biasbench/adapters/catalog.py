"""Built-in adapters: registry name -> "module:Class" (imported only when used)."""

BUILTIN: dict[str, str] = {
    "simulated": "biasbench.adapters.simulated:SimulatedAdapter",
    "whisper": "biasbench.adapters.whisper:WhisperAdapter",
}
