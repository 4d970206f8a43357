"""Links from a report's group numbers to the viewer rows behind them (`biasbench view RUN_DIR`)."""

from __future__ import annotations

from urllib.parse import urlencode

DEFAULT_PORT = 8765
"""`biasbench view`'s default port (the links in reports assume it)."""
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"


def rows_link(model: str, task: str, modality: str, grouping: str, group: str, base: str = DEFAULT_URL) -> str:
    """The viewer URL whose filters select the rows behind one group number of the score tables."""
    query = {"model": model, "task": task, "modality": modality}
    if grouping == "voice":
        query["voice"] = group
    elif grouping == "cell":
        query["group"] = group.replace("|", " × ")
    elif grouping not in ("overall", "text", "item_group", "") and group:
        query["group"] = f"{grouping}: {group}"
    return base + "?" + urlencode(query)
