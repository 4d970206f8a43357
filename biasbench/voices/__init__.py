"""Voice pools: specs and balance checks, TTS backends, the synthesis cache and the voice audit."""
