"""Text normalization shared by scoring (WER, answer matching): case, punctuation, numbers.

``normalize_transcript`` (version :data:`TRANSCRIPT_NORM_VERSION`): lowercase; curly quotes made
straight; thousands separators removed ("1,000" -> "1000"); a decimal point read as "point";
"%" read as "percent"; integers 0..999,999,999,999 written as English words ("25" -> "twenty
five", "1984" -> "one thousand nine hundred eighty four"); hyphens become spaces; every other
punctuation mark removed except apostrophes inside words; whitespace collapsed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

TRANSCRIPT_NORM_VERSION = "tn-1"
"""Bumped whenever :func:`normalize_transcript` changes (part of the transcription parser version)."""

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def number_to_words(number: int) -> str:
    """English words for a non-negative integer below 10**12 ("105" -> "one hundred five")."""
    if number < 0 or number >= 10**12:
        raise ValueError(f"number_to_words handles 0 <= n < 10**12, got {number}")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    for scale, word in _SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return f"{number_to_words(high)} {word}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_INTEGER = re.compile(r"\d+")


def _digits_to_words(match: re.Match[str]) -> str:
    digits = match.group(0)
    if len(digits) > 12 or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_ONES[int(d)] for d in digits)
    return f" {number_to_words(int(digits))} "


def straighten_quotes(text: str) -> str:
    """Curly quotes and apostrophes as ASCII."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def normalize_transcript(text: str) -> str:
    """The normalization applied to both hypothesis and reference before WER (see module docstring)."""
    text = straighten_quotes(text).lower()
    text = _THOUSANDS.sub("", text)
    text = _DECIMAL.sub(" point ", text)
    text = text.replace("%", " percent ")
    text = _INTEGER.sub(_digits_to_words, text)
    text = text.replace("-", " ")
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def normalize_for_match(text: str) -> str:
    """Lowercase words only (punctuation to spaces, apostrophes kept): for finding option text in answers."""
    text = straighten_quotes(text).lower()
    text = re.sub(r"[^\w' ]+", " ", text)
    return " ".join(text.split())


NORMALIZERS = ("whisper", "biasbench")
"""WER normalizers: 'whisper' = OpenAI Whisper's English text normalizer (the one ASR papers report WER
with; from the maintained ``whisper-normalizer`` package), 'biasbench' = :func:`normalize_transcript`."""


@lru_cache(maxsize=None)
def transcript_normalizer(name: str) -> tuple[Callable[[str], str], str]:
    """(normalize function, version tag for the parser version) of a WER normalizer in :data:`NORMALIZERS`.

    The Whisper normalizer needs ``pip install 'biasbench[wer]'``; when it is missing this raises with
    that hint (never a silent fallback: a different normalizer gives a different WER)."""
    if name == "biasbench":
        return normalize_transcript, TRANSCRIPT_NORM_VERSION
    if name != "whisper":
        raise ValueError(f"unknown WER normalizer '{name}'; choose one of {', '.join(NORMALIZERS)}")
    from importlib.metadata import PackageNotFoundError, version

    from biasbench.core.deps import require

    english = require(
        "whisper_normalizer.english", "wer", purpose="Whisper's English text normalizer (comparable WER)", package="whisper-normalizer"
    )
    try:
        tag = f"whisper-en-{version('whisper-normalizer')}"
    except PackageNotFoundError:
        tag = "whisper-en"
    return english.EnglishTextNormalizer(), tag
