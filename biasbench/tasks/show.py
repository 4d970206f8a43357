"""A readable preview of a task: identity, counts, exclusions and one rendered item (for `biasbench tasks show`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from biasbench.core.errors import ConfigError
from biasbench.core.registry import did_you_mean
from biasbench.tasks.base import MODALITIES, Task


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["fraction=0.05", "subjects=[astronomy]"]`` -> parameters (values read as YAML)."""
    params: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got '{assignment}'")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key.strip()}: value '{value}' is not valid YAML") from None
    return params


def preview(task: Task, item_id: str | None = None, rotation: int = 0, max_exclusions: int = 10) -> str:
    """Text describing ``task`` and rendering one item in every modality it supports."""
    items = list(task.items())
    exclusions = list(task.exclusions())
    info = task.describe()
    lines = [
        f"task {task.name} (kind {info['kind']}, version {info['version']}, answer type {info['answer_type']}, "
        f"parser {info['parser_version']})",
        f"items: {len(items)} kept, {len(exclusions)} excluded; modalities: {', '.join(task.config.modalities)}; "
        f"rotations: {task.config.rotations} ({task.config.counterbalance})",
    ]
    strata = getattr(task, "stratification", None)
    if callable(strata):
        table = strata()
        total_target, total_kept = sum(r["target"] for r in table), sum(r["kept"] for r in table)
        total_available = sum(r["available"] for r in table)
        lines.append(f"coverage: {total_kept} of {total_target} target items kept ({_share(total_kept, total_target)}) "
                     f"from {total_available} available")
        lines.append("per group: available / speakable / target / kept")
        lines.extend(f"  {row['subject']}: {row['available']} / {row.get('speakable', row['available'] - row['excluded'])} / "
                     f"{row['target']} / {row['kept']}" for row in table)
        short = [row for row in table if row.get("shortfall")]
        lines.append(f"shortfalls: {len(short)} group(s) below target" + (":" if short else ""))
        lines.extend(f"  {row['subject']}: {row['kept']} of {row['target']} ({row['shortfall']} short): {row['shortfall_reason']}"
                     for row in short)
    elif any(task.item_group(item) for item in items):
        counts = Counter(task.item_group(item) for item in items)
        lines.append("items per group: " + ", ".join(f"{group} {n}" for group, n in sorted(counts.items())))
    if exclusions:
        reasons = Counter(_reason_kind(e.reason) for e in exclusions)
        lines.append("exclusion reasons: " + "; ".join(f"{reason}: {n}" for reason, n in reasons.most_common()))
        lines.extend(f"  excluded {e.item_id}: {e.reason}" for e in exclusions[:max_exclusions])
        if len(exclusions) > max_exclusions:
            lines.append(f"  ... {len(exclusions) - max_exclusions} more")
    if not items:
        lines.append("(no items to render)")
        return "\n".join(lines)
    item = _pick(items, item_id)
    lines.append(f"\nitem {item.id} (group '{task.item_group(item)}', target {task.target_label(item) or '-'}), rotation {rotation}")
    for modality in MODALITIES:
        if modality not in task.config.modalities:
            continue
        prompt = task.render(item, modality, rotation)
        lines.append(f"[{modality}]")
        if prompt.spoken_text is not None:
            lines.append(f"  spoken: {prompt.spoken_text}")
        lines.extend(f"  text:   {line}" if i == 0 else f"          {line}" for i, line in enumerate(prompt.text.splitlines()))
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _pick(items: list, item_id: str | None):
    if item_id is None:
        return items[0]
    for item in items:
        if item.id == item_id:
            return item
    raise ConfigError(f"no item '{item_id}' in this task{did_you_mean(item_id, [i.id for i in items])}")


def _reason_kind(reason: str) -> str:
    return "; ".join("too long" if "max_audio_seconds" in part else part.split(" (")[0] for part in reason.split("; "))

