"""Landmarks: the lines and rows that say which part of the form comes next.

Question headings ("Question 3: Agree", "3.", the wording alone), labelled rows of the respondent
block and the closing boxes, "Key: value" lines of a retyped form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from parsers import normalise as nz
from parsers.formdef import FormDefinition, Question
from parsers.formreader.choices import mark_token_re, read_choice_row, split_inline_marks
from parsers.formreader.draft import RESPONDENT_KEYS, Key, Mark, Row

EXPLICIT_Q = re.compile(r"^\s*(?:question|q)\s*\.?\s*(\d{1,2})(?![\d])\s*([:.)\-\u2013\u2014]?)\s*(.*)$", re.I | re.S)
_BARE_Q = re.compile(r"^\s*(\d{1,2})(\s*[.):]\s*|\s+|\s*$)(.*)$", re.S)
_TOPIC_HEAD = re.compile(
    r"^\s*(?:(?:on|re|about|regarding|concerning)\b\s*)?(?P<head>[^:.?!\n]{3,60}?)\s*(?::\s*(?P<rest>.*))?$",
    re.I | re.S,
)
KEY_VALUE = re.compile(r"^\s*([^\n]{2,80}?)\s*(?::|\s[-\u2013\u2014]\s)\s*(.*)$", re.S)
ANSWER_KEY = re.compile(r"^\s*(?:answer|response|reply|choice|your answer|view)\s*[:\-\u2013]\s*(.*)$", re.I | re.S)
COMMENT_KEY = re.compile(r"^\s*(?:comments?|reasons?)\s*(?::|\s[-\u2013]\s|$)\s*", re.I)
SPECIFY = re.compile(r"^\s*(?:if other,?\s*)?please\s+specify\s*[:\-\u2013]?\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class Header:
    """A question's heading, and the rule by which it was recognised (see `HEADER_RULES`)."""

    question: Question
    rest: str
    by_text: bool
    rule: str = "explicit"


# How a heading can name a question, and what makes each safe. The weak ones (a number alone, a
# number before text, a topic) count only in ascending order (the walker checks it).
HEADER_RULES: dict[str, str] = {
    "explicit": "“Question 3” or “Q3”: the word question and a number of the form",
    "number+wording": "a number followed by that question's own wording",
    "number+answer": "a number followed directly by a choice of the scale (“3. Agree”)",
    "wording": "the question's wording alone, as a question (with its “?”)",
    "number": "a number alone on its line (“8.”), in ascending order",
    "number+text": "a number and a full stop or bracket before other text (“8. We think…”), in ascending order, "
    "not continuing a numbered list inside the answer",
    "topic": "a short heading naming one question's topic from the form definition (“On leadership:”), "
    "in ascending order",
}
WEAK_RULES = frozenset({"number", "number+text", "topic"})


def _strip_question_text(rest: str, question: Question) -> tuple[bool, str]:
    """Whether `rest` begins with the question's wording, and what follows it."""
    qf = nz.fold(question.text)
    if "?" in rest:
        head, _, tail = rest.partition("?")
        if fuzz.ratio(nz.fold(head + "?"), qf) >= 80:
            return True, tail
    folded = nz.fold(rest)
    if folded.endswith((".", "!")):
        return False, rest  # a statement echoing the question is an answer, not its wording
    if fuzz.ratio(folded, qf) >= 90:
        return True, ""
    if (
        len(folded) >= 20
        and len(folded) < len(qf)
        and qf.startswith(folded[:12])
        and fuzz.partial_ratio(folded, qf) >= 92
    ):
        return True, ""  # the first line of the wording, wrapped
    return False, rest


def _question_by_number(form: FormDefinition, number: str) -> Question | None:
    return next((q for q in form.questions if q.number == int(number)), None)


def question_by_text(text: str, form: FormDefinition) -> Question | None:
    """The question whose wording the text reproduces (a retyped form without numbers)."""
    head = text.split("?")[0] + "?" if "?" in text else text
    if len(head) < 20 or ("?" not in text and text.rstrip().endswith((".", "!"))):
        return None  # a statement echoing the wording answers the question
    # Without its "?" a line must be the wording itself: "The guidance gives a strong enough focus to
    # prevention ..." echoes question 5 to answer it.
    threshold = 85.0 if "?" in text else 95.0
    scores = {q.id: fuzz.ratio(nz.fold(head), nz.fold(q.text)) for q in form.questions}
    qid = nz.pick_best(scores, threshold=threshold, margin=5.0)
    return form.question(qid) if qid else None


def _answer_starts(rest: str, form: FormDefinition) -> bool:
    scale = {c.id: c.label for c in form.scale}
    return nz.leading_choice(rest, scale)[0] is not None or read_choice_row(Row((rest,), False), scale) is not None


def find_header(row: Row, form: FormDefinition) -> Header | None:
    """A question's heading: "Question 3: Agree", "Q3", "3  Does the guidance ...?", or its wording alone.

    A row of cells whose first cell is only "Question 3" (a respondent's own table) heads that
    question too, the other cells being its answer: left alone, they would join the comment above.
    """
    if len(row.filled) > 1 and EXPLICIT_Q.match(row.filled[0]) and not EXPLICIT_Q.match(row.filled[0]).group(3):
        text = row.filled[0].strip() + ": " + " ".join(c.strip() for c in row.filled[1:])
    elif len(row.filled) != 1:
        return None
    else:
        text = row.filled[0].strip()
    explicit = EXPLICIT_Q.match(text)
    if explicit:
        return _explicit_header(explicit, form)
    bare = _BARE_Q.match(text)
    if bare:
        return _bare_header(bare, form)
    question = question_by_text(text, form)
    if question:
        return Header(question, _strip_question_text(text, question)[1], True, "wording")
    return topic_header(text, form)


def topic_header(text: str, form: FormDefinition) -> Header | None:
    """ "On leadership:" or "Prevention and early intervention" as a heading: one question's topic, and short."""
    m = _TOPIC_HEAD.match(text)
    if m is None or len(m.group("head").split()) > 6:
        return None
    if m.group("rest") is None and text.rstrip().endswith((".", "?", "!")):
        return None
    head = m.group("head")
    folded = nz.fold(head)
    hits = [q for q in form.questions if nz.names_any(folded, q.topics)]
    if len(hits) != 1 or not _mostly_topic(head, hits[0]):
        return None
    return Header(hits[0], m.group("rest") or "", False, "topic")


def _mostly_topic(head: str, question: Question) -> bool:
    """The heading's words are mostly the topic's: "Leadership", not "Leadership is not the problem here"."""
    words = set(re.findall(r"[a-z']+", nz.fold(head))) - {"the", "and", "of", "on", "to", "for", "a", "in"}
    topic_words = {w for t in question.topics for w in re.findall(r"[a-z']+", nz.fold(t))}
    return len(words - topic_words) <= 1


def _explicit_header(m: re.Match[str], form: FormDefinition) -> Header | None:
    question = _question_by_number(form, m.group(1))
    if question is None:
        return None
    matched, rest = _strip_question_text(m.group(3), question)
    if m.group(2) or not m.group(3).strip() or matched or _answer_starts(rest, form):
        return Header(question, rest, matched, "explicit")
    return None


def _bare_header(m: re.Match[str], form: FormDefinition) -> Header | None:
    question = _question_by_number(form, m.group(1))
    if question is None:
        return None
    separator, text = m.group(2), m.group(3)
    matched, rest = _strip_question_text(text, question)
    if matched:
        return Header(question, rest, True, "number+wording")
    if _answer_starts(rest, form):
        return Header(question, rest, False, "number+answer")
    if not text.strip():
        return Header(question, "", False, "number")
    if separator.strip() in (".", ")") and text[:1].isupper():
        return Header(question, text, False, "number+text")
    return None


def _label_cells(row: Row, label: str, threshold: float = 80.0) -> tuple[list[Mark], str] | None:
    """A table row whose first cell is `label`: the marks typed beside the label, and the other cells' text."""
    if not row.in_table or len(row.cells) < 2:
        return None
    before, core, after = split_inline_marks(row.cells[0])
    if nz.similarity(core, label) < threshold:
        return None
    return [*before, *after], "\n".join(c for c in row.cells[1:] if c.strip())


def label_row(row: Row, label: str) -> str | None:
    """The value beside a label cell ("E-mail address for acknowledgement:" | value)."""
    found = _label_cells(row, label)
    return found[1] if found else None


def label_box(row: Row, label: str) -> tuple[Mark, str] | None:
    """The mark of a lone box beside its label, wherever the respondent typed it."""
    found = _label_cells(row, label)
    if found is None:
        return None
    inline, value = found
    marks = [*inline, yes_no(value)] if value or not inline else inline
    if None in marks:
        return None, value or "?"
    return any(marks), value


def is_prompt(row: Row, prompt: str) -> bool:
    """A row that is (or starts with) a printed prompt such as the category or contact-again question."""
    first = row.filled[0] if row.filled else ""
    return len(first) > 15 and fuzz.ratio(nz.fold(first), nz.fold(prompt)) >= 80


def key_field(key: str, form: FormDefinition) -> tuple[str, bool] | None:
    """Which form item a "Key: value" line fills, and whether the key is the form's own label.

    The form's labels first (fuzzy), then plain words people use for them ("Email", "Category").
    """
    labels = _field_labels(form)
    exact = nz.best_match(key, labels, threshold=85.0)
    if exact:
        return exact, True
    by_words = _key_by_words(nz.fold_label(key))
    return (by_words, False) if by_words else None


def _field_labels(form: FormDefinition) -> dict[str, str]:
    labels = {f.id: f.label for f in form.respondent_fields}
    labels.update(
        {
            Key.CONFIDENTIAL: form.confidential_label,
            Key.REASON: form.confidential_reason_label,
            Key.ACKNOWLEDGE: form.acknowledge_label,
            Key.ACK_EMAIL: form.acknowledge_email_label,
        }
    )
    return labels


_WORD_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int], ...] = (
    # (field, words all of which must be in the key, words none of which may be, most words in the key)
    (Key.REASON, ("reason",), (), 6),
    (Key.CONFIDENTIAL, ("confiden",), (), 8),
    (Key.ACK_EMAIL, ("acknowledg", "mail"), (), 8),
    (Key.ACKNOWLEDGE, ("acknowledg",), (), 8),
    (Key.CONTACT, ("contact",), ("mail", "name", "address", "phone", "detail"), 8),
    (Key.CATEGORY, ("category",), (), 4),
    (Key.CATEGORY, ("respondent", "type"), (), 4),
    (Key.CATEGORY, ("capacity",), (), 4),
    (Key.CATEGORY, ("responding as",), (), 4),
    ("organisation", ("organi",), (), 3),
    ("email", ("mail",), (), 3),
    ("address", ("address",), (), 3),
    ("name", ("name",), ("organi",), 3),
)
_CLOSING_KEYS = (Key.CONTACT, Key.ACKNOWLEDGE, Key.CONFIDENTIAL)


def _key_by_words(key: str) -> str | None:
    for target, wanted, unwanted, most in _WORD_RULES:
        if len(key.split()) > most:
            continue
        if all(w in key for w in wanted) and not any(w in key for w in unwanted):
            return target
    return None


def fits_in_question(target: str, own_label: bool, value: str) -> bool:
    """Inside a question's comment only an unmistakable line ends it: a closing Yes/No or a labelled field."""
    if target in _CLOSING_KEYS:
        return 0 < len(value.split()) <= 3
    return own_label and target in RESPONDENT_KEYS and "\n" not in value and len(value) <= 100


def split_specify(cells: tuple[str, ...], form: FormDefinition) -> tuple[tuple[str, ...], str]:
    """Split "Other (please specify): Foster carer" typed in the label cell into the label and the text."""
    other = next((c for c in form.categories if c.specify), None)
    if other is None:
        return cells, ""
    pattern = _specify_pattern(other.label)
    out: list[str] = []
    specified = ""
    for cell in cells:
        m = pattern.match(cell.strip())
        if m and m.group("extra").strip() and not specified:
            specified = m.group("extra").strip()
            cell = f"{m.group('lead')}{other.label}{m.group('tail')}"
        out.append(cell)
    return tuple(out), specified


@lru_cache(maxsize=16)
def _specify_pattern(label: str) -> re.Pattern[str]:
    """The "Other (please specify): text" cell of this label; compiled once per process, not per row."""
    base = re.escape(re.sub(r"\s*\([^)]*\)", "", label).strip())
    return re.compile(
        rf"^(?P<lead>(?:{mark_token_re()})?\s*){base}(?:\s*\([^)]*\))?\s*[:\-\u2013]?\s*(?P<extra>.*?)"
        rf"(?P<tail>\s*(?:{mark_token_re()})?)$",
        re.I | re.S,
    )


def other_id(form: FormDefinition) -> str:
    return next((c.id for c in form.categories if c.specify), form.categories[-1].id)


def yes_no(value: str) -> Mark:
    folded = nz.fold_label(value)
    if folded in ("no", "n", "false", "not required", "none", "no thanks", "no thank you"):
        return False
    if folded in ("y", "true", "please", "yes please"):
        return True
    return nz.is_tick(value) if folded not in ("",) else False
