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

    def add_text(self, key: str, text: str) -> None:
        self.texts.setdefault(key, []).append(text)
        self.landmarks.add(key)

    def add_single(self, key: str, mark: Mark, raw: str) -> None:
        self.singles.setdefault(key, []).append((mark, raw))
        self.landmarks.add(key)

    def add_group(self, key: str, marks: ChoiceMarks) -> None:
        self.groups.setdefault(key, []).append(marks)
        self.landmarks.add(key if not key.startswith("q") else "questions")

    def tick(self, key: str, cid: str) -> None:
        """A choice stated in words ("Category - Parent or carer") is a tick of that box."""
        self.add_group(key, ChoiceMarks({cid: (True,)}))

    def add_comment(self, qid: str, text: str) -> None:
        self.comments.setdefault(qid, []).append(text)
