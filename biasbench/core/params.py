"""Base for the parameter models of adapters, TTS backends and tasks (validated, unknown keys rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from biasbench.core.errors import ConfigError


class Params(BaseModel):
    """Pydantic model with ``extra='forbid'`` and frozen instances."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validation_messages(error: ValidationError, where: str) -> list[str]:
    """One line per pydantic problem, prefixed with ``where`` and the field path."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        place = f"{where}.{location}" if location else where
        lines.append(f"{place}: {problem['msg']}")
    return lines


def parse_params(model: type[Params], values: dict[str, Any] | None, where: str) -> Any:
    """Validate ``values`` against ``model``; every problem in one :class:`ConfigError`."""
    try:
        return model(**(values or {}))
    except ValidationError as exc:
        raise ConfigError("; ".join(validation_messages(exc, where))) from None
