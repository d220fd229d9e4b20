"""Pure text helpers shared by the form reader and the e-mail body reader.

Everything here is deliberately conservative: a helper that cannot decide returns None, and the
caller turns that None into a review reason rather than a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType

from rapidfuzz import fuzz

from parsers.document import CHECKED, UNCHECKED

Scorer = Callable[..., float]

# Marks a respondent may put in (or instead of) a box. Readers render real check boxes as
# CHECKED/UNCHECKED; everything else here is typed by hand.
TICK_TOKENS = frozenset(
    {CHECKED, "x", "\u2713", "\u2714", "\u2611", "\u2717", "\u2718", "\u221a", "\u2705", "yes", "\u25a0"}
)
GLYPH_TICKS = CHECKED + "\u2713\u2714\u2611\u2717\u2718\u25a0"
GLYPH_MARKS = GLYPH_TICKS + UNCHECKED

# Words a respondent may write instead of a scale label. Only words with one meaning are here:
# "yes" is not "agree" (question 2 asks "Do you agree ...", question 5 "Does the guidance ...").
SCALE_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "not sure": ("unsure", "don't know", "dont know", "do not know", "not certain", "uncertain"),
}

PLACEHOLDERS = (
    "click here to enter text.",
    "click or tap here to enter text.",
    "click here to enter a date.",
    "click or tap to enter a date.",
    "choose an item.",
)

_BOX_FRAME = frozenset(UNCHECKED + "[]()\ufe0f")  # an empty box, typed brackets "[ ]", emoji variation mark
EMPTY_WORDS = frozenset({"n/a", "na", "none", "-", "not applicable", "nil"})
_STOP_WORDS = frozenset({"or", "and", "the", "a", "an", "of", "other", "if", "applicable"})
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_EMAIL_FIND_RE = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Compiled at import, so the sandbox's fork server compiles them once for all its children.
_PARENTHESISED = re.compile(r"\([^)]*\)")
_CHOICE_END = re.compile(r"^\s*(?:$|[-:;,.!)/]|\bbecause\b)")
_PLACEHOLDER_RES = tuple(re.compile(re.escape(p), re.IGNORECASE) for p in PLACEHOLDERS)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


@lru_cache(maxsize=2048)
def fold(text: str) -> str:
    """Lower-case, straight quotes, dashes and single spaces: the form in which labels are compared.

    Memoised: reading one form folds the same labels and cell texts dozens of times (each step
    of the walker compares the row again); the bound keeps a few documents' worth of text.
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(text.split())


def fold_label(text: str) -> str:
    """`fold` without the trailing colon and punctuation a label cell often carries."""
    return fold(text).strip(" :.-*?\t")


def names_any(folded_text: str, phrases: tuple[str, ...]) -> bool:
    """Whether an already folded text uses one of `phrases` as whole words ("as a parent", not "grandparent").

    A phrase's regex is searched (and compiled, once per process) only when all its words occur in
    the text: a fresh sandbox worker would otherwise compile every phrase list's regexes, which
    cost more than the whole walk. The test is exact: a regex match contains each word literally.
    """
    return any(
        _phrase_pattern(phrase).search(folded_text) is not None
        for phrase, words in _phrase_words(phrases)
        if all(w in folded_text for w in words)
    )


@lru_cache(maxsize=256)
def _phrase_words(phrases: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each phrase with its folded words, worked out once per phrase list."""
    return tuple((phrase, tuple(fold(phrase).split())) for phrase in phrases)


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """One phrase on word boundaries, any run of spaces between its words."""
    words = r"\s+".join(re.escape(w) for w in fold(phrase).split())
    return re.compile(rf"(?<![\w']){words}(?![\w'])")


def similarity(text: str, label: str, scorer: Scorer = fuzz.ratio) -> float:
    """0-100 likeness of a text to a label after folding; "(if applicable)" in the label is optional."""
    folded = fold_label(text)
    whole, plain = _label_forms(label)
    return max(scorer(folded, whole), scorer(folded, plain) if plain else 0.0)


@lru_cache(maxsize=256)
def _label_forms(label: str) -> tuple[str, str]:
    """A form label folded, with and without its "(...)" part: the same labels are compared on every row."""
    return fold_label(label), fold_label(_PARENTHESISED.sub(" ", label))


def best_match(
    text: str,
    options: Mapping[str, str],
    *,
    threshold: float = 85.0,
    margin: float = 8.0,
    scorer: Scorer = fuzz.ratio,
) -> str | None:
    """The id whose label `text` matches best, or None when nothing is close or two are equally close.

    `options` maps an id to its label. A match needs `threshold` and a lead of `margin` over the
    runner-up, so "Agree" never silently becomes "Disagree".
    """
    if not fold_label(text):
        return None
    scores = {oid: similarity(text, label, scorer) for oid, label in options.items()}
    return pick_best(scores, threshold=threshold, margin=margin)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", fold(text))) - _STOP_WORDS


def word_subset_match(text: str, options: Mapping[str, str]) -> str | None:
    """The one option whose label contains every word of `text` ("Parent" -> "Parent or carer").

    None when no label or more than one label contains them ("Trust" is in two labels).
    """
    words = _words(text)
    if not words:
        return None
    hits = [oid for oid, label in options.items() if words <= _words(label)]
    return hits[0] if len(hits) == 1 else None


def label_match(text: str, options: Mapping[str, str]) -> str | None:
    """A free-text name of a choice: a close fuzzy match of the whole label, else a unique word match."""
    return best_match(text, options) or word_subset_match(text, options)


def pick_best(scores: Mapping[str, float], *, threshold: float, margin: float) -> str | None:
    """The id with the top score if it reaches `threshold` and leads the runner-up by `margin`."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][1] < threshold:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < margin:
        return None
    return ranked[0][0]


def choice_phrases(choices: Mapping[str, str]) -> Mapping[str, str]:
    """Every folded phrase that names a choice: its label and unambiguous synonyms -> choice id.

    Built once per set of choices (a form's scale, categories), not once per cell it is read from.
    """
    return _choice_phrases(tuple(choices.items()))


@lru_cache(maxsize=64)
def _choice_phrases(choices: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    phrases: dict[str, str] = {}
    for cid, label in choices:
        key = fold_label(label)
        phrases[key] = cid
        for synonym in SCALE_SYNONYMS.get(key, ()):
            phrases[synonym] = cid
    return MappingProxyType(phrases)  # shared by every caller: read-only


@lru_cache(maxsize=64)
def _phrases_longest_first(choices: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """(phrase, choice id), longest phrase first, so "not sure" is tried before "sure"."""
    return tuple(sorted(_choice_phrases(choices).items(), key=lambda p: -len(p[0])))


def choice_word(text: str, choices: Mapping[str, str]) -> str | None:
    """The choice id a short answer such as "Not Sure" or "unsure" names, or None.

    Exact labels and synonyms first, then a close fuzzy match (typos such as "Agre").
    """
    key = fold_label(text)
    if not key:
        return None
    phrases = choice_phrases(choices)
    if key in phrases:
        return phrases[key]
    scores: dict[str, float] = {}
    for phrase, cid in phrases.items():
        scores[cid] = max(scores.get(cid, 0.0), fuzz.ratio(key, phrase))
    return pick_best(scores, threshold=88.0, margin=8.0)


def leading_choice(text: str, choices: Mapping[str, str]) -> tuple[str | None, str]:
    """Split "Disagree - because ..." into ("disagree", "because ...").

    The choice must be the first words and be followed by the end or a separator; otherwise
    (None, text) so that "Agree with the aim but ..." stays a comment.
    """
    folded = fold(text)
    for phrase, cid in _phrases_longest_first(tuple(choices.items())):
        if not folded.startswith(phrase):
            continue
        rest = folded[len(phrase) :]
        m = _CHOICE_END.match(rest)
        if m:
            return cid, _drop_prefix_chars(text, len(phrase)).lstrip(" \t-:;,.!)/\u2013\u2014")
    return None, text


def _drop_prefix_chars(text: str, n_folded: int) -> str:
    """Drop the original characters that fold to the first `n_folded` folded characters."""
    stripped = text.lstrip()
    count = 0
    for i in range(len(stripped) + 1):
        if len(fold(stripped[:i])) >= n_folded:
            count = i
            break
    return stripped[count:]


def is_tick(cell_text: str) -> bool | None:
    """Whether a box cell is ticked: True, False (empty or an empty box), None (a mark we cannot read).

    A typed X (any case), a tick, ☒, or "Yes" count; a box glyph left beside a typed X counts as
    the X. Anything else, such as "?" or a word, is None: a person must look.
    """
    rest = "".join(ch for ch in cell_text if ch not in _BOX_FRAME).strip()
    rest = " ".join(rest.split())
    if not rest:
        return False
    tokens = set(fold(rest).replace(" ", ""))
    if fold(rest) in TICK_TOKENS:
        return True
    if tokens and tokens <= {t for t in TICK_TOKENS if len(t) == 1}:
        return True
    return None


def is_mark_token(token: str) -> bool:
    """A single word that is a box mark (☐, ☒, X, ✓) rather than text."""
    return token in (CHECKED, UNCHECKED) or is_tick(token) is True and fold(token) != "yes"


def strip_placeholder(text: str) -> str:
    """Remove placeholder text a blank content control or form field leaves behind."""
    out = text
    for placeholder in _PLACEHOLDER_RES:
        out = placeholder.sub("", out)
    return out


def clean_comment(text: str) -> str:
    """A comment as the respondent wrote it: placeholders gone, lines trimmed, blank lines dropped."""
    text = strip_placeholder(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def clean_value(text: str) -> str | None:
    """A respondent field value (name, address ...): cleaned like a comment, None when empty or "N/A"."""
    cleaned = clean_comment(text)
    return cleaned if cleaned and fold_label(cleaned) not in EMPTY_WORDS else None


def strip_label(text: str, label: str) -> str:
    """Remove a leading label such as "Comments:" from a cell that holds the label and the answer."""
    m = re.match(rf"^\s*{re.escape(label)}\s*[:\-\u2013]?\s*", text, flags=re.IGNORECASE)
    return text[m.end() :] if m else text


def is_email(text: str) -> bool:
    """A plausible single e-mail address."""
    return bool(_EMAIL_RE.match(text.strip()))


def find_email(text: str) -> str | None:
    """The first e-mail address in a text, e.g. "Email: jo@example.org (work)"."""
    m = _EMAIL_FIND_RE.search(text)
    return m.group(0).strip(".") if m else None
