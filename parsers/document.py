"""The intermediate form of every document a respondent sends.

Each format reader (docx, PDF, converted .doc/.rtf/.odt, the e-mail body) turns its input into a
`Document`; one form reader (`parsers.formreader`) maps a Document onto the form definition. Check
boxes of every kind (legacy form fields, content controls, ☒ glyphs, Wingdings ticks, AcroForm
check boxes) are rendered as the two canonical marks below, so the form reader never needs to know
which format a mark came from. A typed "X" stays an "X": only the form reader knows it sits in a
box cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CHECKED = "\u2612"  # ☒
UNCHECKED = "\u2610"  # ☐

# Box and tick glyphs respondents type or paste, in any format, and the mark each one means.
GLYPH_MARKS: dict[str, str] = {
    UNCHECKED: UNCHECKED,
    "\u2612": CHECKED,  # ☒
    "\u2611": CHECKED,  # ☑
    "\u2713": CHECKED,  # ✓
    "\u2714": CHECKED,  # ✔
    "\u2717": CHECKED,  # ✗
    "\u2718": CHECKED,  # ✘
    "\u2705": CHECKED,  # ✅
    "\u2327": CHECKED,  # ⌧
    "\u22a0": CHECKED,  # ⊠
    "\u25a3": CHECKED,  # ▣
    "\U0001f5f8": CHECKED,  # 🗸
    "\U0001f5f9": CHECKED,  # 🗹
    "\U0001f5f7": CHECKED,  # 🗷
    "\u25a1": UNCHECKED,  # □
    "\u274f": UNCHECKED,  # ❏
    "\u2750": UNCHECKED,  # ❐
    "\u2751": UNCHECKED,  # ❑
    "\u2752": UNCHECKED,  # ❒
}


@dataclass(frozen=True)
class Paragraph:
    """A paragraph outside any table; its text has no line breaks except soft ones (\\n)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table as rows of cell texts; the paragraphs of one cell are joined by "\\n".

    A merged (gridSpan) cell appears once; nested tables are flattened into their cell's text.
    """

    rows: tuple[tuple[str, ...], ...]


Block = Paragraph | Table


@dataclass(frozen=True)
class Document:
    """What a reader found in one attachment or body.

    `fields` holds named form fields when the format has them (a fillable PDF's AcroForm or XFA
    data): field name -> value, where a check box's value is CHECKED or UNCHECKED and a text
    field's value is its text. `problems` are reasons a person must look (for example "scanned
    document, no text"), found while reading.
    """

    blocks: tuple[Block, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def plain_text(self) -> str:
        """All text in reading order, tables row by row with cells separated by tabs."""
        out: list[str] = []
        for b in self.blocks:
            if isinstance(b, Paragraph):
                out.append(b.text)
            else:
                out.extend("\t".join(row) for row in b.rows)
        return "\n".join(out)
