"""Campaign responses: groups of responses whose words are identical or nearly so.

Organised campaigns send the same text from many people. Each stays a response (it is counted in
every figure); this only tells staff that, say, 40 of them share one text. Pure functions over
records holding a response's reference, comments and letter text (the export records, or the
same few columns streamed by `store.figures.campaign_records`), so the grouping is the same in
every view.

Unlike the report's figures, which the database counts, this part is inherently proportional to the
responses with text: every text is read and normalised, and each distinct text of 200 characters or
more is held (normalised, with its words as numbers) while they are compared. Comparing costs little
for texts that share only common words, and grows with the square of a campaign's distinct copies,
which share theirs (bench/report.py, 10,000 synthetic responses: see bench/README.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from rapidfuzz import fuzz

MIN_CHARS = 200  # shorter texts ("I agree") are alike by chance, not by campaign
THRESHOLD = 95.0  # token_set_ratio at or above which two texts count as the same campaign
OPENING_WORDS = 25
CONTAINMENT = 0.8  # share of the shorter text's distinct words the other must hold to be compared at all
_EXTRA_WORDS = 2  # words indexed beyond those prefix filtering needs, to drop most candidates in bulk

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

    Identical normalised texts are grouped exactly; distinct texts are then joined when one holds
    most of the other's words and rapidfuzz's token_set_ratio of the two is at least `threshold`
    (groups are the connected pairs: `_components`). Of each distinct text only its references and
    the opening words of its first copy are kept, not the records or their words: the records are
    streamed.
    """
    texts: dict[str, tuple[list[str], str]] = {}  # normalised text -> (references, opening words)
    for rec in records:
        words = response_words(rec)
        key = normalise(words)
        if len(key) >= min_chars:
            if key not in texts:
                texts[key] = ([], opening_words(words))
            texts[key][0].append(rec.get("reference") or "")
    found = list(texts.values())
    campaigns = []
    for group in _components(list(texts), threshold):
        references = tuple(ref for k in group for ref in found[k][0])
        if len(references) > 1:
            campaigns.append(Campaign(references, found[group[0]][1]))
    return sorted(campaigns, key=lambda c: -c.size)


def _components(keys: list[str], threshold: float, containment: float = CONTAINMENT) -> list[list[int]]:
    """The texts' groups (connected components of the near-identical pairs), each in text order, the
    groups in the order of their first text: the same groups whatever order the pairs are found in.

    A pair is near-identical when the other text holds at least `containment` of the distinct words
    of the one with fewer, and the two's token_set_ratio is at least `threshold`.

    The texts are taken fewest words first, each compared with those taken before it, so each pair
    once, from its longer side. A pair already in one group is not compared at all. Taking short
    texts first joins a campaign early: a short copy is most of a longer one (a subset scores 100),
    so it joins many copies at once, and the longer copies then find themselves already grouped.

    Prefix filtering finds the pairs without comparing every two texts. A text that holds all but
    `slack` of another's words holds at least `least` of its `slack + 1 + _EXTRA_WORDS` rarest
    words, so only those are indexed; each text counts the index entries of its own words (in C),
    and only the texts with `least` hits are compared word by word. Rare words are in few texts'
    entries, common words rarely among a text's rarest: the counts stay small except within a
    campaign, whose copies share their words.
    """
    words = _rarest_first(keys)
    need = [math.ceil(containment * len(w)) for w in words]  # words of each text the other must hold
    index: defaultdict[int, list[int]] = defaultdict(list)  # word -> the texts taken with it among their rarest
    least = [0] * len(keys)  # how many of its indexed words a text must share with another
    group = [[k] for k in range(len(keys))]  # k's group: one list of texts, shared by all of them
    for i in sorted(range(len(keys)), key=lambda k: len(words[k])):
        mine = set(words[i])
        hits = Counter(chain.from_iterable(index[word] for word in words[i]))
        for j in [text for text, n in hits.items() if n >= least[text]]:
            if group[i] is group[j] or len(mine.intersection(words[j])) < need[j]:
                continue  # already one group, or too few words in common
            if fuzz.token_set_ratio(keys[i], keys[j], score_cutoff=threshold):
                _join(group, i, j)
        slack = len(words[i]) - need[i]
        rarest = words[i][: slack + 1 + _EXTRA_WORDS]
        least[i] = len(rarest) - slack
        for word in rarest:
            index[word].append(i)
    return sorted(sorted(g) for g in {id(g): g for g in group}.values())


def _join(group: list[list[int]], i: int, j: int) -> None:
    """One group of the groups of texts i and j: the texts of the smaller move to the larger's list."""
    small, large = sorted((group[i], group[j]), key=len)
    large.extend(small)
    for k in small:
        group[k] = large


def _rarest_first(keys: list[str]) -> list[tuple[int, ...]]:
    """Each text's distinct words as numbers in ascending order, the words numbered from those in
    fewest texts: a text's first words are its rarest. Numbers, not strings, so that each text holds
    references to shared small objects, not its own copy of every word."""
    in_texts = Counter(chain.from_iterable(set(key.split()) for key in keys))
    number = {word: n for n, word in enumerate(sorted(in_texts, key=in_texts.__getitem__))}
    return [tuple(sorted(map(number.__getitem__, set(key.split())))) for key in keys]
