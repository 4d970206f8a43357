"""biasbench: does a speech language model treat speakers differently by gender and race?

The package imports without torch, openai or any TTS engine; those are optional extras that
the adapters and backends import lazily.
"""

__version__ = "0.1.0"
