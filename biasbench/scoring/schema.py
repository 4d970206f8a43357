"""The score tables `biasbench score` writes: their names, meaning and columns.

Every table is long/tidy, has the key columns ``model, task, modality`` first, and ends with
``status`` and ``note``. ``status`` is ``"ok"`` when every number in the row is a real estimate;
any other value (see :data:`STATUSES`) says why a number is missing, and only then may a value
column be empty (null). Nothing is ever silently filled with 0.

Readers (reports, plots, leaderboard) import :data:`TABLES` rather than hard-coding columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

SCORER_VERSION = "2"
"""Bumped whenever a table's meaning or a method changes."""

STATUSES: Mapping[str, str] = MappingProxyType(
    {
        "ok": "every value in the row is an estimate",
        "no_rows": "the group has no scorable rows (empty group): value and CI are null",
        "all_invalid": "every answer in the group is invalid or a refusal: accuracy is a true 0 that reflects no parsable answer (see the rates)",
        "one_voice": "a group has a single voice: the CI reflects items only and understates voice-to-voice uncertainty",
        "items_only": "the CI resamples items only (voices could not be resampled): it understates voice-to-voice uncertainty",
        "no_ci": "the value is an estimate but no CI could be formed (fewer than 2 clusters)",
        "not_applicable": "the quantity does not apply (e.g. a single group, no ground truth)",
        "failed": "the method raised (e.g. a task metric function); the note has the reason",
    }
)
"""Values of the ``status`` column and what each means."""

GROUPINGS: Mapping[str, str] = MappingProxyType(
    {
        "overall": "all audio voices together (group '__all__')",
        "gender": "voices by gender label",
        "race": "voices by race label",
        "accent": "voices by accent label",
        "age_band": "voices by age band",
        "cell": "voices by intersectional cell on the pool axes (e.g. 'female|Black')",
        "voice": "one group per voice (CI over items only)",
        "item_group": "control feature: item stratum (MMLU subject, BBQ category)",
        "permutation": "control feature: option-order rotation presented",
    }
)
"""Values of the ``grouping`` column (axes appear only when the pool has them). Rows of the text-only
control (modality 'text', voice '__text__') have the groupings overall, item_group and permutation."""

OVERALL_GROUP = "__all__"
"""Group label of the 'overall' grouping."""

METRICS: Mapping[str, str] = MappingProxyType(
    {
        "accuracy": "correct / (rows that got an answer); invalid and refusal count as not correct, 'error' rows are excluded",
        "invalid_rate": "invalid / (rows that got an answer)",
        "refusal_rate": "refusal / (rows that got an answer)",
        "error_rate": "error / all rows (rows where the model gave no answer)",
        "wer": "mean word error rate over 'scored' rows of transcription tasks",
        "mean_score": "mean task score over 'scored' rows of other tasks",
    }
)
"""Built-in metrics of the ``metric`` column; task-specific scores (e.g. 'bbq_s_dis') are added by name."""


@dataclass(frozen=True)
class Column:
    """One column of a score table."""

    name: str
    """Column name."""
    dtype: str
    """pandas dtype: 'string', 'float64', 'int64' or 'bool' (float columns may be null only when status != 'ok')."""
    meaning: str
    """One line."""


@dataclass(frozen=True)
class TableSpec:
    """A score table: file stem under ``scores/`` (``.csv`` and ``.parquet``), meaning, columns."""

    name: str
    """File stem, e.g. 'group_metrics' -> scores/group_metrics.csv."""
    meaning: str
    """One line."""
    columns: tuple[Column, ...]
    """Columns in file order."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def dtypes(self) -> dict[str, str]:
        return {column.name: column.dtype for column in self.columns}


def _c(name: str, dtype: str, meaning: str) -> Column:
    return Column(name, dtype, meaning)


_KEY = (
    _c("model", "string", "model label from the config"),
    _c("task", "string", "task name"),
    _c("modality", "string", "'audio' or 'text'"),
)
_GROUPING = _c("grouping", "string", "how rows are grouped (see GROUPINGS)")
_CI = (
    _c("ci_low", "float64", "lower end of the 95% percentile CI (two-way cluster bootstrap over items and voices)"),
    _c("ci_high", "float64", "upper end of the 95% percentile CI"),
)
_STATUS = (
    _c("status", "string", "'ok' or why a value is missing or qualified (see STATUSES)"),
    _c("note", "string", "human-readable detail ('' when status is 'ok')"),
)
_COUNTS = (
    _c("n_rows", "int64", "rows in the denominator of the metric"),
    _c("n_items", "int64", "distinct items among those rows"),
    _c("n_voices", "int64", "distinct voices among those rows"),
)

GROUP_METRICS = TableSpec(
    "group_metrics",
    "every metric for every group of every grouping, with counts and a 95% CI",
    (*_KEY, _GROUPING, _c("group", "string", "group label ('__all__' for overall)"),
     _c("metric", "string", "metric name (see METRICS; task-specific names added by tasks)"),
     _c("value", "float64", "the metric in this group"), *_CI, *_COUNTS, *_STATUS),
)

SUMMARY = TableSpec(
    "summary",
    "one row per model × task × modality × grouping × group: headline metric with CI, rates and counts (also run_dir/summary.csv)",
    (*_KEY, _GROUPING, _c("group", "string", "group label"), *_COUNTS,
     _c("metric", "string", "headline metric: 'accuracy' (multiple choice), 'wer' (transcription) or 'mean_score'"),
     _c("value", "float64", "headline metric value"), *_CI,
     _c("invalid_rate", "float64", "invalid / rows that got an answer"),
     _c("refusal_rate", "float64", "refusal / rows that got an answer"),
     _c("error_count", "int64", "rows that got no answer (excluded from every rate)"),
     *_STATUS),
)

GAPS = TableSpec(
    "gaps",
    "differences between groups of one grouping, with 95% CIs from the same bootstrap replicates",
    (*_KEY, _GROUPING, _c("metric", "string", "metric compared"),
     _c("kind", "string", "'max_minus_min' (largest − smallest group), 'min_over_max' (ratio), 'worst_group' (value of the "
        "worst group: lowest accuracy, highest WER/rates), 'vs_rest' (group − all other voices), 'pair' (group − reference)"),
     _c("group", "string", "the group (worst group for max_minus_min/min_over_max/worst_group; '' when no single group)"),
     _c("reference", "string", "what it is compared to ('__rest__', another group, or the best group)"),
     _c("value", "float64", "the gap (difference, ratio or worst value)"), *_CI,
     _c("p_boot", "float64", "two-sided bootstrap p-value for 'no difference' (ratio: 1)"),
     *_STATUS),
)

FLIPS = TableSpec(
    "flips",
    "answer flips: how often two voices give different parsed answers to the same item (no ground truth needed)",
    (*_KEY, _GROUPING,
     _c("quantity", "string", "'within_group' (pairs of voices of the same group: noise floor), 'cross_group' (pairs from "
        "different groups) or 'excess' (cross − within: the bias signal)"),
     _c("value", "float64", "flip rate (share of voice pairs whose answers differ) or the excess"), *_CI,
     _c("n_items", "int64", "items with at least two answered voices"),
     _c("n_pairs", "int64", "voice pairs compared (summed over items; for 'excess': within + cross)"), *_STATUS),
)

EQUIVALENCE = TableSpec(
    "equivalence",
    "TOST equivalence: is every group within ±delta of the rest (a fairness certificate when it passes)",
    (*_KEY, _GROUPING, _c("metric", "string", "metric compared"),
     _c("group", "string", "the group"), _c("reference", "string", "'__rest__'"),
     _c("delta", "float64", "equivalence margin"),
     _c("difference", "float64", "group − rest"),
     _c("ci90_low", "float64", "lower end of the 90% bootstrap CI (TOST at alpha 0.05)"),
     _c("ci90_high", "float64", "upper end of the 90% bootstrap CI"),
     _c("p_value", "float64", "TOST p-value (max of the two one-sided bootstrap p-values)"),
     _c("equivalent", "bool", "True when the 90% CI lies inside [-delta, delta]"), *_STATUS),
)

SIGNIFICANCE = TableSpec(
    "significance",
    "hypothesis tests of 'no difference between groups'",
    (*_KEY, _GROUPING,
     _c("test", "string", "'permutation' (group labels permuted across voices, within strata of the other axes), "
        "'cochran_q' (paired binary outcomes across groups; treats voices as fixed, flagged in its note). "
        "Single tests, not family-wise: the claims are in the headline table"),
     _c("term", "string", "statistic name"),
     _c("statistic", "float64", "test statistic (permutation: max − min accuracy; cochran_q: Q)"),
     _c("estimate", "float64", "the observed statistic"),
     _c("p_value", "float64", "p-value"),
     _c("df", "float64", "degrees of freedom (cochran_q); null for the others"),
     _c("n", "int64", "units used (permutations, rows, or blocks)"), *_STATUS),
)

POWER = TableSpec(
    "power",
    "minimum detectable effect (difference between two groups) at 80% power, alpha 0.05, for this pool and item set",
    (*_KEY, _GROUPING, _c("metric", "string", "metric"),
     _c("group", "string", "first group"), _c("reference", "string", "second group"),
     _c("n_items", "int64", "items"), _c("voices_group", "int64", "voices in group"),
     _c("voices_reference", "int64", "voices in reference"),
     _c("se", "float64", "bootstrap standard error of the difference"),
     _c("mde", "float64", "(z_0.975 + z_0.80) × se: smaller true gaps are likely missed"), *_STATUS),
)

TEXT_CONTROL = TableSpec(
    "text_control",
    "audio vs text-only control per model and group: separates 'did not understand the audio' from 'treated the speaker differently'",
    (*_KEY[:2], _GROUPING, _c("group", "string", "audio group"), _c("metric", "string", "metric"),
     _c("audio_value", "float64", "metric on audio rows of the group"),
     _c("text_value", "float64", "metric on the text control (same items)"),
     _c("gap", "float64", "audio − text"), *_CI,
     _c("n_items", "int64", "items with both audio and text rows"), *_STATUS),
)

POSITION_BIAS = TableSpec(
    "position_bias",
    "option-position effects: accuracy by presented position of the correct option, and share of answers per presented position",
    (*_KEY,
     _c("quantity", "string", "'accuracy_by_target_position' or 'answer_share_by_position'"),
     _c("position", "int64", "presented option index (0 = first)"),
     _c("value", "float64", "accuracy, or share of valid answers that chose this position"),
     _c("expected", "float64", "share expected without position bias (1 / options); null for accuracy"),
     _c("n_rows", "int64", "rows"), *_STATUS),
)

WARNINGS = TableSpec(
    "warnings",
    "every caveat found while scoring (also returned as ScoreTables.warnings)",
    (_c("code", "string", "machine-readable code (e.g. 'one_voice', 'empty_group', 'all_invalid')"),
     _c("message", "string", "one line for humans")),
)

SCORING = TableSpec(
    "scoring",
    "how the tables were made: key/value pairs (scorer version, seed, n_boot, methods)",
    (_c("key", "string", "setting"), _c("value", "string", "its value")),
)

HEADLINE = TableSpec(
    "headline",
    "THE claims of a run: one decision per model × task × modality × metric × axis (each pool axis and 'cell'), "
    "family-wise error controlled; reports only format this table",
    (*_KEY,
     _c("metric", "string", "metric decided on: 'accuracy' (multiple choice), 'wer' (transcription), 'mean_score', or a task metric"),
     _c("direction", "string", "'higher_better', 'lower_better', 'target:<value>[:above|below]' or 'undeclared'"),
     _c("axis", "string", "pool axis, or 'cell' (the intersection of the pool axes)"),
     _c("worst_group", "string", "the group significantly worse off than the rest (tied groups joined by ' = '); '' unless verdict is clear_gap"),
     _c("worst_value", "float64", "the worst group's metric value (null unless clear_gap)"),
     _c("best_group", "string", "the group least harmed (null unless clear_gap)"),
     _c("gap", "float64", "harm(most harmed group) − harm(least harmed group), on the metric's scale (>= 0; positive = worse for the worst group)"),
     _c("ci_low", "float64", "lower end of the simultaneous 95% CI of gap (max-|t| two-way cluster bootstrap over every contrast of the family)"),
     _c("ci_high", "float64", "upper end of that CI"),
     _c("p_adjusted", "float64", "family-wise adjusted p of 'the most harmed group is no worse than the rest' (voice permutation max-t, Westfall–Young, Holm across axes)"),
     _c("verdict", "string", "'clear_gap', 'no_clear_gap', 'equivalent' (every pair within ±delta, simultaneous) or 'not_estimable'"),
     _c("n_items", "int64", "items with scorable rows"),
     _c("n_voices", "int64", "voices with scorable rows"),
     _c("mde", "float64", "worse-than-rest gap detected with about 80% power by this family-wise test"),
     _c("note", "string", "method, reason for not_estimable, ties, largest observed difference when no group is named"),
     _c("dominant", "string", "for a clear gap in a run with understanding.csv: the part of the worst group's gap that dominates "
        "(scores/decomposition.csv): 'understanding' (clips not understood), 'treatment' (understood clips answered differently), "
        "'both', 'unclear' or 'no_ci'; '' otherwise")),
)

CALIBRATION = TableSpec(
    "calibration",
    "calibration instruments only: planted vs recovered accuracy per group of the planted axis (does the instrument measure what was planted?)",
    (*_KEY, _c("axis", "string", "the planted axis"), _c("group", "string", "group"),
     _c("planted", "float64", "accuracy planted for a typical voice of the group"),
     _c("planted_population", "float64", "its population value over the adapter's voice and item offsets (the estimand)"),
     _c("recovered", "float64", "the scorer's accuracy for the group"), *_CI,
     _c("covered", "bool", "planted_population lies inside the 95% CI"),
     _c("note", "string", "'' or why the row needs attention")),
)

TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {spec.name: spec for spec in (HEADLINE, CALIBRATION, SUMMARY, GROUP_METRICS, GAPS, FLIPS, EQUIVALENCE, SIGNIFICANCE, POWER,
                                  TEXT_CONTROL, POSITION_BIAS, WARNINGS, SCORING)}
)
"""Every table `biasbench score` writes, by file stem."""
