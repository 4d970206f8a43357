"""Built-in TTS backends: registry name -> "module:Class" (imported only when used)."""

BUILTIN: dict[str, str] = {
    "espeak": "biasbench.voices.backends.espeak:EspeakBackend",
}
