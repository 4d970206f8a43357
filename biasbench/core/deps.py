"""Deferred imports of optional heavy dependencies, with an install hint instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from biasbench.core.errors import MissingExtraError


def require(module: str, extra: str, *, purpose: str = "", package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``biasbench[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(package or module.split(".")[0], extra, purpose=purpose) from None


def is_available(module: str) -> bool:
    """True when ``module`` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
