"""Frozen value types, the plug-in registry, hashing and the error family shared by every layer."""
