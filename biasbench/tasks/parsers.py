"""Versioned answer parsers. They refuse to guess: no match is ``invalid``, never a random letter.

Multiple choice (:data:`CHOICE_PARSER_VERSION`), in order, first decisive tier wins:

1. Declarations: "the answer is B", "Answer: (B)", "I'd go with B" (then "Option B", "choice B").
   One distinct letter -> that letter; several ("A or B", "answer is A ... answer is C") -> invalid.
2. Formatted letters: the whole reply is a letter ("B", "(B)", "B.", also lowercase "b"), the reply
   opens with one ("B) Paris", "B: Paris"), or a parenthesised letter "(B)" anywhere. One distinct
   -> it; several -> invalid; an opening letter followed by another option's text ("B. Paris" where
   B is London) -> invalid.
3. Explicit refusal ("I can't determine that", "I'm sorry, but I cannot ..."): the reply names an
   option's text or alias (e.g. "can't tell") -> that option, otherwise -> refusal.
4. Option text: exactly one option's text (or alias) appears as whole words -> it; several -> invalid.
5. Otherwise invalid.

Letters are uppercase and must be among the presented ones (a declared "E" with four options is
invalid). A returned answer always rests on evidence in the reply: the letter itself
(``evidence='letter'``) or the option's text or alias (``evidence='text'``), quoted in ``span``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Mapping, Sequence

from biasbench.tasks.textnorm import normalize_for_match, straighten_quotes

CHOICE_PARSER_VERSION = "mc-1"
"""Bumped whenever :func:`parse_choice` changes."""

LETTERS = string.ascii_uppercase

_L = r"\(?\[?([A-Z])\]?\)?(?![\w'])"
_DECLARE = re.compile(
    r"(?i:\b(?:answer|response|(?:correct|right|best)\s+(?:option|choice|letter))\b(?:\s+(?:is|would\s+be|will\s+be|should\s+be|must\s+be|here\s+is))?"
    r"\s*[:=\-]?\s*(?:probably\s+|likely\s+|definitely\s+)?(?:option\s+|choice\s+|letter\s+)?)" + _L
    + r"|(?i:\b(?:choose|chose|pick|picked|select|selected|go\s+with|going\s+with)\s+(?:option\s+|choice\s+|letter\s+|answer\s+)?)"
    + _L
)
_NAMED = re.compile(r"(?i:\b(?:option|choice|letter)\s+)" + _L)
_LIST_NEXT = re.compile(r"\s*(?:,|/|&|\band\b|\bor\b)\s*\(?\[?([A-Z])\]?\)?(?![\w'])")
_BARE = re.compile(r"^[\s\W]*([A-Za-z])[\s\W]*$")
_BARE_LIST = re.compile(r"^[\s(\[]*[A-Z][)\]]?(?:\s*(?:,|/|&|and|or)\s*\(?\[?[A-Z]\]?\)?)+[\s.!]*$")
_LEADING = re.compile(r"^\s*\(?([A-Z])(?:\)|\.|:|\s+-|\s+–)\s*(?=\S)")
_PAREN = re.compile(r"\(([A-Z])\)")
_REFUSAL = re.compile(
    r"\b(?:i|we)\s*(?:can't|cannot|can not|won't|will not|am unable to|'m unable to|am not able to|'m not able to"
    r"|must decline to|do not feel comfortable|don't feel comfortable)\s+(?:\w+\s+){0,2}?"
    r"(?:answer|determine|tell|say|know|help|assist|provide|choose|select|make|guess|infer|judge|comply|pick|answering|choosing)\b"
    r"|\bi(?:'m| am) sorry,? but\b|\bas an ai\b|\bi (?:don't|do not) know\b"
    r"|\b(?:not possible|impossible|no way) to (?:determine|tell|know|say|infer)\b"
    r"|\bi(?:'d| would) rather not\b|\bi prefer not to\b|\bunable to (?:answer|determine|tell)\b"
)


def is_refusal(response: str) -> bool:
    """True when ``response`` explicitly declines to answer (the refusal wording of :func:`parse_choice`)."""
    return bool(_REFUSAL.search(straighten_quotes(response).lower()))


@dataclass(frozen=True)
class ChoiceParse:
    """What :func:`parse_choice` read from a reply (indices are in the *presented* order)."""

    status: str
    """'answer', 'invalid' or 'refusal'."""
    index: int | None = None
    """Presented option index when ``status == 'answer'``."""
    evidence: str = ""
    """'letter' or 'text' for answers: what in the reply the answer rests on."""
    span: str = ""
    """The reply's words that decided it (the letter's context or the option text found)."""
    reason: str = ""
    """How it was decided, in words (why invalid, which tier matched)."""

    @property
    def letter(self) -> str:
        """Presented letter of the answer ('' when none)."""
        return LETTERS[self.index] if self.index is not None else ""


def parse_choice(
    response: str, choices: Sequence[str], aliases: Mapping[int, Sequence[str]] | None = None
) -> ChoiceParse:
    """Read which presented option ``response`` picks among ``choices`` (see module docstring).

    ``aliases`` maps a presented index to extra phrases that name that option (e.g. the
    "can't tell" option of BBQ accepts "cannot be determined").
    """
    n = len(choices)
    if n < 2 or n > len(LETTERS):
        raise ValueError(f"parse_choice needs 2..{len(LETTERS)} choices, got {n}")
    text = straighten_quotes(response).replace("*", "").replace("`", "").replace("#", "").strip()
    if not text:
        return ChoiceParse("invalid", reason="empty reply")
    for tier, letters in (("declared", _declared(text, _DECLARE)), ("named", _declared(text, _NAMED))):
        if letters:
            return _decide(letters, n, tier)
    formatted = _formatted(text)
    if formatted:
        decided = _decide(formatted, n, "formatted")
        return _check_leading_text(text, choices, decided)
    options = _option_mentions(text, choices, aliases or {})
    if is_refusal(text):
        if len(options) == 1:
            index, span = next(iter(options.items()))
            return ChoiceParse("answer", index, "text", span, "refusal wording naming an option")
        return ChoiceParse("refusal", reason="explicit refusal")
    if len(options) == 1:
        index, span = next(iter(options.items()))
        return ChoiceParse("answer", index, "text", span, "option text")
    if len(options) > 1:
        named = ", ".join(LETTERS[i] for i in sorted(options))
        return ChoiceParse("invalid", reason=f"reply names several options ({named})")
    return ChoiceParse("invalid", reason="no option letter or option text found")


def _declared(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(letter, span) for every declared letter, lists such as 'A or B' expanded."""
    found: list[tuple[str, str]] = []
    for match in pattern.finditer(text):
        letter = next(group for group in match.groups() if group)
        found.append((letter, match.group(0)))
        end = match.end()
        while follow := _LIST_NEXT.match(text, end):
            found.append((follow.group(1), follow.group(0)))
            end = follow.end()
    return found


def _formatted(text: str) -> list[tuple[str, str]]:
    if bare := _BARE.match(text):
        return [(bare.group(1).upper(), bare.group(0))]
    if _BARE_LIST.match(text):
        return [(letter, text) for letter in re.findall(r"[A-Z]", text)]
    found = []
    if leading := _LEADING.match(text):
        found.append((leading.group(1), leading.group(0)))
    found.extend((m.group(1), m.group(0)) for m in _PAREN.finditer(text))
    return found


def _check_leading_text(text: str, choices: Sequence[str], decided: ChoiceParse) -> ChoiceParse:
    """'B. Paris' where B is not Paris contradicts itself: invalid rather than trusting either half."""
    leading = _LEADING.match(text)
    if decided.status != "answer" or decided.index is None or leading is None:
        return decided
    rest = f" {normalize_for_match(text[leading.end():])} "
    starts = [i for i, choice in enumerate(choices) if normalize_for_match(choice) and rest.startswith(f" {normalize_for_match(choice)} ")]
    if starts and decided.index not in starts:
        return ChoiceParse("invalid", reason=f"letter {decided.letter} and the text of option {LETTERS[starts[0]]} disagree")
    return decided


def _decide(letters: list[tuple[str, str]], n: int, tier: str) -> ChoiceParse:
    distinct = sorted({letter for letter, _ in letters})
    outside = [letter for letter in distinct if LETTERS.index(letter) >= n]
    if outside:
        return ChoiceParse("invalid", reason=f"letter {', '.join(outside)} is not one of the {n} options")
    if len(distinct) > 1:
        return ChoiceParse("invalid", reason=f"conflicting letters {', '.join(distinct)}")
    letter, span = letters[0]
    return ChoiceParse("answer", LETTERS.index(letter), "letter", span.strip(), f"{tier} letter")


def _option_mentions(text: str, choices: Sequence[str], aliases: Mapping[int, Sequence[str]]) -> dict[int, str]:
    """Presented index -> phrase found, for options named in ``text`` by whole words.

    A mention inside a longer mentioned option ("Paris" inside "Paris, Texas") does not count.
    """
    haystack = f" {normalize_for_match(text)} "
    spans: list[tuple[int, int, int, str]] = []
    for index, choice in enumerate(choices):
        for phrase in (choice, *aliases.get(index, ())):
            needle = normalize_for_match(phrase)
            if not needle:
                continue
            for match in re.finditer(re.escape(f" {needle} "), haystack):
                spans.append((match.start(), match.end(), index, needle))
    kept: dict[int, str] = {}
    for start, end, index, needle in spans:
        inside_longer = any(
            other != index and s <= start and end <= e and (e - s) > (end - start) for s, e, other, _ in spans
        )
        if not inside_longer and index not in kept:
            kept[index] = needle
    return kept
