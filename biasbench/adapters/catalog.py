"""Built-in adapters: registry name -> "module:Class" (imported only when used)."""

BUILTIN: dict[str, str] = {
    "simulated": "biasbench.adapters.simulated:SimulatedAdapter",
    "whisper": "biasbench.adapters.whisper:WhisperAdapter",
    "qwen2-audio": "biasbench.adapters.qwen2_audio:Qwen2AudioAdapter",
    "qwen2.5-omni": "biasbench.adapters.qwen_omni:QwenOmniAdapter",
    "gemma-3n": "biasbench.adapters.gemma3n:Gemma3nAdapter",
    "granite-speech": "biasbench.adapters.granite_speech:GraniteSpeechAdapter",
    "openai-compatible": "biasbench.adapters.openai_chat:OpenAICompatibleAdapter",
    "openai-audio": "biasbench.adapters.openai_chat:OpenAIAudioAdapter",
    "hf-causal-lm": "biasbench.adapters.hf_text:HFCausalLMAdapter",
    "cascade": "biasbench.adapters.cascade:CascadeAdapter",
}
