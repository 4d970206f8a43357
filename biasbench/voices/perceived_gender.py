"""Acoustic audit of perceived gender: does each voice *sound* like its gender label?

Independent of any model: the F0 (pitch) distribution of each voice's clips, by the same
autocorrelation tracker as the voice audit, placed against the ranges adult speech is usually
perceived in. A voice's perceived gender is 'female' when its median F0 is at or above
:data:`FEMALE_FROM_HZ`, 'male' at or below :data:`MALE_UP_TO_HZ`, and 'ambiguous' between them (where
listeners disagree). A voice is flagged when it is perceived as the *other* gender than its label
(ambiguous voices are reported, not flagged). Pitch is only one cue (formants and voice quality are
others), so the flag asks for a listen, it does not relabel.

The voice audit can call :func:`perceived_gender_table` on its clip table (columns voice_id, gender,
median_f0_hz) and add :func:`flag_sentences` to its warnings; :func:`audit_pool_gender` runs it alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from biasbench.core.audio import MODEL_SAMPLE_RATE, read_audio
from biasbench.core.messages import AudioPart
from biasbench.core.voice import VoicePool

FEMALE_FROM_HZ = 165.0
"""Median F0 at or above which a voice is perceived as female."""
MALE_UP_TO_HZ = 145.0
"""Median F0 at or below which a voice is perceived as male (between the two: ambiguous)."""
COLUMNS = ("voice_id", "gender", "clips", "f0_median_hz", "f0_p10_hz", "f0_p90_hz", "perceived_gender", "flagged", "note")
"""Columns of the table."""


def perceived(f0_hz: float) -> str:
    """'female', 'male', 'ambiguous' or 'unknown' (no voiced frames) for a median F0."""
    if not np.isfinite(f0_hz):
        return "unknown"
    if f0_hz >= FEMALE_FROM_HZ:
        return "female"
    if f0_hz <= MALE_UP_TO_HZ:
        return "male"
    return "ambiguous"


def perceived_gender_table(clips: pd.DataFrame) -> pd.DataFrame:
    """Per voice from a clip table (voice_id, gender, median_f0_hz): F0 distribution, perceived gender, flag."""
    records = []
    for voice_id, part in clips.groupby("voice_id", sort=True):
        f0 = part["median_f0_hz"].astype(float).dropna().to_numpy()
        label = str(part["gender"].iloc[0]).lower() if "gender" in part.columns else ""
        median = float(np.median(f0)) if f0.size else float("nan")
        seen = perceived(median)
        flagged = label in ("female", "male") and seen in ("female", "male") and seen != label
        note = ""
        if flagged:
            note = f"labelled {label} but sounds {seen} (median F0 {median:.0f} Hz)"
        elif seen == "ambiguous" and label:
            note = f"median F0 {median:.0f} Hz is between the usual male and female ranges"
        records.append({
            "voice_id": voice_id, "gender": label, "clips": int(len(part)), "f0_median_hz": median,
            "f0_p10_hz": float(np.percentile(f0, 10)) if f0.size else float("nan"),
            "f0_p90_hz": float(np.percentile(f0, 90)) if f0.size else float("nan"),
            "perceived_gender": seen, "flagged": bool(flagged), "note": note,
        })
    return pd.DataFrame(records, columns=list(COLUMNS))


def flag_sentences(table: pd.DataFrame) -> list[str]:
    """One warning per flagged voice."""
    return [f"Voice {row.voice_id} is {row.note}: listeners and models may not hear the intended gender."
            for row in table.itertuples(index=False) if row.flagged]


def audit_pool_gender(clips: Mapping[tuple[str, str], AudioPart], pool: VoicePool, out_dir: Path | None = None) -> pd.DataFrame:
    """Perceived gender of every voice of ``pool`` from its clips ((voice id, text) -> clip); writes
    ``perceived_gender.csv`` into ``out_dir`` when given."""
    from biasbench.voices.pitch import median_f0

    rows = []
    for (voice_id, _), part in sorted(clips.items()):
        audio, _ = read_audio(part.path, target_rate=MODEL_SAMPLE_RATE)
        rows.append({"voice_id": voice_id, "gender": pool.voice(voice_id).label("gender") or "", "median_f0_hz": median_f0(audio)[0]})
    table = perceived_gender_table(pd.DataFrame(rows, columns=["voice_id", "gender", "median_f0_hz"]))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(out_dir) / "perceived_gender.csv", index=False, float_format="%.6g", lineterminator="\n")
    return table
