"""Map a Document (the IR of any attachment or e-mail body) onto the form definition.

The rule above all others: never a silent wrong answer. Whenever a mark or a layout cannot be read
with certainty the answer is left empty (None) and a review reason says why, in words staff use.

Reading works in three ways, tried in order:
1. named form fields (a fillable PDF's AcroForm), mapped by field name;
2. a walk over the blocks, row by row (a table row or a paragraph), which recognises the form's
   landmarks (respondent block, category grid, numbered questions with their scale row and comment,
   closing boxes) in both the Word layout and a retyped, line-oriented layout ("Question 3: Agree");
3. when fewer than two landmarks (and no question) are found, the document is a free-form letter:
   its full text is kept for a person to read.

Decisions documented here:
- Respondent category: a "Please specify" text with no box ticked is read as category "other" with
  that text (the text can only answer "Other (please specify)"); a specify text beside another ticked
  category is sent for review.
- An unanswered question is not a review reason; a question of a Word/printed form that is missing
  altogether is (the form was altered or is incomplete). In a retyped reply (e-mail body), leaving a
  question out is how people leave it unanswered, so it is not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from parsers import blankform_pdf as pdf_names
from parsers import normalise as nz
from parsers.document import Document, Paragraph
from parsers.formdef import Choice, FormDefinition, Question
from parsers.model import Answer, Reading, Respondent

log = logging.getLogger(__name__)

LETTER_REASON = "No response form found: this looks like a free-form letter, so a person must read it."
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


# --------------------------------------------------------------------------------------------------
# Choice rows: a row of labels and boxes, in any of the layouts respondents produce.


@dataclass(frozen=True)
class Token:
    kind: str  # "L" a choice label, "M" a box or mark, "T" other text
    value: str | Mark  # the choice id for L, the mark for M, the text for T
    cell: int
    raw: str = ""


@dataclass(frozen=True)
class ChoiceMarks:
    """What one row (or several) says about one group of choices."""

    marks: Mapping[str, tuple[Mark, ...]]
    unclear: tuple[tuple[str, str], ...] = ()  # (choice id, raw text of the mark)
    ambiguous: bool = False  # a tick that could belong to two boxes


_MARK_WORD = r"(?<![\w])[xX\u2713\u2714\u2717\u2718\u221a](?![\w])"
_BRACKETED = r"\[\s*[xX\u2713\u2714\u221a]?\s*\]|\(\s*[xX\u2713\u2714\u221a]?\s*\)"


def _mark_token_re() -> str:
    return rf"{_BRACKETED}|[{nz.GLYPH_MARKS}]|{_MARK_WORD}"


def _label_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """A regex finding choice phrases and box marks inside one folded cell text."""
    alternatives = sorted(phrases, key=len, reverse=True)
    words = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in alternatives)
    return re.compile(rf"(?<![\w'])(?P<label>{words})(?![\w'])|(?P<mark>{_mark_token_re()})")


def _split_inline_marks(text: str) -> tuple[list[Mark], str, list[Mark]]:
    """Peel box marks off both ends of a label cell: "X Agree" -> ([True], "Agree", [])."""
    before: list[Mark] = []
    after: list[Mark] = []
    rest = text.strip()
    while m := re.match(rf"^\s*({_mark_token_re()})\s*", rest):
        before.append(nz.is_tick(m.group(1)))
        rest = rest[m.end() :]
    while m := re.search(rf"\s*({_mark_token_re()})\s*$", rest):
        if m.start() == 0:
            break
        after.insert(0, nz.is_tick(m.group(1)))
        rest = rest[: m.start()]
    return before, rest, after


def _scan_cell(text: str, index: int, choices: Mapping[str, str]) -> list[Token] | None:
    """Tokens of a cell holding several labels and marks ("Agree ☒ Disagree ☐"), or None if it holds prose."""
    phrases = nz.choice_phrases(choices)
    folded = nz.fold(text)
    tokens: list[Token] = []
    last = 0
    for m in _label_pattern(list(phrases)).finditer(folded):
        if re.search(r"[a-z0-9]", folded[last : m.start()]):
            return None
        if m.group("label"):
            tokens.append(Token("L", phrases[" ".join(m.group("label").split())], index))
        else:
            tokens.append(Token("M", nz.is_tick(m.group("mark")), index, m.group("mark")))
        last = m.end()
    if re.search(r"[a-z0-9]", folded[last:]) or not any(t.kind == "L" for t in tokens):
        return None
    return tokens


def _cell_tokens(text: str, index: int, choices: Mapping[str, str]) -> list[Token]:
    """One cell as tokens: a box, a label (with marks typed beside it), several of them, or text."""
    stripped = text.strip()
    if not stripped:
        return [Token("M", False, index)]
    before, core, after = _split_inline_marks(stripped)
    label = nz.choice_word(core, choices) if core else None
    if label:
        marks = [Token("M", m, index, "inline") for m in before]
        return [*marks, Token("L", label, index), *[Token("M", m, index, "inline") for m in after]]
    mark = nz.is_tick(stripped)
    if mark is not None:
        return [Token("M", mark, index, stripped)]
    scanned = _scan_cell(stripped, index, choices)
    return scanned if scanned is not None else [Token("T", stripped, index, stripped)]


def _is_choice_row(tokens: Sequence[Token]) -> bool:
    labels = [t for t in tokens if t.kind == "L"]
    marks = [t for t in tokens if t.kind == "M"]
    return len(labels) >= 2 or (len(labels) == 1 and bool(marks))


UNKNOWN = ""  # the "choice id" of text in a choice row that names no choice


def _unclear_cells(tokens: Sequence[Token]) -> list[Token]:
    """In a choice row, short text where a box should be is an unreadable mark; longer text an unknown label.

    Keeping the unknown label in place stops a tick beside it from being handed to a neighbour.
    """
    out: list[Token] = []
    for t in tokens:
        if t.kind == "T" and len(str(t.value)) <= 15:
            out.append(Token("M", None, t.cell, str(t.value)))
        elif t.kind == "T":
            out.append(Token("L", UNKNOWN, t.cell, str(t.value)))
        else:
            out.append(t)
    return out


def _assign_inline(tokens: Sequence[Token]) -> tuple[dict[str, list[Token]], list[Token]]:
    """Marks in the same cell as exactly one label belong to it; return them and the remaining tokens."""
    owned: dict[str, list[Token]] = {}
    rest: list[Token] = []
    by_cell: dict[int, list[Token]] = {}
    for t in tokens:
        by_cell.setdefault(t.cell, []).append(t)
    for cell_tokens in by_cell.values():
        labels = [t for t in cell_tokens if t.kind == "L"]
        if len(labels) == 1 and len(cell_tokens) > 1:
            owned.setdefault(str(labels[0].value), []).extend(t for t in cell_tokens if t.kind == "M")
            rest.append(labels[0])
        else:
            rest.extend(cell_tokens)
    return owned, rest


def _runs(tokens: Sequence[Token]) -> list[tuple[str, list[Token]]]:
    """Group consecutive tokens of the same kind: [("L", [agree]), ("M", [☐]), ...]."""
    runs: list[tuple[str, list[Token]]] = []
    for t in tokens:
        if runs and runs[-1][0] == t.kind:
            runs[-1][1].append(t)
        else:
            runs.append((t.kind, [t]))
    return runs


def _assign_positional(tokens: Sequence[Token]) -> tuple[dict[str, list[Token]], bool]:
    """Give each run of marks to its label by the row's shape: boxes after labels or before them.

    A run with a label on one side only goes to that label; between two labels it goes by the
    row's shape when the row alternates strictly, else a tick there is ambiguous.
    """
    runs = _runs(tokens)
    shape = "".join(kind for kind, _ in runs)
    after = bool(re.fullmatch(r"(LM)+", shape))
    before = bool(re.fullmatch(r"(ML)+", shape))
    owned: dict[str, list[Token]] = {}
    ambiguous = False
    for i, (kind, run) in enumerate(runs):
        if kind != "M":
            continue
        prev_label = runs[i - 1][1][-1] if i > 0 else None
        next_label = runs[i + 1][1][0] if i + 1 < len(runs) else None
        if prev_label and (after or not next_label):
            owner = prev_label
        elif next_label and (before or not prev_label):
            owner = next_label
        else:
            ambiguous = ambiguous or any(t.value is not False for t in run)
            continue
        for label in (runs[i - 1][1] if owner is prev_label else runs[i + 1][1])[:1]:
            owned.setdefault(str(label.value), []).extend(run)
    return owned, ambiguous


def read_choice_row(row: Row, choices: Mapping[str, str]) -> ChoiceMarks | None:
    """The marks a row gives to a group of choices, or None when the row is not a row of these choices."""
    tokens = [t for i, cell in enumerate(row.cells) for t in _cell_tokens(cell, i, choices)]
    if not _is_choice_row(tokens):
        return None
    tokens = _unclear_cells(tokens)
    inline, rest = _assign_inline(tokens)
    positional, ambiguous = _assign_positional(rest)
    marks: dict[str, list[Mark]] = {str(t.value): [] for t in tokens if t.kind == "L" and t.value}
    unclear: list[tuple[str, str]] = []
    unknown_text = next((t.raw for t in tokens if t.kind == "L" and t.value == UNKNOWN), "")
    for source in (inline, positional):
        for cid, owned in source.items():
            if cid == UNKNOWN:
                unclear.extend((UNKNOWN, unknown_text) for t in owned if t.value is not False)
                continue
            marks.setdefault(cid, []).extend(t.value for t in owned)  # type: ignore[misc]
            unclear.extend((cid, t.raw) for t in owned if t.value is None)
    frozen = {cid: tuple(m) for cid, m in marks.items()}
    return ChoiceMarks(frozen, tuple(unclear), ambiguous)


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


# --------------------------------------------------------------------------------------------------
# Recognising landmarks.


_EXPLICIT_Q = re.compile(r"^\s*(?:question|q)\s*\.?\s*(\d{1,2})(?![\d])\s*([:.)\-\u2013\u2014]?)\s*(.*)$", re.I | re.S)
_BARE_Q = re.compile(r"^\s*(\d{1,2})(?:\s*[.):]\s*|\s+)(.*)$", re.S)
_KEY_VALUE = re.compile(r"^\s*([^\n]{2,80}?)\s*(?::|\s[-\u2013\u2014]\s)\s*(.*)$", re.S)
_ANSWER_KEY = re.compile(r"^\s*(?:answer|response|reply|choice|your answer|view)\s*[:\-\u2013]\s*(.*)$", re.I | re.S)
_COMMENT_KEY = re.compile(r"^\s*(?:comments?|reasons?)\s*(?::|\s[-\u2013]\s|$)\s*", re.I)
_SPECIFY = re.compile(r"^\s*(?:if other,?\s*)?please\s+specify\s*[:\-\u2013]?\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class Header:
    question: Question
    rest: str
    by_text: bool


def _strip_question_text(rest: str, question: Question) -> tuple[bool, str]:
    """Whether `rest` begins with the question's wording, and what follows it."""
    qf = nz.fold(question.text)
    if "?" in rest:
        head, _, tail = rest.partition("?")
        if fuzz.ratio(nz.fold(head + "?"), qf) >= 80:
            return True, tail
    folded = nz.fold(rest)
    if fuzz.ratio(folded, qf) >= 80:
        return True, ""
    if len(folded) >= 20 and fuzz.partial_ratio(folded, qf) >= 92 and len(folded) < len(qf):
        return True, ""
    return False, rest


def _question_by_number(form: FormDefinition, number: str) -> Question | None:
    return next((q for q in form.questions if q.number == int(number)), None)


def _question_by_text(text: str, form: FormDefinition) -> Question | None:
    """The question whose wording the text reproduces (a retyped form without numbers)."""
    head = text.split("?")[0] + "?" if "?" in text else text
    if len(head) < 20:
        return None
    scores = {q.id: fuzz.ratio(nz.fold(head), nz.fold(q.text)) for q in form.questions}
    qid = nz.pick_best(scores, threshold=85.0, margin=5.0)
    return form.question(qid) if qid else None


def _answer_starts(rest: str, form: FormDefinition) -> bool:
    scale = {c.id: c.label for c in form.scale}
    return nz.leading_choice(rest, scale)[0] is not None or read_choice_row(Row((rest,), False), scale) is not None


def find_header(row: Row, form: FormDefinition) -> Header | None:
    """A question's heading: "Question 3: Agree", "Q3", "3  Does the guidance ...?", or its wording alone.

    A row of cells whose first cell is only "Question 3" (a respondent's own table) heads that
    question too, the other cells being its answer: left alone, they would join the comment above.
    """
    if len(row.filled) > 1 and _EXPLICIT_Q.match(row.filled[0]) and not _EXPLICIT_Q.match(row.filled[0]).group(3):
        text = row.filled[0].strip() + ": " + " ".join(c.strip() for c in row.filled[1:])
    elif len(row.filled) != 1:
        return None
    else:
        text = row.filled[0].strip()
    explicit = _EXPLICIT_Q.match(text)
    if explicit:
        return _explicit_header(explicit, form)
    bare = _BARE_Q.match(text)
    if bare:
        return _bare_header(bare, form)
    question = _question_by_text(text, form)
    if question:
        return Header(question, _strip_question_text(text, question)[1], True)
    return None


def _explicit_header(m: re.Match[str], form: FormDefinition) -> Header | None:
    question = _question_by_number(form, m.group(1))
    if question is None:
        return None
    matched, rest = _strip_question_text(m.group(3), question)
    if m.group(2) or not m.group(3).strip() or matched or _answer_starts(rest, form):
        return Header(question, rest, matched)
    return None


def _bare_header(m: re.Match[str], form: FormDefinition) -> Header | None:
    question = _question_by_number(form, m.group(1))
    if question is None:
        return None
    matched, rest = _strip_question_text(m.group(2), question)
    if matched or _answer_starts(rest, form):
        return Header(question, rest, matched)
    return None


def _label_cells(row: Row, label: str, threshold: float = 80.0) -> tuple[list[Mark], str] | None:
    """A table row whose first cell is `label`: the marks typed beside the label, and the other cells' text."""
    if not row.in_table or len(row.cells) < 2:
        return None
    before, core, after = _split_inline_marks(row.cells[0])
    if nz.similarity(core, label) < threshold:
        return None
    return [*before, *after], "\n".join(c for c in row.cells[1:] if c.strip())


def _label_row(row: Row, label: str) -> str | None:
    """The value beside a label cell ("E-mail address for acknowledgement:" | value)."""
    found = _label_cells(row, label)
    return found[1] if found else None


def _label_box(row: Row, label: str) -> tuple[Mark, str] | None:
    """The mark of a lone box beside its label, wherever the respondent typed it."""
    found = _label_cells(row, label)
    if found is None:
        return None
    inline, value = found
    marks = [*inline, _yes_no(value)] if value or not inline else inline
    if None in marks:
        return None, value or "?"
    return any(marks), value


def _is_prompt(row: Row, prompt: str) -> bool:
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
            CONFIDENTIAL: form.confidential_label,
            REASON: form.confidential_reason_label,
            ACKNOWLEDGE: form.acknowledge_label,
            ACK_EMAIL: form.acknowledge_email_label,
        }
    )
    return labels


_WORD_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int], ...] = (
    # (field, words all of which must be in the key, words none of which may be, most words in the key)
    (REASON, ("reason",), (), 6),
    (CONFIDENTIAL, ("confiden",), (), 8),
    (ACK_EMAIL, ("acknowledg", "mail"), (), 8),
    (ACKNOWLEDGE, ("acknowledg",), (), 8),
    (CONTACT, ("contact",), ("mail", "name", "address", "phone", "detail"), 8),
    (CATEGORY, ("category",), (), 4),
    (CATEGORY, ("respondent", "type"), (), 4),
    (CATEGORY, ("capacity",), (), 4),
    (CATEGORY, ("responding as",), (), 4),
    ("organisation", ("organi",), (), 3),
    ("email", ("mail",), (), 3),
    ("address", ("address",), (), 3),
    ("name", ("name",), ("organi",), 3),
)
_CLOSING_KEYS = (CONTACT, ACKNOWLEDGE, CONFIDENTIAL)


def _key_by_words(key: str) -> str | None:
    for target, wanted, unwanted, most in _WORD_RULES:
        if len(key.split()) > most:
            continue
        if all(w in key for w in wanted) and not any(w in key for w in unwanted):
            return target
    return None


def _fits_in_question(target: str, own_label: bool, value: str) -> bool:
    """Inside a question's comment only an unmistakable line ends it: a closing Yes/No or a labelled field."""
    if target in _CLOSING_KEYS:
        return 0 < len(value.split()) <= 3
    return own_label and target in RESPONDENT_KEYS and "\n" not in value and len(value) <= 100


# --------------------------------------------------------------------------------------------------
# The walk over rows.


@dataclass
class Walker:
    """Reads rows in order, remembering which part of the form it is in."""

    form: FormDefinition
    draft: Draft = field(default_factory=Draft)
    section: str | None = None  # a question id, CATEGORY, CONTACT, "address" or None

    @property
    def scale(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.scale}

    @property
    def categories(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.categories}

    @property
    def contact_choices(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.contact_again_choices}

    def in_question(self) -> bool:
        return self.section is not None and self.section in self.form.question_ids

    def feed(self, row: Row) -> None:
        if not row.filled:
            if self.section == "address" and not row.in_table:
                self.section = None
            return
        for step in (self._header, self._closing_rows, self._respondent_rows, self._choice_rows):
            if step(row):
                return
        self._loose_text(row)

    # -- each step returns True when it consumed the row --

    def _header(self, row: Row) -> bool:
        header = find_header(row, self.form)
        if header is None:
            return False
        qid = header.question.id
        if qid in self.draft.questions:
            return self._repeated_header(header)
        self.draft.questions.append(qid)
        if header.by_text:
            self.draft.by_text.add(qid)
        self.draft.landmarks.add("questions")
        self.section = qid
        self._check_wording(header)
        if header.rest.strip():
            self._question_line(qid, Row((header.rest,), False), first=True)
        return True

    def _check_wording(self, header: Header) -> None:
        """A number beside another question's wording: which of the two the answer is for is unclear."""
        if header.by_text or not header.rest.strip():
            return
        other = _question_by_text(header.rest, self.form)
        if other is not None and other.id != header.question.id:
            self.draft.reasons.append(
                f"Question {header.question.number} is headed with the wording of question {other.number}: "
                "check which question the answer is for."
            )

    def _repeated_header(self, header: Header) -> bool:
        """A question heading seen before: two forms in one file, or a number inside a comment."""
        if header.question.id == self.section and not header.rest.strip():
            return True  # the wording under its own "Question 3" heading
        if not header.by_text:
            return False
        self.draft.reasons.append(f"Question {header.question.number} appears twice: the file may hold two responses.")
        return False

    def _closing_rows(self, row: Row) -> bool:
        form = self.form
        if (value := _label_row(row, form.acknowledge_email_label)) is not None:
            self.draft.add_text(ACK_EMAIL, value)
        elif (box := _label_box(row, form.acknowledge_label)) is not None:
            self.draft.add_single(ACKNOWLEDGE, *box)
        elif _is_prompt(row, form.contact_again_label):
            self.draft.landmarks.add(CONTACT)
            self.section = CONTACT
            rest = Row(row.cells[1:], row.in_table)
            if rest.filled:
                self._choice_rows(rest)
        else:
            return False
        self.section = self.section if self.section == CONTACT else None
        return True

    def _respondent_rows(self, row: Row) -> bool:
        form = self.form
        if (box := _label_box(row, form.confidential_label)) is not None:
            self.draft.add_single(CONFIDENTIAL, *box)
        elif (value := _label_row(row, form.confidential_reason_label)) is not None:
            self.draft.add_text(REASON, value)
        elif _is_prompt(row, form.category_prompt):
            self.draft.landmarks.add(CATEGORY)
            self.section = CATEGORY
            return True
        else:
            return bool(self._specify_row(row) or self._field_row(row) or self._key_value_row(row))
        self.section = None
        return True

    def _specify_row(self, row: Row) -> bool:
        if self.in_question():
            return False
        first = row.filled[0]
        if row.in_table and len(row.cells) >= 2 and _SPECIFY.match(row.cells[0]):
            self.draft.add_text(OTHER_TEXT, "\n".join(c for c in row.cells[1:] if c.strip()))
        elif (m := _SPECIFY.match(first)) and len(row.filled) == 1:
            self.draft.add_text(OTHER_TEXT, m.group(1))
        else:
            return False
        return True

    def _field_row(self, row: Row) -> bool:
        """A table row "Name | value" of the respondent block."""
        if not row.in_table or len(row.cells) < 2:
            return False
        labels = {f.id: f.label for f in self.form.respondent_fields}
        fid = nz.best_match(row.cells[0], labels)
        if fid is None:
            return False
        self.draft.add_text(fid, "\n".join(c for c in row.cells[1:] if c.strip()))
        self.section = None
        return True

    def _key_value_row(self, row: Row) -> bool:
        """A retyped line "Name - Jane Smith", "Please keep my response confidential - Yes"."""
        if row.in_table or len(row.filled) != 1:
            return False
        m = _KEY_VALUE.match(row.filled[0])
        found = key_field(m.group(1), self.form) if m else None
        if m is None or found is None:
            return False
        value = m.group(2).strip()
        if self.in_question() and not _fits_in_question(found[0], found[1], value):
            return False
        if nz.fold(value) == nz.fold(self.form.mailbox):
            return False
        self._keyed_value(found[0], value)
        return True

    def _keyed_value(self, target: str, value: str) -> None:
        self.section = "address" if target == "address" else None
        if target in (CONFIDENTIAL, ACKNOWLEDGE):
            self.draft.add_single(target, _yes_no(value), value)
        elif target == CATEGORY:
            self._category_words(value)
        elif target == CONTACT:
            self._contact_words(value)
        else:
            self.draft.add_text(target, value)

    def _category_words(self, value: str) -> None:
        self.draft.landmarks.add(CATEGORY)
        other = re.match(r"^\s*other\b\s*[:\-\u2013(,]?\s*(.*?)\)?\s*$", value, re.I)
        if other and other.group(1) and nz.fold(other.group(1)) != "please specify":
            self.draft.tick(CATEGORY, _other_id(self.form))
            self.draft.add_text(OTHER_TEXT, other.group(1))
            return
        cid = nz.label_match(value, self.categories)
        if cid is None:
            self.draft.reasons.append(f"Respondent category: “{value}” does not match any category on the form.")
            return
        self.draft.tick(CATEGORY, cid)

    def _contact_words(self, value: str) -> None:
        self.draft.landmarks.add(CONTACT)
        cid = nz.choice_word(value, self.contact_choices) or nz.leading_choice(value, self.contact_choices)[0]
        if cid is None:
            self.draft.add_group(CONTACT, ChoiceMarks({}, (("", value),)))
        else:
            self.draft.tick(CONTACT, cid)

    def _choice_rows(self, row: Row) -> bool:
        if self.in_question():
            return self._question_line(str(self.section), row, first=False)
        if self.section == CONTACT and (marks := read_choice_row(row, self.contact_choices)):
            self.draft.add_group(CONTACT, marks)
            return True
        cells, specified = _split_specify(row.cells, self.form)
        if marks := read_choice_row(Row(cells, row.in_table), self.categories):
            self.draft.add_group(CATEGORY, marks)
            if specified:
                self.draft.add_text(OTHER_TEXT, specified)
            self.section = CATEGORY
            return True
        return False

    def _question_line(self, qid: str, row: Row, *, first: bool) -> bool:
        """A row inside a question: its scale row, an "Answer: Agree" line, or comment text."""
        question = self.form.question(qid)
        if question.scale and (marks := read_choice_row(row, self.scale)):
            self.draft.add_group(qid, marks)
            return True
        if question.scale and not row.in_table and self._answer_words(qid, row.filled[0], first):
            return True
        self._comment(qid, row)
        return True

    def _answer_words(self, qid: str, text: str, first: bool) -> bool:
        """A choice written in words: "Agree" alone, "Answer: Not sure", or "Disagree - because ..." first."""
        m = _ANSWER_KEY.match(text)
        body = m.group(1) if m else text
        cid, rest = nz.leading_choice(body, self.scale)
        if cid is None or not (m or first or not rest.strip()):
            return False
        if not first and not m and self.draft.comments.get(qid):
            return False
        self.draft.tick(qid, cid)
        if rest.strip():
            self.draft.add_comment(qid, rest)
        return True

    def _comment(self, qid: str, row: Row) -> None:
        text = row.text
        if nz.fold(text) in (nz.fold(self.form.department), nz.fold(self.form.title)):
            return
        if nz.fold(text) and nz.fold(text) in nz.fold(self.form.question(qid).text):
            return  # the question's wording, wrapped onto a second line
        self.draft.add_comment(qid, _COMMENT_KEY.sub("", text, count=1))

    def _loose_text(self, row: Row) -> None:
        if self.section == "address":
            self.draft.add_text("address", row.text)
        else:
            log.debug("row outside the form ignored: %r", row.text[:80])


def _split_specify(cells: tuple[str, ...], form: FormDefinition) -> tuple[tuple[str, ...], str]:
    """Split "Other (please specify): Foster carer" typed in the label cell into the label and the text."""
    other = next((c for c in form.categories if c.specify), None)
    if other is None:
        return cells, ""
    base = re.escape(re.sub(r"\s*\([^)]*\)", "", other.label).strip())
    pattern = re.compile(
        rf"^(?P<lead>(?:{_mark_token_re()})?\s*){base}(?:\s*\([^)]*\))?\s*[:\-\u2013]?\s*(?P<extra>.*?)"
        rf"(?P<tail>\s*(?:{_mark_token_re()})?)$",
        re.I | re.S,
    )
    out: list[str] = []
    specified = ""
    for cell in cells:
        m = pattern.match(cell.strip())
        if m and m.group("extra").strip() and not specified:
            specified = m.group("extra").strip()
            cell = f"{m.group('lead')}{other.label}{m.group('tail')}"
        out.append(cell)
    return tuple(out), specified


def _other_id(form: FormDefinition) -> str:
    return next((c.id for c in form.categories if c.specify), form.categories[-1].id)


def _yes_no(value: str) -> Mark:
    folded = nz.fold_label(value)
    if folded in ("no", "n", "false", "not required", "none", "no thanks", "no thank you"):
        return False
    if folded in ("y", "true", "please", "yes please"):
        return True
    return nz.is_tick(value) if folded not in ("",) else False


# --------------------------------------------------------------------------------------------------
# Named form fields (fillable PDF).


def _field_catalogue(form: FormDefinition) -> dict[str, tuple[str, str]]:
    """Canonical field name -> (kind, key): "text"/"single"/"group" and where it goes.

    Field names come from `parsers.blankform_pdf`, which names the fields of the published form.
    """
    cat: dict[str, tuple[str, str]] = {f.id: ("text", f.id) for f in form.respondent_fields}
    cat[pdf_names.confidential_field()] = ("single", CONFIDENTIAL)
    cat[pdf_names.acknowledge_field()] = ("single", ACKNOWLEDGE)
    cat[pdf_names.confidential_reason_field()] = ("text", REASON)
    cat[pdf_names.acknowledge_email_field()] = ("text", ACK_EMAIL)
    cat[pdf_names.category_other_field()] = ("text", OTHER_TEXT)
    for c in form.categories:
        cat[pdf_names.category_field(c.id)] = ("group", f"{CATEGORY}:{c.id}")
    for c in form.contact_again_choices:
        cat[pdf_names.contact_field(c.id)] = ("group", f"{CONTACT}:{c.id}")
    cat.update({CATEGORY: ("radio", CATEGORY), "respondent_category": ("radio", CATEGORY)})
    cat.update({CONTACT: ("radio", CONTACT), "contact_again": ("radio", CONTACT)})
    for q in form.questions:
        cat[pdf_names.comments_field(q.id)] = ("comment", q.id)
        if q.scale:
            cat[q.id] = ("radio", q.id)
        for c in form.scale if q.scale else ():
            cat[pdf_names.answer_field(q.id, c.id)] = ("group", f"{q.id}:{c.id}")
    return cat


def _canonical_name(name: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", nz.fold(name)).strip("_")
    return re.sub(r"^question_?(\d)", r"q\1", name)


def _match_field(name: str, catalogue: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    canon = _canonical_name(name)
    if canon in catalogue:
        return catalogue[canon]
    best = nz.best_match(canon, {k: k for k in catalogue}, threshold=90.0, margin=4.0)
    return catalogue[best] if best else None


def read_fields(fields: Mapping[str, str], form: FormDefinition) -> Draft:
    """Map named form fields onto the form; a filled field with an unknown name is a review reason."""
    draft = Draft()
    catalogue = _field_catalogue(form)
    for name, value in fields.items():
        target = _match_field(name, catalogue)
        if target is None:
            if value.strip() and value.strip() != nz.UNCHECKED and nz.is_tick(value) is not False:
                draft.reasons.append(f"A filled form field “{name}” does not match anything on the form.")
            continue
        _put_field(draft, target, value, form)
    draft.questions.extend(q.id for q in form.questions)
    return draft


def _group_choices(form: FormDefinition, group: str) -> tuple[Choice, ...]:
    if group == CATEGORY:
        return form.categories
    return form.contact_again_choices if group == CONTACT else form.scale


def _put_radio(draft: Draft, group: str, value: str, form: FormDefinition) -> None:
    """A radio group's value is the chosen export value: a choice id or label, or empty/Off."""
    if nz.fold_label(value) in ("", "off") or value.strip() == nz.UNCHECKED:
        draft.landmarks.add(group if not group.startswith("q") else "questions")
        return
    choices = _group_choices(form, group)
    by_id = {nz.fold_label(c.id): c.id for c in choices}
    cid = by_id.get(nz.fold_label(value)) or nz.label_match(value, {c.id: c.label for c in choices})
    if cid is None:
        draft.add_group(group, ChoiceMarks({}, (("", value),)))
    else:
        draft.tick(group, cid)


def _put_field(draft: Draft, target: tuple[str, str], value: str, form: FormDefinition) -> None:
    kind, key = target
    if kind == "radio":
        _put_radio(draft, key, value, form)
    elif kind == "text":
        draft.add_text(key, value)
    elif kind == "single":
        draft.add_single(key, nz.is_tick(value), value)
    elif kind == "comment":
        draft.add_comment(key, value)
        draft.landmarks.add("questions")
    else:
        group, cid = key.split(":", 1)
        draft.add_group(group, ChoiceMarks({cid: (nz.is_tick(value),)}, _unclear_of(cid, value)))


def _unclear_of(cid: str, value: str) -> tuple[tuple[str, str], ...]:
    return ((cid, value),) if nz.is_tick(value) is None else ()


# --------------------------------------------------------------------------------------------------
# Decisions: from the draft to a Reading.


def decide_group(subject: str, found: Sequence[ChoiceMarks], choices: Sequence[Choice]) -> tuple[str | None, list[str]]:
    """One choice from all marks seen for a group, or None with the reasons a person must look."""
    labels = {c.id: c.label for c in choices}
    ticked: list[str] = []
    unclear: list[tuple[str, str]] = []
    ambiguous = False
    for marks in found:
        ticked.extend(cid for cid, ms in marks.marks.items() if True in ms and cid not in ticked)
        unclear.extend(marks.unclear)
        ambiguous = ambiguous or marks.ambiguous
    if ambiguous:
        return None, [f"{subject}: a mark could belong to either of two boxes."]
    if unclear:
        cid, raw = unclear[0]
        if cid == UNKNOWN and raw:
            return None, [f"{subject}: a box is marked beside text that is not one of the choices (“{raw}”)."]
        where = f" in the {labels[cid]} box" if cid in labels else ""
        return None, [f"{subject}: a mark that cannot be read{where} (“{raw}”)."]
    if len(ticked) > 1:
        names = ", ".join(labels.get(cid, cid) for cid in ticked)
        return None, [f"{subject}: more than one box ticked ({names})."]
    return (ticked[0] if ticked else None), []


def decide_single(subject: str, found: Sequence[tuple[Mark, str]]) -> tuple[bool, list[str]]:
    """A lone box (confidential, acknowledge): ticked or not; an unreadable mark means review."""
    if any(mark is None for mark, _ in found):
        raw = next(raw for mark, raw in found if mark is None)
        return False, [f"{subject}: a mark that cannot be read (“{raw.strip()}”)."]
    return any(mark for mark, _ in found), []


def _text(draft: Draft, key: str) -> str | None:
    return nz.clean_value("\n".join(draft.texts.get(key, [])))


def _email(draft: Draft, key: str) -> str | None:
    value = _text(draft, key)
    return (nz.find_email(value) or value) if value else None


def _answers(draft: Draft, form: FormDefinition, reasons: list[str]) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for q in form.questions:
        choice, why = decide_group(f"Question {q.number}", draft.groups.get(q.id, []), form.scale)
        reasons.extend(why)
        comment = nz.clean_comment("\n".join(draft.comments.get(q.id, [])))
        answers[q.id] = Answer(choice if q.scale else None, comment)
    return answers


def _category(draft: Draft, form: FormDefinition, reasons: list[str]) -> tuple[str | None, str | None]:
    category, why = decide_group("Respondent category", draft.groups.get(CATEGORY, []), form.categories)
    reasons.extend(why)
    other_text = _text(draft, OTHER_TEXT)
    other_id = _other_id(form)
    if other_text and category is None and not why:
        return other_id, other_text  # a "Please specify" text can only answer "Other"
    if other_text and category not in (None, other_id):
        reasons.append(f"Respondent category: a box is ticked but “Other” is also specified (“{other_text}”).")
    return category, other_text if category == other_id else None


def _missing_questions(draft: Draft, form: FormDefinition, printed_form: bool) -> list[str]:
    missing = [q for q in form.questions if q.id not in draft.questions]
    if not missing or not printed_form:
        return []
    numbers = ", ".join(str(q.number) for q in missing)
    noun = "Question" if len(missing) == 1 else "Questions"
    return [f"{noun} {numbers} not found in the form: it may be incomplete or altered."]


def build_reading(
    draft: Draft, form: FormDefinition, *, source_kind: str, filename: str | None, printed_form: bool
) -> Reading:
    """Turn what was found into a Reading, collecting every reason for review."""
    reasons = list(draft.reasons)
    answers = _answers(draft, form, reasons)
    category, other = _category(draft, form, reasons)
    confidential, why_c = decide_single("Confidentiality box", draft.singles.get(CONFIDENTIAL, []))
    acknowledge, why_a = decide_single("Acknowledgement box", draft.singles.get(ACKNOWLEDGE, []))
    contact, why_ct = decide_group("Contact again (Yes/No)", draft.groups.get(CONTACT, []), form.contact_again_choices)
    reasons.extend([*why_c, *why_a, *why_ct, *_missing_questions(draft, form, printed_form)])
    respondent = Respondent(
        name=_text(draft, "name"),
        organisation=_text(draft, "organisation"),
        address=_text(draft, "address"),
        email=_email(draft, "email"),
        category=category,
        category_other=other,
    )
    return Reading(
        source_kind=source_kind,
        filename=filename,
        respondent=respondent,
        confidential=confidential,
        confidential_reason=_text(draft, REASON),
        acknowledge=acknowledge,
        acknowledge_email=_email(draft, ACK_EMAIL),
        contact_again=contact,
        answers=answers,
        review_reasons=tuple(dict.fromkeys(reasons)),
    )


def letter_reading(doc: Document, form: FormDefinition, *, source_kind: str, filename: str | None) -> Reading:
    """A document without the form's structure: keep all its text for a person to read."""
    answers = {q.id: Answer() for q in form.questions}
    text = nz.clean_comment(doc.plain_text()) or None
    # A document with no text at all (a scan) is not a letter: its reader already said why.
    reasons = (*doc.problems, LETTER_REASON) if text or not doc.problems else doc.problems
    return Reading(
        source_kind=source_kind,
        filename=filename,
        answers=answers,
        text=text,
        review_reasons=reasons,
    )


# --------------------------------------------------------------------------------------------------
# Entry point.


def walk_rows(rows: Sequence[Row], form: FormDefinition) -> Draft:
    walker = Walker(form)
    for row in rows:
        walker.feed(row)
    return walker.draft


def _is_form(draft: Draft) -> bool:
    """Enough of the form's landmarks to read it as a form: a question and one more landmark or question."""
    return bool(draft.questions) and (len(draft.landmarks) >= 2 or len(draft.questions) >= 2)


def _fields_usable(fields: Mapping[str, str], form: FormDefinition) -> bool:
    catalogue = _field_catalogue(form)
    return sum(1 for name in fields if _match_field(name, catalogue)) >= 2


def read_form(doc: Document, form: FormDefinition, *, source_kind: str, filename: str | None) -> Reading:
    """Read one document as a response to `form`; never guess (see the module docstring)."""
    if doc.fields and _fields_usable(doc.fields, form):
        draft = read_fields(doc.fields, form)
        printed_form = True
    else:
        draft = walk_rows(document_rows(doc), form)
        if doc.fields:
            draft.reasons.append("The form's fields could not be matched to the questions; please check it.")
        if not _is_form(draft):
            return letter_reading(doc, form, source_kind=source_kind, filename=filename)
        has_tables = any(not isinstance(b, Paragraph) for b in doc.blocks)
        printed_form = source_kind != "body" and (has_tables or bool(draft.by_text))
    draft.reasons[:0] = list(doc.problems)
    return build_reading(draft, form, source_kind=source_kind, filename=filename, printed_form=printed_form)
