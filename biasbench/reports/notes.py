"""The Notes sheet: every metric, status, grouping and sheet explained in plain words."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from biasbench.reports.sheet import Sheet

SUMMARY_TERMS = {
    "overall": "the headline metric over every audio voice (accuracy for multiple choice, WER for transcription)",
    "text_control": "the same items sent as text, no voice: if audio is much worse, the model struggles to hear, "
    "whoever speaks",
    "worst_group": "the group with the lowest accuracy (or highest WER) on the gap's grouping",
    "max_gap": "largest minus smallest group value; 95% CI from a bootstrap that resamples items AND voices, "
    "because each voice is only one sample of its group",
    "flip_excess": "how much more often two voices from different groups give different answers to the same item "
    "than two voices from the same group; above 0 means the group, not just the voice, changes answers",
    "test_p_value": "p-value of a test of 'no difference between groups' (permutation of group labels across voices)",
    "invalid_rate": "share of answers that could not be parsed; never replaced by a guess, and compared across groups "
    "because it can be biased too",
    "verdict": "'clear gap' when the gap's 95% CI excludes 0; otherwise the gap is within noise at this sample size",
    "notice": "set when the pool is a demonstration pool (not a race pool) or the model is a calibration instrument "
    "(planted behaviour)",
    "percent columns": "accuracies, rates and WER are shown as percentages; their differences are percentage points",
}


def notes_sheet(sheets: Sequence[Sheet]) -> Sheet:
    """Plain-word explanations of the Summary columns, metrics, statuses, groupings and every sheet."""
    from biasbench.scoring.schema import GROUPINGS, METRICS, STATUSES

    rows: list[tuple[str, str, str]] = []
    rows += [("Summary column", term, text) for term, text in SUMMARY_TERMS.items()]
    rows += [("metric", name, text) for name, text in METRICS.items()]
    rows += [("grouping", name, text) for name, text in GROUPINGS.items()]
    rows += [("status", name, text) for name, text in STATUSES.items()]
    rows += [("sheet", sheet.name, sheet.description or "") for sheet in sheets]
    frame = pd.DataFrame(rows, columns=["section", "term", "explanation"])
    return Sheet(
        "Notes",
        frame,
        description="what every metric, status, grouping and sheet means",
        formats={c: "text" for c in frame.columns},
        order=990,
    )
