"""Speakability: rewrite symbols so a TTS engine reads them as words, and flag what cannot be read aloud.

:func:`spoken_form` (version :data:`SPEAKABLE_VERSION`) rewrites, in order: simple inline LaTeX
math loses its delimiters ("$a=7$" -> "a=7"); "~" before a number -> "about"; thousands separators
("1,000" -> "1000"); currency ("$5" -> "5 dollars"); "%" -> "percent"; powers ("x^2" -> "x to the
power of 2"); fractions between numbers ("3/4" -> "3 over 4"); negative numbers ("-3" -> "minus
3"); decimals ("2.5" -> "2 point 5"); the symbols = + × − ÷ < > ≤ ≥ ≠ ± √ π ° & and fill-in blanks
("___" -> "blank"). Digits are left for the TTS engine to read.

:func:`speakability_problems` names why an item cannot be read aloud faithfully: code, tables,
long formulas (more than :data:`MAX_FORMULA_SYMBOLS` math operators in the question or in one
option), or notation with no agreed spoken form (logic and set symbols, LaTeX commands, arrows, "~").
"""

from __future__ import annotations

import re
from functools import lru_cache

SPEAKABLE_VERSION = "sp-1"
"""Bumped whenever the spoken form or the problem rules change (part of the task's identity)."""

MAX_FORMULA_SYMBOLS = 8
"""More math operators than this in one item marks it as a long formula."""

WORDS_PER_SECOND = 2.5
"""Default speaking rate for duration estimates (150 words per minute)."""

_SYMBOL_WORDS = (
    ("≤", " less than or equal to "),
    ("≥", " greater than or equal to "),
    ("≠", " not equal to "),
    ("±", " plus or minus "),
    ("×", " times "),
    ("−", " minus "),
    ("÷", " divided by "),
    ("√", " the square root of "),
    ("π", " pi "),
    ("°", " degrees "),
    ("&", " and "),
    ("=", " equals "),
    ("+", " plus "),
    ("<", " less than "),
    (">", " greater than "),
)
_INLINE_MATH = re.compile(r"\$(?=\S)([^$\n\\]{1,60}?)(?<=\S)\$")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_INLINE_MATH, r"\1"),
    (re.compile(r"~\s?(?=\d)"), "about "),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),
    (re.compile(r"\$\s?(\d+(?:\.\d+)?)"), r"\1 dollars"),
    (re.compile(r"%"), " percent"),
    (re.compile(r"\s*\^\s*"), " to the power of "),
    (re.compile(r"(?<=\d)\s*/\s*(?=\d)"), " over "),
    (re.compile(r"(?<![\w)])-(?=\d)"), "minus "),
    (re.compile(r"(?<=\d)\.(?=\d)"), " point "),
    (re.compile(r"_{2,}|\bBLANK\b"), " blank "),
)
_CODE = re.compile(
    r"(\bdef\s+\w+\(|\breturn\b.*;|#include|\bprintf?\s*\(|\bSystem\.out|[{}]\s*$|==|!=|->|\+\+|\bint\s+\w+\s*=|</?\w+>)",
    re.MULTILINE,
)
_TABLE = re.compile(r"^.*\|.*\|.*$|^.*\t.*\t.*$", re.MULTILINE)
_UNREADABLE = re.compile(r"[∀∃∈∉⊂⊃⊆⊇∪∩∧∨¬→←↔⇒⇔≡⊕⊗∑∏∫∂∇∞]|\\[A-Za-z]+|~(?!\s?\d)")
_HYPHENS = re.compile(r"(?<![\w)])-(?=\d)|(?<=\w)-(?=[A-Za-z])")
_MATH = re.compile(r"[=+\-−*/^<>×÷√≤≥≠±]")


_TRIGGERS = re.compile(r"[$~%^/_&=+<>" + "".join(symbol for symbol, _ in _SYMBOL_WORDS) + r"]|\d[,.]\d|-\d|BLANK")
"""What at least one rewrite needs in the text: without any of these, only whitespace is normalised."""
_DIGIT_GROUPS = re.compile(r"\d+")


@lru_cache(maxsize=1 << 16)
def spoken_form(text: str) -> str:
    """``text`` rewritten so that symbols are read as words (see the module docstring)."""
    if _TRIGGERS.search(text) is None:  # the common case: plain words (options repeat: cached)
        return " ".join(text.split())
    return rewritten(text)


def rewritten(text: str) -> str:
    """Every rewrite of :func:`spoken_form` applied in order (what it returns; without its shortcut and cache)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    for symbol, words in _SYMBOL_WORDS:
        text = text.replace(symbol, words)
    return " ".join(text.split())


def speakability_problems(*segments: str) -> list[str]:
    """Reasons the ``segments`` (question, options) cannot be read aloud faithfully (empty when they can).

    A long formula is judged per segment: more than :data:`MAX_FORMULA_SYMBOLS` operators in one.
    """
    text = "\n".join(segments)
    problems = []
    if _CODE.search(text):
        problems.append("contains code")
    if len(_TABLE.findall(text)) >= 2:
        problems.append("contains a table")
    unreadable = sorted(set(_UNREADABLE.findall(text)))
    if unreadable:
        problems.append(f"contains notation with no agreed spoken form ({' '.join(unreadable)[:40]})")
    symbols = max(len(_MATH.findall(_HYPHENS.sub("", segment))) for segment in segments)
    if symbols > MAX_FORMULA_SYMBOLS:
        problems.append(f"contains a long formula ({symbols} math symbols > {MAX_FORMULA_SYMBOLS})")
    return problems


def estimated_seconds(spoken_text: str, words_per_second: float = WORDS_PER_SECOND) -> float:
    """Estimated speaking time of ``spoken_text``: words, plus one word per digit group beyond the first digit."""
    extra = sum(len(token) - 1 for token in _DIGIT_GROUPS.findall(spoken_text))  # digit runs never span a space
    return (len(spoken_text.split()) + extra) / words_per_second
