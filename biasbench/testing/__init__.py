"""Test-time builders shared by tests and benchmarks: real speech, tiny models, a local OpenAI-compatible server."""
