"""Campaign responses: groups of responses whose words are identical or nearly so.

Organised campaigns send the same text from many people. Each stays a response (it is counted in
every figure); this only tells staff that, say, 40 of them share one text. Pure functions over
records holding a response's reference, comments and letter text (the export records, or the
same few columns streamed by `store.figures.campaign_records`), so the grouping is the same in
every view.

Unlike the report's figures, which the database counts, this part is inherently proportional to the
responses with text: every text is read, normalised and indexed, and the texts of 200 characters
or more are all held in memory while they are compared. Comparing is worse than proportional where
texts share many words (bench/report.py, 10,000 synthetic responses: see bench/README.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

MIN_CHARS = 200  # shorter texts ("I agree") are alike by chance, not by campaign
THRESHOLD = 95.0  # token_set_ratio at or above which two texts count as the same campaign
OPENING_WORDS = 25
CONTAINMENT = 0.8  # share of one text's distinct words the other must hold to be compared at all

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Campaign:
    references: tuple[str, ...]
    opening: str  # the first words of the text, as the first respondent wrote it

    @property
    def size(self) -> int:
        return len(self.references)


def response_words(record: Mapping[str, Any]) -> str:
    """All the respondent's own words in one string: the comments in question order, then any letter text."""
    parts = [a.get("comment") or "" for a in (record.get("answers") or {}).values()]
    parts.append(record.get("text") or "")
    return "\n".join(p for p in parts if p.strip())


def normalise(text: str) -> str:
    """Case, punctuation and white space removed, so trivial edits do not split a campaign."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def opening_words(text: str, n: int = OPENING_WORDS) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def find_campaigns(
    records: Iterable[Mapping[str, Any]], *, min_chars: int = MIN_CHARS, threshold: float = THRESHOLD
) -> list[Campaign]:
    """Groups of two or more responses sharing a text, largest first.

    Identical normalised texts are grouped exactly; distinct texts are then joined when rapidfuzz's
    token_set_ratio of the two is at least `threshold` (groups are the connected pairs). Of each
    distinct text only its references and the opening words of its first copy are kept, not the
    records or their words: the records are streamed.
    """
    texts: dict[str, tuple[list[str], str]] = {}  # normalised text -> (references, opening words)
    for rec in records:
        words = response_words(rec)
        key = normalise(words)
        if len(key) >= min_chars:
            if key not in texts:
                texts[key] = ([], opening_words(words))
            texts[key][0].append(rec.get("reference") or "")
    keys = list(texts)
    groups: dict[int, list[str]] = {}
    openings: dict[int, str] = {}
    for index, root in enumerate(_cluster(keys, threshold)):
        references, opening = texts[keys[index]]
        groups.setdefault(root, []).extend(references)
        openings.setdefault(root, opening)
    campaigns = [Campaign(tuple(refs), openings[root]) for root, refs in groups.items() if len(refs) > 1]
    return sorted(campaigns, key=lambda c: -c.size)


def _cluster(keys: list[str], threshold: float) -> list[int]:
    """For each text, the index of the first text of its group (union-find over near-identical pairs)."""
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in candidate_pairs(keys):
        a, b = find(i), find(j)
        if a != b and fuzz.token_set_ratio(keys[i], keys[j], score_cutoff=threshold):
            parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(keys))]


def candidate_pairs(keys: list[str], containment: float = CONTAINMENT) -> Iterator[tuple[int, int]]:
    """Pairs (i, j) where most of text i's words are also in text j: the only pairs that can score 95.

    Prefix filtering: with the words of each text ordered rarest first, a text sharing at least
    `containment` of text i's words must share one of i's rarest `len - ceil(containment * len) + 1`,
    so only those words are looked up, and comparing every pair of texts is avoided.
    """
    token_sets = [frozenset(k.split()) for k in keys]
    postings: dict[str, list[int]] = {}
    for index, tokens in enumerate(token_sets):
        for token in tokens:
            postings.setdefault(token, []).append(index)
    for i, tokens in enumerate(token_sets):
        need = math.ceil(containment * len(tokens))
        prefix = sorted(tokens, key=lambda t: (len(postings[t]), t))[: len(tokens) - need + 1]
        seen = {i}
        for token in prefix:
            for j in postings[token]:
                if j not in seen:
                    seen.add(j)
                    if len(tokens & token_sets[j]) >= need:
                        yield i, j
