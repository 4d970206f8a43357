"""Base for the parameter models of adapters, TTS backends and tasks (validated, unknown keys rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from biasbench.core.errors import ConfigError


class Params(BaseModel):
    """Pydantic model with ``extra='forbid'`` and frozen instances."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamsError(ConfigError):
    """Parameters that fail validation; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


def validation_messages(error: ValidationError, where: str, known: list[str] | None = None) -> list[str]:
    """One line per pydantic problem, prefixed with ``where`` and the field path; an unknown top-level
    key names the closest ``known`` field."""
    from biasbench.core.registry import did_you_mean

    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        place = f"{where}.{location}" if location else where
        hint = ""
        if known and problem["type"] == "extra_forbidden" and len(problem["loc"]) == 1:
            hint = did_you_mean(str(problem["loc"][0]), known)
        lines.append(f"{place}: {problem['msg']}{hint}")
    return lines


def parse_params(model: type[Params], values: dict[str, Any] | None, where: str) -> Any:
    """Validate ``values`` against ``model``; every problem in one :class:`ParamsError`."""
    try:
        return model(**(values or {}))
    except ValidationError as exc:
        raise ParamsError(validation_messages(exc, where, list(model.model_fields))) from None
