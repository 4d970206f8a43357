"""The TTS-artifact qualifier inside the verdict sentence (formatting of the scorer's verdict, not a new number).

When the voice audit flags the very group a "clear gap" names as worst (its voices are hard to understand
even for an ASR model), the verdict itself says the gap may be a TTS artifact: a reader who sees only
the verdict column must not read it as model bias.
"""

from __future__ import annotations

from typing import Any, Iterable

from biasbench.reports.plotting import label

def flagged_groups(parity: dict[str, Any] | None) -> set[tuple[str, str]]:
    """(grouping, group) pairs the voice audit flags (parity.json ``flags`` entries)."""
    if not parity:
        return set()
    flags = parity.get("flags") or ()
    if isinstance(flags, dict):
        return set()
    return {(str(f.get("grouping", "")), str(f.get("group", ""))) for f in flags if isinstance(f, dict)}


def audit_flag_for(worst_group: str, grouping: str, flagged: Iterable[tuple[str, str]]) -> str | None:
    """The flagged group that covers ``worst_group``: the same group, or (for a cell such as
    'female|en-029') a flagged value on one of its axes ('en-029')."""
    parts = set(str(worst_group).split("|"))
    for flag_grouping, flag_group in sorted(flagged):
        if flag_group == worst_group and flag_grouping == grouping:
            return flag_group
        if flag_grouping != "cell" and flag_group in parts:
            return flag_group
        if flag_grouping == "cell" and flag_group == worst_group:
            return flag_group
    return None


def artifact_qualifier(worst_group: str, grouping: str, flagged: Iterable[tuple[str, str]]) -> str:
    """', possibly a TTS artifact (the voice audit flags en-029 voices as hard to understand)' when the audit
    flags the group a clear gap names as worst ('' otherwise): it goes inside that clause of the verdict."""
    flag = audit_flag_for(worst_group, grouping, flagged)
    if flag is None:
        return ""
    return f", possibly a TTS artifact (the voice audit flags {label(flag)} voices as hard to understand)"
