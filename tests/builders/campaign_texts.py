"""Response records for the campaign search, seeded: a few campaign texts and their copies (exact,
shouted, edited a little or a lot, cut short, two joined), unrelated texts long and short, the
words spread over several comments and the letter text as the form reader files them."""

from __future__ import annotations

import itertools
import random
from typing import Any

SYLLABLES = ("ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "va")
WORDS = sorted({"".join(random.Random(i).choices(SYLLABLES, k=3)) for i in range(2000)})
ZIPF = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WORDS))))  # few common words, many rare


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, cum_weights=ZIPF, k=n))


def edited(rng: random.Random, text: str, edits: int) -> str:
    """The text with words dropped, inserted, replaced, shouted or punctuated, or more added."""
    out = text.split()
    for _ in range(edits):
        roll, at = rng.random(), rng.randrange(len(out) + 1)
        if roll < 0.3 and at < len(out):
            del out[at]
        elif roll < 0.6:
            out.insert(at, rng.choice(WORDS))
        elif roll < 0.8 and at < len(out):
            out[at] = rng.choice(WORDS)
        elif roll < 0.9 and at < len(out):
            out[at] = out[at].upper() + rng.choice(["!", ",", ".", ""])
        else:
            out.append(words(rng, rng.randint(1, 8)))
    return " ".join(out)


def campaign_texts(rng: random.Random, n: int) -> list[str]:
    """N texts, about two thirds of them copies of one of a few campaign texts."""
    bases = [words(rng, rng.randint(30, 120)) for _ in range(rng.randint(1, 6))]
    if len(bases) >= 2:
        bases.append(bases[0] + " " + bases[1])  # a text both others are a part of
    texts = []
    for _ in range(n):
        roll, base = rng.random(), rng.choice(bases)
        if roll < 0.35:
            texts.append(words(rng, rng.randint(5, 150)))
        elif roll < 0.45:
            texts.append(base)
        elif roll < 0.55:
            texts.append(base.upper().replace(" ", "  , "))
        elif roll < 0.9:
            texts.append(edited(rng, base, rng.choice([1, 1, 2, 3, 5, 8, 13, 25])))
        elif roll < 0.95:
            cut = base.split()
            texts.append(" ".join(cut[: rng.randint(len(cut) // 2, len(cut))]))
        else:
            texts.append(rng.choice(["I agree.", "No comment", ""]))
    return texts


def record(rng: random.Random, reference: str | None, text: str) -> dict[str, Any]:
    """A record with the text in one comment, or spread over two comments and the letter text."""
    roll = rng.random()
    if roll < 0.6:
        return {"reference": reference, "answers": {"q1": {"comment": text}}, "text": None}
    if roll < 0.85:
        parts = text.split(" ")
        a, b = sorted(rng.sample(range(len(parts) + 1), 2)) if len(parts) > 2 else (0, len(parts))
        answers = {"q1": {"comment": " ".join(parts[:a])}, "q4": {"comment": " ".join(parts[a:b])}}
        return {"reference": reference, "answers": answers, "text": " ".join(parts[b:]) or None}
    return {"reference": reference, "answers": {}, "text": text}


def campaign_records(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [record(rng, f"R{i:04d}" if rng.random() > 0.02 else None, t) for i, t in enumerate(campaign_texts(rng, n))]
