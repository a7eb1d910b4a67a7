"""The correctness probe: questions with one exact answer, generated deterministically, graded exactly.

Its job is to catch a broken deployment (a wrong KV cache dtype, kernels producing garbage, a bad
tokenizer or chat template), not to rank models: every question is one a working GLM-5.1 answers
without effort (small arithmetic, unit conversion, string manipulation, short logic), so a healthy
replica scores at or near 100% and a broken one collapses. A score says "this deployment works",
never "this model is better than that one".

The set is written for this project by `generate()` below from a fixed seed; the shipped copy
(probe_set.json beside this file) is what the gate sends, and a test checks that `generate()`
reproduces it byte for byte. Regenerate with `python -m generator.operate.probe --write`.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

SET_PATH = Path(__file__).with_name("probe_set.json")
SEED = 19  # the issue that introduced the probe; change it and the shipped set changes
PER_CATEGORY = 8
CATEGORIES = ("arithmetic", "unit_conversion", "string", "logic")
INSTRUCTION = (
    "Answer the question. Reply with the final answer only, on one line, in the form "
    "ANSWER: <answer>"
)

_WORDS = (
    "lantern",
    "harbor",
    "compass",
    "meadow",
    "glacier",
    "pepper",
    "walnut",
    "copper",
    "timber",
    "saddle",
    "whistle",
    "candle",
    "marble",
    "basket",
    "canyon",
    "volcano",
)
_NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana")


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    prompt: str
    answer: str


def _arithmetic(rng: random.Random, i: int) -> Question:
    a, b, c = rng.randint(12, 99), rng.randint(3, 29), rng.randint(100, 999)
    form = i % 4
    if form == 0:
        text, value = f"What is {a} * {b} + {c}?", a * b + c
    elif form == 1:
        text, value = f"What is {c} - {a} * {b}?", c - a * b
    elif form == 2:
        text, value = f"What is ({a} + {c}) * {b}?", (a + c) * b
    else:
        text, value = f"What is {a * b} divided by {b}, plus {c}?", a + c
    return Question(f"arithmetic-{i}", "arithmetic", text, str(value))


_UNITS = (  # (from, to, factor): every factor exact, every answer an integer
    ("kilometres", "metres", 1000),
    ("hours", "minutes", 60),
    ("kilograms", "grams", 1000),
    ("minutes", "seconds", 60),
    ("feet", "inches", 12),
    ("days", "hours", 24),
    ("litres", "millilitres", 1000),
    ("yards", "feet", 3),
)


def _unit_conversion(rng: random.Random, i: int) -> Question:
    src, dst, factor = _UNITS[i % len(_UNITS)]
    n = rng.randint(2, 97)
    if rng.random() < 0.5:
        text, value = f"How many {dst} are in {n} {src}?", n * factor
    else:
        text, value = f"How many {src} are {n * factor} {dst}?", n
    return Question(f"unit_conversion-{i}", "unit_conversion", text + " Give a number.", str(value))


def _string(rng: random.Random, i: int) -> Question:
    word = rng.choice(_WORDS)
    form = i % 4
    if form == 0:
        text, value = f"Write the word '{word}' backwards.", word[::-1]
    elif form == 1:
        letter = rng.choice(sorted(set(word)))
        text = f"How many times does the letter '{letter}' appear in '{word}'?"
        value = str(word.count(letter))
    elif form == 2:
        other = rng.choice([w for w in _WORDS if w != word])
        text = f"Join '{word}' and '{other}' with a hyphen between them, in that order."
        value = f"{word}-{other}"
    else:
        text, value = (
            f"What are the first three letters of '{word}' in upper case?",
            word[:3].upper(),
        )
    return Question(f"string-{i}", "string", text, value)


def _logic(rng: random.Random, i: int) -> Question:
    a, b, c = rng.sample(_NAMES, 3)
    form = i % 4
    if form == 0:
        text = f"{a} is taller than {b}. {b} is taller than {c}. Who is the shortest?"
        value = c
    elif form == 1:
        text = f"{a} is older than {b}. {c} is older than {a}. Who is the oldest?"
        value = c
    elif form == 2:
        n = rng.randint(3, 9)
        text = (
            f"All of {a}'s {n} cats are black. Is it true that at least one of {a}'s cats is "
            "black? Answer yes or no."
        )
        value = "yes"
    else:
        x, y = rng.sample(range(2, 30), 2)
        text = f"If {x} is greater than {y}, say red; otherwise say blue."
        value = "red" if x > y else "blue"
    return Question(f"logic-{i}", "logic", text, value)


def generate(seed: int = SEED, per_category: int = PER_CATEGORY) -> list[Question]:
    """The whole set, the same for the same seed on every machine and Python version
    (random.Random's integer methods are stable across versions)."""
    rng = random.Random(seed)
    makers = (_arithmetic, _unit_conversion, _string, _logic)
    return [make(rng, i) for make in makers for i in range(per_category)]


def dumps(questions: list[Question]) -> str:
    data = {
        "about": "correctness probe: catches a broken deployment, does not rank models "
        "(generator/operate/probe.py)",
        "seed": SEED,
        "instruction": INSTRUCTION,
        "questions": [q.__dict__ for q in questions],
    }
    return json.dumps(data, indent=2) + "\n"


def load_set(path: Path = SET_PATH) -> list[Question]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Question(**q) for q in data["questions"]]


# -- grading ----------------------------------------------------------------------------------
_ANSWER = re.compile(r"ANSWER\s*:\s*(.+)", re.IGNORECASE)


def extract(reply: str) -> str | None:
    """The text after the last `ANSWER:`; None when the reply has none."""
    found = _ANSWER.findall(reply or "")
    return found[-1] if found else None


def normalize(text: str) -> str:
    """Case, surrounding quotes/space/full stop, and thousands separators do not count."""
    text = text.strip().strip("*`\"' ").rstrip(".").strip().strip("\"'")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", text):
        text = text.replace(",", "")
    return text.lower()


def grade(question: Question, reply: str) -> bool:
    """Exact match of the extracted answer with the expected one, after normalize()."""
    got = extract(reply)
    return got is not None and normalize(got) == normalize(question.answer)


def main(argv: list[str]) -> int:
    text = dumps(generate())
    if argv == ["--write"]:
        SET_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {len(generate())} questions to {SET_PATH}")
        return 0
    if argv == ["--check"]:
        same = SET_PATH.read_text(encoding="utf-8") == text
        print("probe set up to date" if same else f"{SET_PATH} differs from generate(): --write")
        return 0 if same else 1
    print("usage: python -m generator.operate.probe --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
