"""Deferred imports of optional heavy dependencies, with an install hint instead of a traceback."""

from __future__ import annotations

import importlib
import importlib.util
import re
from importlib import metadata
from types import ModuleType

from biasbench.core.errors import MissingExtraError, OutdatedPackageError


def require(
    module: str, extra: str, *, purpose: str = "", package: str | None = None, min_version: str | None = None
) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``biasbench[extra]``.

    With ``min_version``, an installed distribution (``package``, default the module's top-level
    name) older than that raises :class:`OutdatedPackageError` instead of failing later with an
    obscure attribute error.
    """
    distribution = package or module.split(".")[0]
    try:
        imported = importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(distribution, extra, purpose=purpose) from None
    if min_version is not None:
        installed = installed_version(distribution, imported)
        if installed is not None and version_tuple(installed) < version_tuple(min_version):
            raise OutdatedPackageError(distribution, installed, min_version, extra, purpose=purpose)
    return imported


def installed_version(distribution: str, imported: ModuleType | None = None) -> str | None:
    """The installed version of ``distribution`` (metadata, else the module's ``__version__``)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        version = getattr(imported, "__version__", None)
        return str(version) if version is not None else None


def version_tuple(version: str) -> tuple[int, ...]:
    """'2.1.0rc1' -> (2, 1, 0): the leading numeric release segments (enough for a minimum check)."""
    numbers: list[int] = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):
            break
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def check_installed(module: str, extra: str, *, purpose: str = "", package: str | None = None) -> None:
    """Raise :class:`MissingExtraError` when ``module``'s top-level package is not installed,
    without importing it (validation must stay fast; importing torch-based engines is not)."""
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(package or top, extra, purpose=purpose)


def is_available(module: str) -> bool:
    """True when ``module`` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
