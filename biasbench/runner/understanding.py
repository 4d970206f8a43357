"""The understanding signal of every audio row: did the model hear the words it was asked?

Sources, in order of preference (the one used is recorded per row):

1. ``model``   — the audio model's own transcript of the same clip: one ``transcribe`` request per clip
   for adapters that accept audio and can answer transcription tasks, cached in
   ``understanding/transcripts.jsonl`` (:attr:`RunDir.understanding_transcripts`) by its response key (a re-run asks nothing again);
2. ``cascade`` — the transcript a cascade adapter stored on the row (what its text model read);
3. ``audit``   — the voice audit's ASR round-trip of the clip (the same words heard by faster-whisper);
4. ``none``    — no signal for the row (it is left out of the decomposition and counted).

The transcript's WER against the spoken words and, for multiple-choice items, the share of the question
stem's content words it misses decide ``understood`` (WER <= ``wer_threshold`` and missing share <=
``key_content_threshold``). The
decomposition itself is in :mod:`biasbench.scoring.decomposition`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from biasbench.core.messages import AudioPart, GenerationParams, Message, Request, TextPart
from biasbench.core.rundir import RunDir

TRANSCRIBE_INSTRUCTION = "Transcribe the speech exactly. Reply with the transcript only."
"""Text sent with each clip in a transcribe request."""
SOURCES = ("model", "cascade", "audit", "none")
"""Understanding sources, most preferred first."""
COLUMNS = ("model", "task", "item_id", "voice_id", "permutation", "repeat", "source", "transcript", "understanding_wer",
           "key_missing", "understood")
"""Columns of understanding.csv."""
STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from as into about than then so not no is are was were be been being
am do does did has have had it its this that these those there here what which who whom whose when where why how
i you he she we they me him her us them my your his our their one s t
""".split())
"""Function words left out of an item's key content (a small fixed list, so the check is reproducible)."""


def can_transcribe(adapter: Any) -> bool:
    """Audio in and the transcription answer type declared (a capability, not a model name)."""
    capabilities = adapter.capabilities
    return bool(capabilities.audio_in and "transcription" in capabilities.answer_types)


def transcribe_request(clip: AudioPart, params: GenerationParams) -> Request:
    """The request asking a model to write down one clip (the model's generation params). Like every
    other request of an ordinary adapter it carries no context: the model hears the clip alone."""
    message = Message("user", (clip, TextPart(TRANSCRIBE_INSTRUCTION)))
    return Request(messages=(message,), params=params, context=None)


def model_transcripts(adapter: Any, clips: Mapping[tuple[str, str], AudioPart], run_dir: Path, *,
                      params: GenerationParams = GenerationParams(), batch_size: int = 8) -> dict[tuple[str, str], str]:
    """(voice id, spoken text) -> the adapter's transcript of that clip; cached answers are not asked again.
    A failed request leaves its clip out (the row falls back to the next source)."""
    log = RunDir(run_dir).understanding_transcripts
    cached = _read_log(log)
    from biasbench.runner.store import ResponseLog

    # a transcription task already asked the same request (same clip, instruction and params): reuse its answer
    cached.update({key: entry.response.text for key, entry in ResponseLog(run_dir).read(repair=False).answers.items()})
    fingerprint = adapter.fingerprint()
    requests = {pair: transcribe_request(clip, params) for pair, clip in sorted(clips.items())}
    keys = {pair: request.key(fingerprint) for pair, request in requests.items()}
    pending = [pair for pair in requests if keys[pair] not in cached]
    if pending:
        log.parent.mkdir(parents=True, exist_ok=True)
        adapter.load()
        try:
            with log.open("a", encoding="utf-8") as out:
                for start in range(0, len(pending), batch_size):
                    batch = pending[start:start + batch_size]
                    for pair, response in zip(batch, adapter.generate([requests[p] for p in batch])):
                        if response.ok:
                            cached[keys[pair]] = response.text
                            out.write(json.dumps({"key": keys[pair], "text": response.text, "cost_usd": response.cost_usd}) + "\n")
                    out.flush()
        finally:
            adapter.close()
    return {pair: cached[keys[pair]] for pair in requests if keys[pair] in cached}


def _read_log(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            found[str(entry["key"])] = str(entry["text"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line from an interrupted write
    return found


def _read_costs(path: Path) -> list[tuple[str, float]]:
    """(key, cost_usd) of every cached transcript (0 for entries written without a cost)."""
    found: list[tuple[str, float]] = []
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            found.append((str(entry["key"]), float(entry.get("cost_usd", 0.0) or 0.0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def audit_transcripts(run_dir: Path) -> dict[tuple[str, str], str]:
    """(voice id, text) -> the voice audit's ASR transcript (empty when the audit has not run or had no ASR)."""
    path = RunDir(run_dir).voice_audit_csv
    if not path.is_file():
        return {}
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    if "asr_text" not in table.columns:
        return {}
    return {(row["voice_id"], row["text"]): row["asr_text"] for _, row in table.iterrows()}


def key_words(key_text: str, spoken: str) -> list[str]:
    """The key content of an item: normalized words of ``key_text`` (e.g. a question stem) that are not
    :data:`STOPWORDS` and are actually spoken in the clip, each once, in order."""
    from biasbench.tasks.textnorm import normalize_transcript

    said = set(normalize_transcript(spoken).split())
    return list(dict.fromkeys(w for w in normalize_transcript(key_text).split() if w not in STOPWORDS and w in said))


def missing_key_share(transcript: str, keys: list[str]) -> float | None:
    """Share of ``keys`` absent from the normalized transcript (None when there is no key content)."""
    from biasbench.tasks.textnorm import normalize_transcript

    if not keys:
        return None
    heard = set(normalize_transcript(transcript).split())
    return sum(1 for w in keys if w not in heard) / len(keys)


def understanding_table(rows: list[dict[str, Any]], wer_threshold: float, key_threshold: float = 1.0) -> pd.DataFrame:
    """Rows {model, task, item_id, voice_id, permutation, repeat, spoken, heard: {source: transcript}, key: text
    or None} -> the table of :data:`COLUMNS`. A row is understood when its preferred transcript's WER is at
    most ``wer_threshold`` AND it misses at most ``key_threshold`` of the key content words (the question stem
    of a multiple-choice item): a low WER over a long prompt can hide a misheard question."""
    from biasbench.core.errors import DataError
    from biasbench.tasks.transcription import word_errors

    records = []
    for row in rows:
        source = next((s for s in SOURCES[:-1] if row["heard"].get(s) is not None), "none")
        transcript = row["heard"].get(source, "") if source != "none" else ""
        wer = missing = None
        if source != "none":
            try:
                wer = float(word_errors(transcript, row["spoken"])["wer"])
            except DataError:  # nothing speakable left after normalization: no signal
                source, transcript = "none", ""
        if wer is not None and row.get("key"):
            missing = missing_key_share(transcript, key_words(row["key"], row["spoken"]))
        understood = None if wer is None else bool(wer <= wer_threshold and (missing is None or missing <= key_threshold))
        records.append({
            **{k: row[k] for k in COLUMNS[:6]}, "source": source, "transcript": transcript,
            "understanding_wer": wer, "key_missing": missing, "understood": understood,
        })
    return pd.DataFrame(records, columns=list(COLUMNS))


@dataclass(frozen=True)
class UnderstandingOutcome:
    """What the understanding step did."""

    table: pd.DataFrame = field(repr=False)
    """understanding.csv as written."""
    transcribed: tuple[str, ...] = ()
    """Models asked for their own transcripts (cached ones included)."""
    skipped: tuple[str, ...] = ()
    """One sentence per transcribing model that was not asked, with why (cost)."""

    def manifest_entry(self) -> dict[str, Any]:
        return {"transcribed": list(self.transcribed), "skipped": list(self.skipped)}


def spent_usd(run_dir: Path) -> float:
    """API cost already in the run: the response log's answers plus the transcripts cache's."""
    from biasbench.runner.store import ResponseLog

    logged = sum(entry.response.cost_usd for entry in ResponseLog(run_dir).read(repair=False).answers.values())
    return logged + transcripts_cost_usd(run_dir)


def transcripts_cost_usd(run_dir: Path) -> float:
    """API cost of the cached transcripts (counted in the run's budget with the logged answers)."""
    return sum(cost for _, cost in _read_costs(RunDir(run_dir).understanding_transcripts))


def transcribe_decision(name: str, estimate_usd: float, settings: Any, limit_usd: float | None, spent: float) -> str:
    """'' when ``name`` may be asked for its transcripts, else the sentence saying why not. A model whose own
    estimate of the transcribe requests is 0 (a local model, a free server) is always asked; a priced one
    only with ``understanding.transcribe_priced`` and when the estimate fits in what is left of the budget."""
    if estimate_usd <= 0:
        return ""
    if not settings.transcribe_priced:
        return (f"understanding: did not ask {name} for its own transcripts (a priced API: ~{estimate_usd:.4f} USD estimated; "
                "set understanding.transcribe_priced: true to ask) — its rows use the cascade or audit transcript")
    if limit_usd is not None and spent + estimate_usd > limit_usd:
        return (f"understanding: did not ask {name} for its own transcripts: ~{estimate_usd:.4f} USD estimated would pass "
                f"max_cost_usd={limit_usd} (spent {spent:.4f}) — its rows use the cascade or audit transcript")
    return ""


def collect_understanding(config: Any, plan: Any, clips: Mapping[tuple[str, str], AudioPart], run_dir: Path,
                          results: pd.DataFrame) -> UnderstandingOutcome:
    """Write ``understanding.csv`` for every audio row of the run and return it with what was asked or skipped."""
    from biasbench.runner.requests import generation_params

    settings = config.understanding
    audit = audit_transcripts(run_dir)
    own: dict[str, dict[tuple[str, str], str]] = {}
    transcribed: list[str] = []
    skipped: list[str] = []
    if settings.transcribe:
        spent = spent_usd(run_dir)
        for name, adapter in plan.adapters.items():
            if not can_transcribe(adapter):
                continue
            heard_pairs = {(r.voice.id, r.spoken_text) for r in plan.rows if r.model == name and r.modality == "audio"
                           and r.voice is not None and r.spoken_text}
            wanted = {pair: clips[pair] for pair in heard_pairs if pair in clips}
            model_ref = next(m for m in config.models if m.name == name)
            params = generation_params(config, model_ref)
            estimate = adapter.estimate_cost_usd([(text, TRANSCRIBE_INSTRUCTION) for _, text in sorted(wanted)],
                                                 params.max_new_tokens) if wanted else 0.0
            why_not = transcribe_decision(name, estimate, settings, config.max_cost_usd, spent)
            if why_not:
                skipped.append(why_not)
                continue
            spent += estimate
            transcribed.append(name)
            own[name] = model_transcripts(adapter, wanted, run_dir, params=params, batch_size=config.batch_size)
    cascade = {}
    if "transcript" in results.columns:
        audio = results[(results["modality"] == "audio") & (results["transcript"].fillna("") != "")]
        cascade = {(r.model, r.task, r.item_id, r.voice_id, int(r.permutation), int(r.repeat)): r.transcript
                   for r in audio.itertuples(index=False)}
    rows = []
    for row in plan.rows:
        if row.modality != "audio" or row.voice is None or not row.spoken_text:
            continue
        pair = (row.voice.id, row.spoken_text)
        key = (row.model, row.task, row.item.id, row.voice.id, int(row.rotation), int(row.repeat))
        heard = {"model": own.get(row.model, {}).get(pair), "cascade": cascade.get(key), "audit": audit.get(pair)}
        rows.append({"model": row.model, "task": row.task, "item_id": row.item.id, "voice_id": row.voice.id,
                     "permutation": int(row.rotation), "repeat": int(row.repeat), "spoken": row.spoken_text, "heard": heard,
                     "key": row.item.text if row.item.choices else None})  # multiple choice: the question stem
    table = understanding_table(rows, settings.wer_threshold, settings.key_content_threshold)
    table.to_csv(RunDir(run_dir).understanding_csv, index=False, float_format="%.10g", lineterminator="\n")
    return UnderstandingOutcome(table, tuple(transcribed), tuple(skipped))
