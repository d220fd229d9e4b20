"""The walk over rows: reads a document row by row, remembering which part of the form it is in."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from parsers import normalise as nz
from parsers.formdef import FormDefinition
from parsers.formreader.choices import read_choice_row
from parsers.formreader.draft import ChoiceMarks, Draft, Key, Row
from parsers.formreader.landmarks import (
    ANSWER_KEY,
    COMMENT_KEY,
    KEY_VALUE,
    SPECIFY,
    Header,
    find_header,
    fits_in_question,
    is_prompt,
    key_field,
    label_box,
    label_row,
    other_id,
    question_by_text,
    split_specify,
    yes_no,
)

log = logging.getLogger(__name__)


@dataclass
class Walker:
    """Reads rows in order, remembering which part of the form it is in."""

    form: FormDefinition
    draft: Draft = field(default_factory=Draft)
    section: str | None = None  # a question id, Key.CATEGORY, Key.CONTACT, "address" or None

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
        other = question_by_text(header.rest, self.form)
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
        if (value := label_row(row, form.acknowledge_email_label)) is not None:
            self.draft.add_text(Key.ACK_EMAIL, value)
        elif (box := label_box(row, form.acknowledge_label)) is not None:
            self.draft.add_single(Key.ACKNOWLEDGE, *box)
        elif is_prompt(row, form.contact_again_label):
            self.draft.landmarks.add(Key.CONTACT)
            self.section = Key.CONTACT
            rest = Row(row.cells[1:], row.in_table)
            if rest.filled:
                self._choice_rows(rest)
        else:
            return False
        self.section = self.section if self.section == Key.CONTACT else None
        return True

    def _respondent_rows(self, row: Row) -> bool:
        form = self.form
        if (box := label_box(row, form.confidential_label)) is not None:
            self.draft.add_single(Key.CONFIDENTIAL, *box)
        elif (value := label_row(row, form.confidential_reason_label)) is not None:
            self.draft.add_text(Key.REASON, value)
        elif is_prompt(row, form.category_prompt):
            self.draft.landmarks.add(Key.CATEGORY)
            self.section = Key.CATEGORY
            return True
        else:
            return bool(self._specify_row(row) or self._field_row(row) or self._key_value_row(row))
        self.section = None
        return True

    def _specify_row(self, row: Row) -> bool:
        if self.in_question():
            return False
        first = row.filled[0]
        if row.in_table and len(row.cells) >= 2 and SPECIFY.match(row.cells[0]):
            self.draft.add_text(Key.OTHER_TEXT, "\n".join(c for c in row.cells[1:] if c.strip()))
        elif (m := SPECIFY.match(first)) and len(row.filled) == 1:
            self.draft.add_text(Key.OTHER_TEXT, m.group(1))
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
        m = KEY_VALUE.match(row.filled[0])
        found = key_field(m.group(1), self.form) if m else None
        if m is None or found is None:
            return False
        value = m.group(2).strip()
        if self.in_question() and not fits_in_question(found[0], found[1], value):
            return False
        if nz.fold(value) == nz.fold(self.form.mailbox):
            return False
        self._keyed_value(found[0], value)
        return True

    def _keyed_value(self, target: str, value: str) -> None:
        self.section = "address" if target == "address" else None
        if target in (Key.CONFIDENTIAL, Key.ACKNOWLEDGE):
            self.draft.add_single(target, yes_no(value), value)
        elif target == Key.CATEGORY:
            self._category_words(value)
        elif target == Key.CONTACT:
            self._contact_words(value)
        else:
            self.draft.add_text(target, value)

    def _category_words(self, value: str) -> None:
        self.draft.landmarks.add(Key.CATEGORY)
        other = re.match(r"^\s*other\b\s*[:\-\u2013(,]?\s*(.*?)\)?\s*$", value, re.I)
        if other and other.group(1) and nz.fold(other.group(1)) != "please specify":
            self.draft.tick(Key.CATEGORY, other_id(self.form))
            self.draft.add_text(Key.OTHER_TEXT, other.group(1))
            return
        cid = nz.label_match(value, self.categories)
        if cid is None:
            self.draft.reasons.append(f"Respondent category: “{value}” does not match any category on the form.")
            return
        self.draft.tick(Key.CATEGORY, cid)

    def _contact_words(self, value: str) -> None:
        self.draft.landmarks.add(Key.CONTACT)
        cid = nz.choice_word(value, self.contact_choices) or nz.leading_choice(value, self.contact_choices)[0]
        if cid is None:
            self.draft.add_group(Key.CONTACT, ChoiceMarks({}, (("", value),)))
        else:
            self.draft.tick(Key.CONTACT, cid)

    def _choice_rows(self, row: Row) -> bool:
        if self.in_question():
            return self._question_line(str(self.section), row, first=False)
        if self.section == Key.CONTACT and (marks := read_choice_row(row, self.contact_choices)):
            self.draft.add_group(Key.CONTACT, marks)
            return True
        cells, specified = split_specify(row.cells, self.form)
        if marks := read_choice_row(Row(cells, row.in_table), self.categories):
            self.draft.add_group(Key.CATEGORY, marks)
            if specified:
                self.draft.add_text(Key.OTHER_TEXT, specified)
            self.section = Key.CATEGORY
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
        m = ANSWER_KEY.match(text)
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
        self.draft.add_comment(qid, COMMENT_KEY.sub("", text, count=1))

    def _loose_text(self, row: Row) -> None:
        if self.section == "address":
            self.draft.add_text("address", row.text)
        else:
            log.debug("row outside the form ignored: %r", row.text[:80])


def walk_rows(rows: Sequence[Row], form: FormDefinition) -> Draft:
    walker = Walker(form)
    for row in rows:
        walker.feed(row)
    return walker.draft
