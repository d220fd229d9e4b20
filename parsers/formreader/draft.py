"""What the form reader works on and builds: rows of a document, and the draft of what was found.

Every way of finding answers (choice rows, landmarks, the walker, named fields) writes into a
`Draft`; only `decide` turns a draft into a Reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from parsers.document import Document, Paragraph


class Key(StrEnum):
    """Where the draft keeps what is not a question or a respondent field."""

    CATEGORY = "category"
    CONTACT = "contact"
    CONFIDENTIAL = "confidential"
    ACKNOWLEDGE = "acknowledge"
    ACK_EMAIL = "ack_email"
    REASON = "confidential_reason"
    OTHER_TEXT = "category_other"


RESPONDENT_KEYS = ("name", "organisation", "address", "email")

# The field a draft key fills, named as `store.review` names its settings ("q3.choice",
# "respondent.name"): the keys of a Reading's `found`.
_FIELD_OF = {
    Key.CATEGORY: "respondent.category",
    Key.OTHER_TEXT: "respondent.category_other",
    Key.CONTACT: "contact_again",
    Key.CONFIDENTIAL: "confidential",
    Key.REASON: "confidential_reason",
    Key.ACKNOWLEDGE: "acknowledge",
    Key.ACK_EMAIL: "acknowledge_email",
    **{k: f"respondent.{k}" for k in RESPONDENT_KEYS},
}


def field_of(key: str, part: str = "choice") -> str:
    """The field a draft key fills: a question id with `part` ("choice" or "comment"), or another item."""
    return _FIELD_OF.get(key, f"{key}.{part}")


def clip(text: str, most: int = 40) -> str:
    """A short quotation for a location ("table row “Name”")."""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


Mark = bool | None  # True ticked, False empty, None a mark that cannot be read


# --------------------------------------------------------------------------------------------------
# Rows: every table row and every paragraph, in reading order.


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    in_table: bool

    @property
    def filled(self) -> tuple[str, ...]:
        return tuple(c for c in self.cells if c.strip())

    @property
    def text(self) -> str:
        return "\n".join(self.filled)


def document_rows(doc: Document) -> list[Row]:
    """Flatten the blocks: a paragraph is a one-cell row."""
    rows: list[Row] = []
    for block in doc.blocks:
        if isinstance(block, Paragraph):
            rows.append(Row((block.text,), False))
        else:
            rows.extend(Row(tuple(cells), True) for cells in block.rows)
    return rows


@dataclass(frozen=True)
class ChoiceMarks:
    """What one row (or several) says about one group of choices."""

    marks: Mapping[str, tuple[Mark, ...]]
    unclear: tuple[tuple[str, str], ...] = ()  # (choice id, raw text of the mark)
    ambiguous: bool = False  # a tick that could belong to two boxes
    way: str = "mark in a label's cell"  # how the ticks were given to their labels (a key of rules.WAYS)

    @property
    def ticked(self) -> bool:
        return any(True in ms for ms in self.marks.values())


# --------------------------------------------------------------------------------------------------
# The draft: everything found so far, before the decisions.


@dataclass
class Draft:
    texts: dict[str, list[str]] = field(default_factory=dict)
    singles: dict[str, list[tuple[Mark, str]]] = field(default_factory=dict)
    groups: dict[str, list[ChoiceMarks]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)
    by_text: set[str] = field(default_factory=set)
    landmarks: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    # How each question's heading was recognised (a key of landmarks.HEADER_RULES).
    rules: dict[str, str] = field(default_factory=dict)
    # A letter's frame, none of it filed as an answer (see formreader.letters).
    letter: list[str] = field(default_factory=list)  # the parts seen: salutation, closing, courtesy...
    signature: list[str] = field(default_factory=list)
    signature_unread: list[str] = field(default_factory=list)  # under the name: neither title nor organisation
    capacity: list[str] = field(default_factory=list)  # sentences stating in what capacity one writes
    letter_fields: dict[str, list[str]] = field(default_factory=dict)  # name, organisation, address
    preamble: list[str] = field(default_factory=list)  # text before the first answer, not placed
    unplaced: list[str] = field(default_factory=list)  # text after the answers began, not placed
    heading_like: list[tuple[str, str]] = field(default_factory=list)  # (question id, line) inside an answer
    # How each field was found, the first time it was: field ("q3.choice", "respondent.name", see
    # `field_of`) -> (way, a key of rules.WAYS; where, a short location such as "PDF field q3_agree").
    found: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The same for what a letter's frame gives (letter_fields, capacity): used only when nothing else gave it.
    letter_found: dict[str, tuple[str, str]] = field(default_factory=dict)

    def note(self, key: str, way: str, where: str, part: str = "choice") -> None:
        """Remember how the field of draft key `key` was found, unless it was found before."""
        self.found.setdefault(field_of(key, part), (way, where))

    def add_text(self, key: str, text: str, how: tuple[str, str] | None = None) -> None:
        self.texts.setdefault(key, []).append(text)
        self.landmarks.add(key)
        if how and text.strip():
            self.note(key, *how)

    def add_single(self, key: str, mark: Mark, raw: str, how: tuple[str, str] | None = None) -> None:
        self.singles.setdefault(key, []).append((mark, raw))
        self.landmarks.add(key)
        if how:
            self.note(key, *how)

    def add_group(self, key: str, marks: ChoiceMarks, how: tuple[str, str] | None = None) -> None:
        """`how` is noted only for marks that tick a box: an empty row of boxes files nothing."""
        self.groups.setdefault(key, []).append(marks)
        self.landmarks.add(key if not key.startswith("q") else "questions")
        if how and marks.ticked:
            self.note(key, *how)

    def tick(self, key: str, cid: str, how: tuple[str, str] | None = None) -> None:
        """A choice stated in words ("Category - Parent or carer") is a tick of that box."""
        self.add_group(key, ChoiceMarks({cid: (True,)}), how)

    def add_comment(self, qid: str, text: str, how: tuple[str, str] | None = None) -> None:
        self.comments.setdefault(qid, []).append(text)
        if how and text.strip():
            self.note(qid, *how, part="comment")
