"""Speakability rewriting, unspeakable-item detection, length estimates and transcript normalization."""

from __future__ import annotations

import pytest

from biasbench.tasks.speakable import estimated_seconds, speakability_problems, spoken_form
from biasbench.tasks.textnorm import normalize_transcript, number_to_words


@pytest.mark.parametrize(
    "text,spoken",
    [
        ("It costs $25.50 plus 15% tax.", "It costs 25 point 50 dollars plus 15 percent tax."),
        ("x^2 + 3/4 = -2.5", "x to the power of 2 plus 3 over 4 equals minus 2 point 5"),
        ("What is $a=7$ times 2?", "What is a equals 7 times 2?"),
        ("Pluto is cold (~40 K) and 1,000 km away.", "Pluto is cold (about 40 K) and 1000 km away."),
        ("(x − 2) ≤ 30°", "(x minus 2) less than or equal to 30 degrees"),
        ("The ___ was tired.", "The blank was tired."),
    ],
)
def test_spoken_form(text: str, spoken: str) -> None:
    assert spoken_form(text) == spoken


@pytest.mark.parametrize(
    "segments,problem",
    [
        (("def f(x):\n    return x == 1;",), "code"),
        (("| a | b |\n| 1 | 2 |",), "table"),
        (("(A ∨ B) ⊃ ~C",), "notation"),
        ((r"Find $\frac{1}{2}$",), "notation"),
        (("1+2+3+4+5+6+7+8+9+10",), "long formula"),
    ],
)
def test_unspeakable_items_are_named(segments, problem: str) -> None:
    assert any(problem in reason for reason in speakability_problems(*segments))


def test_ordinary_questions_are_speakable() -> None:
    assert speakability_problems("What is the capital of France?", "Paris", "Rome") == []
    assert speakability_problems("3+5", "3+3+3", "5+5+5", "5×3") == []  # short formulas, one per option


def test_estimated_seconds_counts_words_and_digits() -> None:
    assert estimated_seconds("one two three four five", 2.5) == pytest.approx(2.0)
    assert estimated_seconds("in 1984", 2.5) == pytest.approx((2 + 3) / 2.5)


def test_transcript_normalization() -> None:
    assert normalize_transcript("The children counted 20 birds!") == "the children counted twenty birds"
    assert normalize_transcript("It's 3.5% — 1,200 people") == "it's three point five percent one thousand two hundred people"
    assert normalize_transcript("“Well-known” dogs’ toys") == "well known dogs toys"
    assert number_to_words(105) == "one hundred five" and number_to_words(2_000_017) == "two million seventeen"


def _tricky_texts() -> list[str]:
    pieces = ["x", "2", "3.5", "1,000", "$4", "$a=b$", "~7", "50%", "x^2", "3/4", "-2", "a-b", "___", "BLANK", "≤", "π",
              "&", "=", "+", "<", ">", "°", "−", "÷", "√", "±", "×", "≠", "≥", "word", "(", ")", ".", ",", " ", "\n", "_"]
    import random

    rng = random.Random(0)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(5000)]


def test_the_spoken_forms_shortcut_and_cache_change_nothing(shared_data) -> None:
    """spoken_form skips the rewrites for text with none of their triggers: on every MMLU question and option
    and on random mixes of every trigger, it equals applying each rewrite in order."""
    import csv

    from biasbench.tasks.speakable import rewritten

    texts = _tricky_texts()
    for path in sorted((shared_data / "mmlu" / "test").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                texts += row[:5]
    for text in texts:
        assert spoken_form(text) == rewritten(text), text
    assert spoken_form(texts[0]) is spoken_form(texts[0])  # cached
