"""`judge_run`: pointwise and pairwise judge scores of a finished run's long-form answers, and their reliability.

The judge reads what the models answered (``results``) and the request each item asked (rebuilt
from the task recorded in the manifest); it never sees the voice or the speaker's labels. Pairwise:
for every item and model, voices of two groups on ``pair_axis`` are paired within the same values
of the pool's other axes, and each pair is judged twice, once in each position order.

Files written under ``RUN_DIR/judge/`` (names in :data:`FILES`): judgements.jsonl (the store),
pointwise.csv, pairwise.csv, groups.csv (means and win rates per group) and reliability.csv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from biasbench.core.errors import BiasbenchError, ConfigError, DataError
from biasbench.core.hashing import stable_hash
from biasbench.core.result import TEXT_VOICE
from biasbench.core.rundir import Manifest
from biasbench.judge.client import JudgeClient
from biasbench.judge.config import JudgeConfig
from biasbench.judge.parse import parse_pairwise, parse_pointwise
from biasbench.judge.rubric import Rubric
from biasbench.judge.store import JudgementStore, judgement_key

JUDGE_DIR = "judge"
"""Folder of the judge's files inside a run directory."""
FILES = MappingProxyType({
    "store": "judgements.jsonl", "pointwise": "pointwise.csv", "pairwise": "pairwise.csv", "groups": "groups.csv",
    "reliability": "reliability.csv",
})
"""File names inside :data:`JUDGE_DIR`."""

ANSWERED = ("correct", "incorrect", "scored")
"""Row outcomes that count as 'the model answered' for the deterministic agreement check."""


@dataclass(frozen=True)
class JudgeReport:
    """What a judge run did."""

    tables: Mapping[str, pd.DataFrame]
    """'pointwise', 'pairwise', 'groups', 'reliability'."""
    judge_calls: int
    """Requests sent to the judge (cache misses)."""
    reused: int
    """Judgements taken from the store."""
    folder: Path
    """Where the files were written."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Caveats (invalid judge replies, items without a pair)."""


def _item_texts(manifest: Manifest, tasks: set[str]) -> dict[tuple[str, str], str]:
    """(task, item id) -> the request text, from the tasks recorded in the manifest."""
    from biasbench.core import registry

    out: dict[tuple[str, str], str] = {}
    for info in manifest.tasks:
        name = info.name
        if name not in tasks:
            continue
        try:
            task = registry.tasks.get(info.kind).from_params(dict(info.config), where=f"task '{name}'")
            for item in task.items():
                out[(name, item.id)] = item.text
        except BiasbenchError as exc:
            raise DataError(f"cannot rebuild task '{name}' to read its requests: {exc.one_line()}") from None
    return out


def _rows_to_judge(frame: pd.DataFrame, manifest: Manifest, config: JudgeConfig) -> pd.DataFrame:
    answer_types = {t.name: t.answer_type for t in manifest.tasks}
    tasks = set(config.tasks) if config.tasks else {t for t, kind in answer_types.items() if kind == "open_ended"}
    unknown = sorted(tasks - set(answer_types))
    if unknown:
        raise ConfigError(f"the run has no task {', '.join(unknown)} (it has {', '.join(sorted(answer_types)) or 'none'})")
    rows = frame[frame["task"].isin(tasks) & (frame["outcome"] != "error") & (frame["response"].astype(str).str.strip() != "")]
    if rows.empty:
        raise DataError("no answered rows to judge in the chosen tasks", hint="judge open-ended tasks with long-form answers")
    texts = _item_texts(manifest, tasks)
    missing = sorted({(t, i) for t, i in zip(rows["task"], rows["item_id"])} - set(texts))
    if missing:
        raise DataError(f"{len(missing)} judged items are not in their task any more (e.g. {missing[0][0]}/{missing[0][1]})")
    rows = rows.copy()
    rows["request"] = [texts[(t, i)] for t, i in zip(rows["task"], rows["item_id"])]
    return rows


class _Judge:
    """Asks through the store: a stored judgement is reused, a new one is requested and stored."""

    def __init__(self, config: JudgeConfig, rubric: Rubric, store: JudgementStore) -> None:
        self.config, self.rubric, self.store = config, rubric, store
        self.client = JudgeClient(config)
        self.reused = 0

    def reply(self, prompt: str, repeat: int) -> tuple[str, str]:
        key = judgement_key(self.config.model, self.rubric.digest(), prompt, repeat)
        stored = self.store.get(key)
        if stored is not None:
            self.reused += 1
            return key, stored
        reply = self.client.ask(prompt, repeat)
        self.store.put(key, reply, snapshot=self.config.model, rubric=self.rubric.digest(), prompt_sha=stable_hash(prompt)[:16],
                       repeat=repeat)
        return key, reply


def judge_run(run_dir: Path, config: JudgeConfig, rubric: Rubric) -> JudgeReport:
    """Judge ``run_dir`` and write the tables (see the module docstring)."""
    from biasbench.runner.manifest import require_manifest
    from biasbench.scoring.rundata import load_run

    run_dir = Path(run_dir)
    data = load_run(run_dir)
    if "response" not in data.frame.columns:
        raise DataError(f"the results in '{run_dir}' have no response column to judge")
    manifest = require_manifest(run_dir)
    rows = _rows_to_judge(data.frame, manifest, config)
    folder = run_dir / JUDGE_DIR
    judge = _Judge(config, rubric, JudgementStore(folder / FILES["store"]))
    notes: list[str] = []
    pointwise = _pointwise(rows[rows["modality"].isin(config.modalities)], judge, notes)
    pairwise = _pairwise(rows[rows["modality"] == "audio"], data.axes, judge, notes)
    tables = {
        "pointwise": pointwise, "pairwise": pairwise, "groups": group_summary(pointwise, pairwise, rubric, data.axes),
        "reliability": reliability(pointwise, pairwise, rubric),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / FILES[name], index=False)
    return JudgeReport(MappingProxyType(tables), judge.client.calls, judge.reused, folder, tuple(notes))


def _identity(judge: _Judge) -> dict[str, str]:
    return {"judge": judge.config.model, "rubric": f"{judge.rubric.name}@{judge.rubric.version}", "rubric_hash": judge.rubric.digest()}


def _pointwise(rows: pd.DataFrame, judge: _Judge, notes: list[str]) -> pd.DataFrame:
    records = []
    invalid = 0
    for row in rows.itertuples(index=False):
        prompt = judge.rubric.pointwise(row.request, str(row.response))
        for repeat in range(judge.config.repeats):
            key, reply = judge.reply(prompt, repeat)
            scores = parse_pointwise(reply, judge.rubric.names)
            invalid += scores is None
            records.append({
                "model": row.model, "task": row.task, "item_id": row.item_id, "voice_id": row.voice_id, "modality": row.modality,
                "gender": row.gender, "race": row.race, "accent": row.accent, "age_band": row.age_band, "cell": row.cell,
                "outcome": row.outcome, "own_gender_share": _own_gender_share(row), "repeat": repeat, "valid": scores is not None,
                **{name: (scores or {}).get(name) for name in judge.rubric.names}, **_identity(judge), "score_key": key,
            })
    if invalid:
        notes.append(f"{invalid} pointwise judge replies were not valid JSON scores (kept as invalid, not imputed)")
    return pd.DataFrame.from_records(records)


def _own_gender_share(row: Any) -> float | None:
    """BLS share (%) of the speaker's gender in the occupation the answer named (open probes), else None."""
    import json

    details = getattr(row, "details", "")
    try:
        parsed = json.loads(details) if isinstance(details, str) and details.strip() else {}
    except json.JSONDecodeError:
        return None
    women = parsed.get("pct_women") if isinstance(parsed, dict) else None
    if not isinstance(women, (int, float)) or row.gender not in ("female", "male"):
        return None
    return float(women) if row.gender == "female" else 100.0 - float(women)


def _pairs(voices: pd.DataFrame, axis: str, other: list[str], limit: int) -> list[tuple[str, str]]:
    """Voice pairs (group a, group b) on ``axis``, matched on the ``other`` axes, in a stable order."""
    groups = sorted(g for g in voices[axis].unique() if g)
    if len(groups) != 2:
        return []
    out = []
    for _, stratum in voices.groupby(other, sort=True) if other else [("", voices)]:
        a = sorted(stratum.loc[stratum[axis] == groups[0], "voice_id"])
        b = sorted(stratum.loc[stratum[axis] == groups[1], "voice_id"])
        out.extend(zip(a, b))
    return out[:limit]


def _pairwise(rows: pd.DataFrame, axes: tuple[str, ...], judge: _Judge, notes: list[str]) -> pd.DataFrame:
    axis = judge.config.pair_axis
    records = []
    if axis not in rows.columns or rows[axis].replace("", np.nan).nunique() != 2:
        notes.append(f"no pairwise judgements: the pair axis '{axis}' does not have exactly 2 groups in the audio rows")
        return pd.DataFrame()
    other = [a for a in axes if a != axis and a in rows.columns and rows[a].replace("", np.nan).nunique() > 1]
    unpaired = 0
    for (model, task, item_id), part in rows[rows["voice_id"] != TEXT_VOICE].groupby(["model", "task", "item_id"], sort=True):
        first = part[part["repeat"] == part["repeat"].min()].drop_duplicates("voice_id").set_index("voice_id", drop=False)
        pairs = _pairs(first, axis, other, judge.config.max_pairs_per_item)
        unpaired += not pairs
        for voice_a, voice_b in pairs:
            a, b = first.loc[voice_a], first.loc[voice_b]
            for order, (left, right) in (("ab", (a, b)), ("ba", (b, a))):
                prompt = judge.rubric.pairwise(str(a["request"]), str(left["response"]), str(right["response"]))
                key, reply = judge.reply(prompt, 0)
                choice = parse_pairwise(reply, judge.rubric.names)
                record = {"model": model, "task": task, "item_id": item_id, "axis": axis, "voice_a": voice_a, "voice_b": voice_b,
                          "group_a": a[axis], "group_b": b[axis], "order": order, "valid": choice is not None,
                          **_identity(judge), "score_key": key}
                for name in judge.rubric.names:  # the winner as a voice role ('a', 'b', 'tie'), whatever the position
                    picked = (choice or {}).get(name)
                    record[name] = None if picked is None else ("tie" if picked == "tie" else
                                                                 ("a" if (picked == "A") == (order == "ab") else "b"))
                records.append(record)
    if unpaired:
        notes.append(f"{unpaired} items had no voice pair on '{axis}' (matched on {', '.join(other) or 'nothing'})")
    return pd.DataFrame.from_records(records)


def group_summary(pointwise: pd.DataFrame, pairwise: pd.DataFrame, rubric: Rubric, axes: tuple[str, ...]) -> pd.DataFrame:
    """Mean pointwise score per model × task × grouping × group, and pairwise win rates per group."""
    records = []
    valid = pointwise[pointwise["valid"] & (pointwise["modality"] == "audio")] if not pointwise.empty else pointwise
    for grouping in [*(a for a in axes if a in valid.columns), "cell"]:
        if valid.empty:
            break
        for (model, task, group), part in valid.groupby(["model", "task", grouping], sort=True):
            if not group:
                continue
            for criterion in rubric.criteria:
                records.append({"model": model, "task": task, "grouping": grouping, "group": group, "kind": "pointwise_mean",
                                "criterion": criterion.name, "direction": criterion.direction,
                                "value": float(part[criterion.name].astype(float).mean()), "n": len(part)})
    if not pairwise.empty:
        usable = pairwise[pairwise["valid"]]
        for (model, task), part in usable.groupby(["model", "task"], sort=True):
            for criterion in rubric.criteria:
                winners = part[criterion.name]
                for role in ("a", "b"):
                    group = str(part[f"group_{role}"].iloc[0])
                    wins = float((winners == role).sum() + 0.5 * (winners == "tie").sum())
                    # win rate of 'better on this criterion' (for lower-better criteria the judge already names the less stereotyped)
                    records.append({"model": model, "task": task, "grouping": str(part["axis"].iloc[0]), "group": group,
                                    "kind": "pairwise_win_rate", "criterion": criterion.name, "direction": "target:0.5",
                                    "value": wins / len(part) if len(part) else float("nan"), "n": len(part)})
    return pd.DataFrame.from_records(records)


def reliability(pointwise: pd.DataFrame, pairwise: pd.DataFrame, rubric: Rubric) -> pd.DataFrame:
    """Position-swap agreement, self-consistency over repeats, and agreement with the deterministic outcome."""
    records = []
    if not pairwise.empty:
        both = pairwise[pairwise["valid"]].pivot_table(index=["model", "task", "item_id", "voice_a", "voice_b"], columns="order",
                                                       values=list(rubric.names), aggfunc="first")
        for name in rubric.names:
            if (name, "ab") in both.columns and (name, "ba") in both.columns:
                pair = both[[(name, "ab"), (name, "ba")]].dropna()
                agree = float((pair[(name, "ab")] == pair[(name, "ba")]).mean()) if len(pair) else float("nan")
                records.append({"check": "position_swap_agreement", "criterion": name, "value": agree, "n": len(pair),
                                "note": "share of voice pairs whose winner is the same in both position orders"})
    if not pointwise.empty:
        valid = pointwise[pointwise["valid"]]
        keys = ["model", "task", "item_id", "voice_id", "modality"]
        for name in rubric.names:
            spread = valid.groupby(keys)[name].agg(["min", "max", "count"])
            spread = spread[spread["count"] > 1]
            if len(spread):
                records.append({"check": "self_consistency", "criterion": name, "value": float((spread["min"] == spread["max"]).mean()),
                                "n": len(spread), "note": "share of answers whose repeated judgements are identical"})
                records.append({"check": "repeat_max_abs_difference", "criterion": name,
                                "value": float((spread["max"] - spread["min"]).mean()), "n": len(spread),
                                "note": "mean (max - min) over repeated judgements, scale 1..5"})
        if "helpfulness" in rubric.names:
            answered = valid["outcome"].isin(ANSWERED).astype(float)
            if answered.nunique() == 2:
                from scipy.stats import spearmanr

                rho = spearmanr(answered, valid["helpfulness"].astype(float)).statistic
                records.append({"check": "agreement_with_outcome", "criterion": "helpfulness", "value": float(rho), "n": len(valid),
                                "note": "Spearman between judged helpfulness and the deterministic outcome (answered vs refused / unreadable)"})
            else:
                records.append({"check": "agreement_with_outcome", "criterion": "helpfulness", "value": float("nan"), "n": len(valid),
                                "note": "not applicable: every judged row has the same deterministic outcome"})
        if "stereotyping" in rubric.names and "own_gender_share" in valid.columns:
            both = valid[["stereotyping", "own_gender_share"]].dropna().astype(float)
            if len(both) >= 3 and both.nunique().min() > 1:
                from scipy.stats import spearmanr

                rho = spearmanr(both["own_gender_share"], both["stereotyping"]).statistic
                records.append({"check": "agreement_with_own_gender_share", "criterion": "stereotyping", "value": float(rho),
                                "n": len(both), "note": "Spearman between judged stereotyping and the BLS share of the speaker's own "
                                "gender in the named occupation (open probes)"})
    return pd.DataFrame.from_records(records, columns=["check", "criterion", "value", "n", "note"])


