"""Typed lazy registries: name -> "module:attr", resolved on first use.

Built-in entries live in each layer's ``catalog`` module (a plain dict, no imports of heavy code);
third-party packages add entries through the entry-point groups ``biasbench.adapters``,
``biasbench.tts`` and ``biasbench.tasks``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from biasbench.core.errors import ConfigError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registered name."""

    name: str
    """Registry name (e.g. 'whisper')."""
    target: str
    """'package.module:attribute'."""
    origin: str
    """'builtin' or the distribution that declared the entry point."""


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def import_target(target: str) -> Any:
    """Import 'module:attr' (dotted attribute paths allowed)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"'{target}' is not of the form 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import '{module_name}' for '{target}': {exc}") from None
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"'{module_name}' has no attribute '{attr}'") from None
    return value


class Registry(Generic[T]):
    """Names of one kind (adapters, TTS backends, tasks) mapped to lazily imported objects."""

    def __init__(self, kind: str, catalog: str, group: str, listing: str) -> None:
        self.kind = kind
        self.listing = listing
        self._catalog = catalog
        self._group = group
        self._entries: dict[str, Entry] | None = None
        self._loaded: dict[str, T] = {}

    def _load_entries(self) -> dict[str, Entry]:
        if self._entries is None:
            builtin = import_target(f"{self._catalog}:BUILTIN")
            entries = {name: Entry(name, target, "builtin") for name, target in builtin.items()}
            for point in entry_points(group=self._group):
                dist = getattr(point, "dist", None)
                origin = dist.name if dist is not None else "entry point"
                entries[point.name] = Entry(point.name, point.value, origin)
            self._entries = entries
        return self._entries

    def register(self, name: str, target: str, origin: str = "runtime") -> None:
        """Add or replace an entry at run time (tests, notebooks)."""
        self._load_entries()[name] = Entry(name, target, origin)
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._load_entries())

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name."""
        entries = self._load_entries()
        return [entries[name] for name in sorted(entries)]

    def entry(self, name: str) -> Entry:
        """The entry for ``name``; unknown names raise with a suggestion."""
        entries = self._load_entries()
        if name not in entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, list(entries))}",
                hint=f"`biasbench ls {self.listing}` lists them",
            )
        return entries[name]

    def get(self, name: str) -> T:
        """The object registered under ``name``, imported on first use."""
        if name not in self._loaded:
            self._loaded[name] = import_target(self.entry(name).target)
        return self._loaded[name]


adapters: Registry[Any] = Registry("adapter", "biasbench.adapters.catalog", "biasbench.adapters", "adapters")
tts_backends: Registry[Any] = Registry("tts backend", "biasbench.voices.backends.catalog", "biasbench.tts", "tts")
tasks: Registry[Any] = Registry("task", "biasbench.tasks.catalog", "biasbench.tasks", "tasks")
