"""Campaign responses: groups of responses whose words are identical or nearly so.

Organised campaigns send the same text from many people. Each stays a response (it is counted in
every figure); this only tells staff that, say, 40 of them share one text. Pure code over records
holding a response's reference, comments and letter text (the export records, or the same few
columns streamed by `store.figures.campaign_records`), so the grouping is the same in every view.
`find_campaigns` builds a `CampaignIndex` over all the records it is given; the service keeps one
index between its reports and adds only the responses filed since (store/campaign_cache.py).

Unlike the report's figures, which the database counts, a full build is inherently proportional to
the responses with text: every text is read and normalised, and each distinct text of 200
characters or more is held (normalised, with its words as numbers) while they are compared.
Comparing costs little for texts that share only common words, and grows with the square of a
campaign's distinct copies, which share theirs (bench/report.py, 10,000 synthetic responses: see
bench/README.md). Adding a text to a kept index costs its comparisons with its candidates only.
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
Position = tuple[int, ...]  # a record's place in arrival order: (message_pk, seq), or (n,) in a list

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
    """Groups of two or more responses sharing a text, largest first (`CampaignIndex.campaigns`), the
    records' order standing for their arrival: one full build of the index, nothing kept after."""
    positioned = (((n,), record) for n, record in enumerate(records))
    return CampaignIndex.build(positioned, min_chars=min_chars, threshold=threshold).campaigns()


class CampaignIndex:
    """The campaigns among the records given so far, kept so that more can be added.

    Identical normalised texts are grouped exactly: a copy adds only its reference. Distinct texts
    are joined when the one with more distinct words holds at least `containment` of the other's and
    rapidfuzz's token_set_ratio of the two is at least `threshold`; groups are the connected pairs,
    so adding a text only ever merges groups, and the groups do not depend on the order the texts
    came in. Nor does anything else: each record comes with its position in arrival order (its
    response's (message_pk, seq); `find_campaigns` numbers a list), and references, the opening
    words of a campaign (its earliest copy's) and the order of campaigns of one size follow the
    positions. So records added one by one, in any order, give what one `build` over all of them
    gives. Of each distinct text only its words, references and first copy's opening are kept.

    Prefix filtering finds the pairs without comparing every two texts. A text that holds all but
    `slack` of another's words holds at least `least` of its `slack + 1 + _EXTRA_WORDS` first words,
    for any fixed order of the words; rarest first keeps the candidates few. Rare words are in few
    texts, common words rarely among a text's rarest: the counts stay small except within a
    campaign, whose copies share their words. The order must not change once texts are indexed:
    `build` numbers the words from those in fewest texts, and a word first seen later is numbered
    below all others (as if rarest), so no text's numbers ever change.

    `build` takes the texts fewest words first, each compared with those taken before it, so only
    the index of first words is needed, and a pair already in one group is not compared at all
    (a short copy is most of a longer one, so it joins many at once). `add` compares a new text both
    ways: with the texts of as many words or fewer that its words hit in that index, and with the
    longer texts holding at least `least` of its own first words, through an index of every word of
    every text (built at the first `add`, or by `build(for_additions=True)`; it holds each text's
    words once more).
    """

    def __init__(
        self, *, min_chars: int = MIN_CHARS, threshold: float = THRESHOLD, containment: float = CONTAINMENT
    ) -> None:
        self.min_chars, self.threshold, self.containment = min_chars, threshold, containment
        self._text_of: dict[str, int] = {}  # normalised text -> its number
        self._keys: list[str] = []  # by number: the normalised texts
        self._copies: list[list[tuple[Position, str]]] = []  # (position, reference) of each copy
        self._first: list[tuple[Position, str]] = []  # the earliest copy's position and opening words
        self._words: list[tuple[int, ...]] = []  # distinct words as numbers, ascending: rarest first
        self._need: list[int] = []  # words of the text the other must hold, when it has more
        self._least: list[int] = []  # how many of its indexed words a text must share with another
        self._group: list[list[int]] = []  # a text's group: one list of texts, shared by all of them
        self._grouped: dict[int, list[int]] = {}  # the groups of two or more copies, by id()
        self._first_words: defaultdict[int, list[int]] = defaultdict(list)  # word -> texts with it among their first
        self._all_words: defaultdict[int, list[int]] | None = None  # word -> every text holding it
        self._number: dict[str, int] = {}
        self._unseen = -1  # the number of the next new word: below all others

    @classmethod
    def build(
        cls,
        records: Iterable[tuple[Position, Mapping[str, Any]]],
        *,
        min_chars: int = MIN_CHARS,
        threshold: float = THRESHOLD,
        for_additions: bool = False,
    ) -> CampaignIndex:
        """An index of all the records at once; `for_additions` also indexes every word, for `add`."""
        index = cls(min_chars=min_chars, threshold=threshold)
        for position, record in records:
            index._take(position, record)
        index._number_rarest_first()
        least, first_words = index._least, index._first_words
        for i in sorted(range(len(index._keys)), key=lambda k: len(index._words[k])):
            hits = Counter(chain.from_iterable(first_words[word] for word in index._words[i]))
            index._join_alike(i, [text for text, n in hits.items() if n >= least[text]])
            index._index(i)
        if for_additions:
            index._index_all_words()
        return index

    def add(self, position: Position, record: Mapping[str, Any]) -> None:
        """One more record, its text compared only with the texts that may be near-identical to it."""
        i = self._take(position, record)
        if i is None:
            return
        if self._all_words is None:
            self._index_all_words()
        assert self._all_words is not None
        words = self._numbered(self._keys[i])
        self._words.append(words)
        self._need.append(math.ceil(self.containment * len(words)))
        self._least.append(0)
        hits = Counter(chain.from_iterable(self._first_words.get(word, ()) for word in words))
        fewer = [j for j, n in hits.items() if n >= self._least[j] and len(self._words[j]) <= len(words)]
        first, least = self._first_of(i)
        held = Counter(chain.from_iterable(self._all_words.get(word, ()) for word in first))
        more = [j for j, n in held.items() if n >= least and len(self._words[j]) > len(words)]
        self._join_alike(i, fewer + more)
        self._index(i)

    def campaigns(self) -> list[Campaign]:
        """Groups of two or more copies, largest first, then by their earliest copy; within each, the
        texts by their earliest copy, each text's copies in order; the earliest copy's opening words."""
        found = []
        for group in self._grouped.values():
            texts = sorted(group, key=self._first.__getitem__)
            references = tuple(reference for k in texts for _, reference in sorted(self._copies[k]))
            position, opening = self._first[texts[0]]
            found.append((-len(references), position, Campaign(references, opening)))
        found.sort(key=lambda f: f[:2])
        return [campaign for _, _, campaign in found]

    def _take(self, position: Position, record: Mapping[str, Any]) -> int | None:
        """Note one record's copy of its text; the text's number when it is new (not yet compared)."""
        words = response_words(record)
        key = normalise(words)
        if len(key) < self.min_chars:
            return None
        copy = (position, record.get("reference") or "")
        k = self._text_of.get(key)
        if k is None:
            k = self._text_of[key] = len(self._keys)
            self._keys.append(key)
            self._copies.append([copy])
            self._first.append((position, opening_words(words)))
            self._group.append([k])
            return k
        self._copies[k].append(copy)
        if position < self._first[k][0]:
            self._first[k] = (position, opening_words(words))
        self._grouped[id(self._group[k])] = self._group[k]
        return None

    def _join_alike(self, i: int, candidates: list[int]) -> None:
        """Join text i's group with each candidate's whose text is near-identical to i's."""
        keys, words, need, group = self._keys, self._words, self._need, self._group
        mine = set(words[i])
        for j in candidates:
            if group[i] is group[j]:
                continue  # already one group
            fewer, more = (j, i) if len(words[j]) <= len(words[i]) else (i, j)
            if len(mine.intersection(words[j])) < need[fewer]:
                continue  # too few words in common
            if fuzz.token_set_ratio(keys[more], keys[fewer], score_cutoff=self.threshold):
                self._join(i, j)

    def _join(self, i: int, j: int) -> None:
        """One group of the groups of texts i and j: the texts of the smaller move to the larger's list."""
        small, large = sorted((self._group[i], self._group[j]), key=len)
        large.extend(small)
        for k in small:
            self._group[k] = large
        self._grouped.pop(id(small), None)
        self._grouped[id(large)] = large

    def _first_of(self, i: int) -> tuple[tuple[int, ...], int]:
        """Text i's first words, those prefix filtering indexes, and how many another must share."""
        slack = len(self._words[i]) - self._need[i]
        first = self._words[i][: slack + 1 + _EXTRA_WORDS]
        return first, len(first) - slack

    def _index(self, i: int) -> None:
        first, self._least[i] = self._first_of(i)
        for word in first:
            self._first_words[word].append(i)
        if self._all_words is not None:
            for word in self._words[i]:
                self._all_words[word].append(i)

    def _index_all_words(self) -> None:
        self._all_words = defaultdict(list)
        for k, words in enumerate(self._words):
            for word in words:
                self._all_words[word].append(k)

    def _number_rarest_first(self) -> None:
        """Each text's distinct words as numbers in ascending order, the words numbered from those in
        fewest texts: a text's first words are its rarest. Numbers, not strings, so that each text holds
        references to shared small objects, not its own copy of every word."""
        in_texts = Counter(chain.from_iterable(set(key.split()) for key in self._keys))
        self._number = {word: n for n, word in enumerate(sorted(in_texts, key=in_texts.__getitem__))}
        self._words = [tuple(sorted(map(self._number.__getitem__, set(key.split())))) for key in self._keys]
        self._need = [math.ceil(self.containment * len(w)) for w in self._words]
        self._least = [0] * len(self._keys)

    def _numbered(self, key: str) -> tuple[int, ...]:
        """A new text's words as numbers; a word not seen before is numbered below all others."""
        for word in key.split():
            if word not in self._number:
                self._number[word] = self._unseen
                self._unseen -= 1
        return tuple(sorted({self._number[word] for word in key.split()}))
