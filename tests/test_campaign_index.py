"""The campaign index (store/campaigns.py) finds what the definition says, whatever order the
records are added in: built at once, added one by one from empty, or added after a build of some.

The definition, written out here pair by pair: two distinct normalised texts of MIN_CHARS or more
are alike when the one with more distinct words holds at least CONTAINMENT of the other's and
their token_set_ratio is at least THRESHOLD; campaigns are the connected groups of two or more
copies, largest first, then by their earliest copy; within one, texts by their earliest copy and
each text's copies in order; the opening words are the earliest copy's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from itertools import combinations
from typing import Any

import pytest
from builders.campaign_texts import campaign_records, words
from rapidfuzz import fuzz

from store.campaigns import (
    CONTAINMENT,
    MIN_CHARS,
    THRESHOLD,
    Campaign,
    CampaignIndex,
    find_campaigns,
    normalise,
    opening_words,
    response_words,
)


def by_definition(records: list[Mapping[str, Any]]) -> list[Campaign]:
    """Every pair compared: slow, and plainly the definition."""
    copies: dict[str, list[tuple[str, str]]] = {}  # in order of each text's first copy
    for rec in records:
        own = response_words(rec)
        if len(normalise(own)) >= MIN_CHARS:
            copies.setdefault(normalise(own), []).append((rec.get("reference") or "", opening_words(own)))
    keys = list(copies)
    root = list(range(len(keys)))

    def find(k: int) -> int:
        while root[k] != k:
            k = root[k]
        return k

    for a, b in combinations(range(len(keys)), 2):
        wa, wb = set(keys[a].split()), set(keys[b].split())
        alike = len(wa & wb) >= math.ceil(CONTAINMENT * min(len(wa), len(wb)))
        if alike and fuzz.token_set_ratio(keys[a], keys[b]) >= THRESHOLD:
            root[max(find(a), find(b))] = min(find(a), find(b))
    groups: dict[int, list[int]] = {}
    for k in range(len(keys)):
        groups.setdefault(find(k), []).append(k)
    found = [
        Campaign(tuple(ref for k in g for ref, _ in copies[keys[k]]), copies[keys[g[0]]][0][1]) for g in groups.values()
    ]
    return sorted((c for c in found if c.size > 1), key=lambda c: -c.size)


def added_one_by_one(records: list[Mapping[str, Any]], seed: int, built: float = 0.0) -> CampaignIndex:
    """The records in a shuffled order: the first `built` share as one build, the rest added."""
    positioned = [((n,), rec) for n, rec in enumerate(records)]
    random.Random(seed).shuffle(positioned)
    cut = int(built * len(positioned))
    index = CampaignIndex.build(positioned[:cut]) if cut else CampaignIndex()
    for position, rec in positioned[cut:]:
        index.add(position, rec)
    return index


@pytest.mark.parametrize("seed", range(12))
def test_the_full_build_finds_what_the_definition_says(seed: int) -> None:
    records = campaign_records(seed, [5, 20, 40, 80][seed % 4])
    assert find_campaigns(records) == by_definition(records)


@pytest.mark.parametrize("seed", range(16))
def test_records_added_in_any_order_give_the_full_build(seed: int) -> None:
    records = campaign_records(100 + seed, [3, 30, 120, 400][seed % 4])
    full = find_campaigns(records)
    for order in range(3):
        assert added_one_by_one(records, order).campaigns() == full
        assert added_one_by_one(records, order, built=[0.3, 0.7, 0.95][order]).campaigns() == full


def test_a_shorter_text_added_later_joins_the_longer_one_holding_its_words() -> None:
    # The longer text came first: the new one finds it through the index of every word, looked up
    # with its own rarest words; its first word was never seen, so it counts as the rarest of all.
    rng = random.Random(7)
    long = words(rng, 90)
    texts = (("LONG", long), ("UNRELATED", words(rng, 70)), ("PART", "Quibblewock " + " ".join(long.split()[:60])))
    records = [{"reference": reference, "text": text} for reference, text in texts]
    index = CampaignIndex.build([((0,), records[0])])
    index.add((1,), records[1])
    index.add((2,), records[2])
    assert [c.references for c in index.campaigns()] == [("LONG", "PART")]
    assert index.campaigns() == find_campaigns(records)


def test_a_copy_from_an_earlier_message_filed_late_takes_its_place_in_the_campaign() -> None:
    # A refiled old message: its response is added last, but its position comes first, so it leads
    # the campaign (and gives its opening words) as it does in a build over all the records.
    rng = random.Random(3)
    text = words(rng, 80)
    records = [{"reference": f"R{n}", "text": t} for n, t in enumerate([text.upper(), words(rng, 60), text + " yes"])]
    index = CampaignIndex.build([((5, 0), records[1]), ((6, 0), records[2])])
    assert index.campaigns() == []
    index.add((2, 0), records[0])
    (campaign,) = index.campaigns()
    assert campaign.references == ("R0", "R2") and campaign.opening == opening_words(text.upper())
    assert index.campaigns() == find_campaigns(records)


def test_campaigns_of_one_size_come_in_the_order_of_their_earliest_copies() -> None:
    rng = random.Random(11)
    first, second = words(rng, 60), words(rng, 60)
    records = [{"reference": r, "text": t} for r, t in (("A1", first), ("B1", second), ("A2", first), ("B2", second))]
    index = CampaignIndex()
    for n in (3, 1, 2, 0):
        index.add((n,), records[n])
    assert [c.references for c in index.campaigns()] == [("A1", "A2"), ("B1", "B2")]
