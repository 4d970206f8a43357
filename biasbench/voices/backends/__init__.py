"""TTS backends, one module each, behind :class:`biasbench.voices.backends.base.TTSBackend`."""
