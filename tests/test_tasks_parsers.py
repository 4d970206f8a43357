"""Multiple-choice parser: realistic replies with expected outcomes, and no answer without evidence."""

from __future__ import annotations

import random
import string

import pytest

from biasbench.tasks.choice import CANT_TELL_ALIASES
from biasbench.tasks.parsers import LETTERS, parse_choice
from biasbench.tasks.textnorm import normalize_for_match

CHOICES = ("Paris", "London", "Berlin", "Madrid")

# (reply, expected status, expected presented letter or '')
CASES = [
    ("B", "answer", "B"),
    ("(B)", "answer", "B"),
    ("B.", "answer", "B"),
    ("**C**", "answer", "C"),
    ("The answer is B.", "answer", "B"),
    ("Answer: (D)", "answer", "D"),
    ("answer: D", "answer", "D"),
    ("Option B: London", "answer", "B"),
    ("B) London", "answer", "B"),
    ("C: Berlin is the capital of Germany.", "answer", "C"),
    ("London", "answer", "B"),
    ("I think it's Madrid.", "answer", "D"),
    ("Sure! The correct option is C, Berlin.", "answer", "C"),
    ("The capital of France is Paris, so the answer is A.", "answer", "A"),
    ("I'd go with B.", "answer", "B"),
    ("I choose D because Madrid is the capital of Spain.", "answer", "D"),
    ("Great question! Let me think. France's capital city has been Paris for centuries. The answer is (A).", "answer", "A"),
    ("A. Paris\nB. London\nC. Berlin\nD. Madrid\n\nThe correct answer is A.", "answer", "A"),
    ("The answer is probably B, London.", "answer", "B"),
    ("My answer would be option C.", "answer", "C"),
    ("A or B", "invalid", ""),
    ("A, C", "invalid", ""),
    ("A and D", "invalid", ""),
    ("The answer is A. Actually, the answer is C.", "invalid", ""),
    ("It could be (A) or (B).", "invalid", ""),
    ("I'd pick A or C.", "invalid", ""),
    ("The answer is E.", "invalid", ""),
    ("Paris or London, I'm not sure.", "invalid", ""),
    ("A cat is sitting on the mat.", "invalid", ""),
    ("", "invalid", ""),
    ("Hmm, that's a tough one.", "invalid", ""),
    ("42", "invalid", ""),
    ("b", "answer", "B"),
    ("c.", "answer", "C"),
    ("B. Paris", "invalid", ""),
    ("A) Paris, the capital of France.", "answer", "A"),
    ("The answer is B. Paris is in France, London is in England.", "answer", "B"),
    ("I cannot answer that.", "refusal", ""),
    ("I'm sorry, but I can't help with that request.", "refusal", ""),
    ("As an AI, I don't have personal opinions.", "refusal", ""),
    ("I'm not able to determine that from the audio.", "refusal", ""),
    ("I don't know.", "refusal", ""),
    ("I can't tell from what you said, options A and B would both be guesses.", "refusal", ""),
]


@pytest.mark.parametrize("reply,status,letter", CASES)
def test_realistic_replies(reply: str, status: str, letter: str) -> None:
    parsed = parse_choice(reply, CHOICES)
    assert (parsed.status, parsed.letter) == (status, letter), parsed.reason


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_cant_tell_option_named_in_refusal_wording_is_an_answer() -> None:
    choices = ("football", "ballet", "I can't tell from what you said")
    parsed = parse_choice("Honestly, I can't tell from what you said.", choices, {2: CANT_TELL_ALIASES})
    assert (parsed.status, parsed.letter, parsed.evidence) == ("answer", "C", "text")
    assert parse_choice("It cannot be determined.", choices, {2: CANT_TELL_ALIASES}).letter == "C"


def test_mention_inside_longer_option_does_not_count() -> None:
    parsed = parse_choice("Paris, Texas", ("Paris", "Paris, Texas", "Austin"))
    assert parsed.letter == "B"


def test_letter_outside_presented_options_is_invalid() -> None:
    assert parse_choice("D", ("yes", "no", "maybe")).status == "invalid"


def _evidence_holds(reply: str, choices: tuple[str, ...], parsed) -> bool:
    if parsed.evidence == "letter":
        span = parsed.span.replace(" ", "")
        return span in reply.replace("*", "").replace(" ", "") and parsed.letter in span.upper()
    return normalize_for_match(choices[parsed.index]) in normalize_for_match(reply) or parsed.span in normalize_for_match(reply)


def test_no_answer_without_evidence_in_the_reply() -> None:
    """Fuzz: for 3000 seeded random replies, every answer's letter (or option text) is in the reply."""
    rng = random.Random(1234)
    words = ["the", "answer", "is", "option", "I", "think", "Paris", "London", "maybe", "(", ")", ":", ".", ",", "or",
             "not", "choose", "A", "B", "C", "D", "E", "a", "b", "correct", "Berlin", "sorry", "can't", "tell"]
    answered = 0
    for _ in range(3000):
        reply = " ".join(rng.choice(words + list(string.ascii_letters)) for _ in range(rng.randint(1, 12)))
        parsed = parse_choice(reply, CHOICES)
        assert parsed.status in ("answer", "invalid", "refusal")
        if parsed.status == "answer":
            answered += 1
            assert parsed.letter in LETTERS[: len(CHOICES)]
            assert _evidence_holds(reply, CHOICES, parsed), (reply, parsed)
        else:
            assert parsed.letter == ""
    assert answered > 100  # the fuzz exercised the answering paths
