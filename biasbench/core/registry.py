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
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, Iterator, TypeVar

from biasbench.core.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:  # type names only: core never imports the layers at run time
    from biasbench.adapters.base import Adapter
    from biasbench.tasks.base import Task
    from biasbench.voices.backends.base import TTSBackend

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
    """Names of one kind (adapters, TTS backends, tasks) mapped to lazily imported classes.

    Every loaded target must be a subclass of the kind's base class (``base``, given as
    'module:attr' so that this module imports no layer), or callable when the kind has no base
    class; a plug-in entry point that is not is a one-line :class:`ConfigError` naming the entry
    and where it came from.
    """

    def __init__(self, kind: str, catalog: str, group: str, listing: str, base: str | None = None) -> None:
        self.kind = kind
        self.listing = listing
        self._catalog = catalog
        self._group = group
        self._base = base
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
        """Add or replace an entry at run time (notebooks; tests use :meth:`registered`)."""
        self._load_entries()[name] = Entry(name, target, origin)
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove an entry added at run time (unknown names are ignored)."""
        self._load_entries().pop(name, None)
        self._loaded.pop(name, None)

    @contextmanager
    def registered(self, name: str, target: str, origin: str = "runtime") -> Iterator[None]:
        """Register ``name`` for the duration of a ``with`` block, then restore what was there."""
        previous = self._load_entries().get(name)
        self.register(name, target, origin)
        try:
            yield
        finally:
            if previous is None:
                self.unregister(name)
            else:
                self._entries[name] = previous  # type: ignore[index]
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
        """The class registered under ``name``, imported (and checked) on first use."""
        if name not in self._loaded:
            entry = self.entry(name)
            value = import_target(entry.target)
            self._check(entry, value)
            self._loaded[name] = value
        return self._loaded[name]

    def _check(self, entry: Entry, value: Any) -> None:
        where = f"{self.kind} '{entry.name}' ({entry.target}, from {entry.origin})"
        if self._base is None:
            if not callable(value):
                raise ConfigError(f"{where} is a {type(value).__name__}, not a callable")
            return
        base = import_target(self._base)
        if not (isinstance(value, type) and issubclass(value, base)):
            got = f"class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
            raise ConfigError(f"{where} is {got}, not a subclass of {base.__module__}.{base.__qualname__}")


adapters: "Registry[type[Adapter]]" = Registry(
    "adapter", "biasbench.adapters.catalog", "biasbench.adapters", "adapters", "biasbench.adapters.base:Adapter"
)
tts_backends: "Registry[type[TTSBackend]]" = Registry(
    "tts backend", "biasbench.voices.backends.catalog", "biasbench.tts", "tts", "biasbench.voices.backends.base:TTSBackend"
)
tasks: "Registry[type[Task]]" = Registry("task", "biasbench.tasks.catalog", "biasbench.tasks", "tasks", "biasbench.tasks.base:Task")
