"""Load a task from a shipped name, a spec path or a registered kind, with parameter overrides.

A spec is YAML: ``kind:`` (a registered task kind) plus that kind's Config fields. ``params``
override spec fields; the task name defaults to the spec's file stem (or the kind's name).

Relative paths in a kind's ``path_fields`` are resolved against, in order, the run config's
folder (``base_dir``), the current directory, and the spec file's folder; the first that exists
wins, and when none exists the error names every place looked at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from biasbench.core.yamlio import read_yaml
from biasbench.core import registry
from biasbench.core.errors import BiasbenchError, ConfigError, DataError, SpecProblems, UnknownNameError
from biasbench.core.params import parse_params
from biasbench.core.registry import did_you_mean, import_target
from biasbench.resources import resolve_spec, shipped_specs
from biasbench.tasks.base import Task


def load_task(ref: str, params: Mapping[str, Any] | None = None, base_dir: Path | None = None) -> Task:
    """The task ``ref`` names, configured by its spec and ``params``; its data is read and checked."""
    spec_path = resolve_spec(ref, "tasks", base_dir)
    if spec_path is not None:
        values = read_yaml(spec_path, "task spec")
        kind = values.pop("kind", None)
        if not isinstance(kind, str) or not kind:
            raise ConfigError(f"task spec {spec_path} has no 'kind:' (one of {', '.join(registry.tasks.names())})")
        values.setdefault("name", spec_path.stem)
        where = f"task '{values['name']}'"
    elif str(ref) in registry.tasks.names():
        kind, values, where = str(ref), {"name": str(ref)}, f"task '{ref}'"
    elif str(ref).endswith((".yaml", ".yml")):
        raise ConfigError(f"task spec not found: {ref}")
    else:
        known = sorted(set(shipped_specs("tasks")) | set(registry.tasks.names()))
        raise UnknownNameError(f"unknown task '{ref}'{did_you_mean(str(ref), known)}", hint="`biasbench ls tasks` lists them")
    task_cls = registry.tasks.get(kind)
    if not (isinstance(task_cls, type) and issubclass(task_cls, Task)):
        raise ConfigError(f"task kind '{kind}' resolves to {task_cls!r}, which is not a Task class")
    values.update(params or {})
    spec_dir = spec_path.parent if spec_path is not None else None
    problems: list[BiasbenchError] = []
    try:  # the schema first, so a misspelled parameter is not hidden behind a missing data path
        parse_params(task_cls.Config, values, where)
    except ConfigError as exc:
        problems.append(exc)
    for field in task_cls.path_fields:
        if isinstance(values.get(field), (str, Path)):
            try:
                values[field] = str(resolve_data_path(str(values[field]), base_dir, spec_dir, f"{where}.{field}"))
            except DataError as exc:
                problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecProblems(where, [line for problem in problems for line in getattr(problem, "problems", None) or [problem.one_line()]])
    task = task_cls(parse_params(task_cls.Config, values, where))
    for target in task.config.metrics:
        try:
            function = import_target(target)
        except ConfigError as exc:
            raise ConfigError(f"{where}.metrics: {exc.message}") from None
        if not callable(function):
            raise ConfigError(f"{where}.metrics: '{target}' is not a function")
    try:
        task.items()
    except BiasbenchError as exc:
        if not exc.message.startswith(where):
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.one_line(),)
        raise
    return task


def resolve_data_path(value: str, base_dir: Path | None, spec_dir: Path | None, where: str) -> Path:
    """``value`` as an existing path (see the module docstring for the search order)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [d / path for d in (base_dir, Path.cwd(), spec_dir) if d is not None]
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DataError(f"{where}: data path '{value}' not found (looked at {looked})")


def available_tasks() -> list[tuple[str, str]]:
    """(name, description) of every shipped task spec and registered task kind, sorted by name."""
    listed: dict[str, str] = {}
    for name, path in shipped_specs("tasks").items():
        try:
            spec = read_yaml(path, "task spec")
            listed[name] = str(spec.get("description") or f"kind: {spec.get('kind', '?')}")
        except BiasbenchError as exc:
            listed[name] = f"(unreadable spec: {exc.one_line()})"
    for entry in registry.tasks.entries():
        if entry.name not in listed:
            listed[entry.name] = f"task kind ({entry.origin}): {_kind_summary(entry.target)}"
    return sorted(listed.items())


def _kind_summary(target: str) -> str:
    try:
        doc = registry.import_target(target).__doc__ or ""
    except BiasbenchError as exc:
        return f"cannot import: {exc.one_line()}"
    return doc.strip().splitlines()[0] if doc.strip() else target
