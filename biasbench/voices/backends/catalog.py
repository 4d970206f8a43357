"""Built-in TTS backends: registry name -> "module:Class" (imported only when used)."""

BUILTIN: dict[str, str] = {
    "espeak": "biasbench.voices.backends.espeak:EspeakBackend",
    "flite": "biasbench.voices.backends.flite:FliteBackend",
    "xtts": "biasbench.voices.backends.xtts:XTTSBackend",
    "f5tts": "biasbench.voices.backends.f5tts:F5TTSBackend",
    "maskgct": "biasbench.voices.backends.maskgct:MaskGCTBackend",
}
