"""Built-in adapters: registry name -> "module:Class" (imported only when used)."""

BUILTIN: dict[str, str] = {
    "simulated": "biasbench.adapters.simulated:SimulatedAdapter",
    "whisper": "biasbench.adapters.whisper:WhisperAdapter",
    "qwen2-audio": "biasbench.adapters.qwen2_audio:Qwen2AudioAdapter",
    "qwen2.5-omni": "biasbench.adapters.qwen_omni:QwenOmniAdapter",
    "openai-compatible": "biasbench.adapters.openai_chat:OpenAICompatibleAdapter",
    "openai-audio": "biasbench.adapters.openai_chat:OpenAIAudioAdapter",
}
