"""The walk over rows: reads a document row by row, remembering which part of the form it is in."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from parsers import normalise as nz
from parsers.formdef import FormDefinition
from parsers.formreader import letters
from parsers.formreader.choices import read_choice_row
from parsers.formreader.draft import ChoiceMarks, Draft, Key, Row, clip, field_of
from parsers.formreader.landmarks import (
    ANSWER_KEY,
    COMMENT_KEY,
    KEY_VALUE,
    SPECIFY,
    WEAK_RULES,
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

SIGNATURE = "signature"
_NUMBERED = re.compile(r"^\s*(\d{1,2})\s*[.)]\s")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2013]|\(?[a-z\d]{1,2}[.)])\s")


@dataclass
class Walker:
    """Reads rows in order, remembering which part of the form it is in."""

    form: FormDefinition
    draft: Draft = field(default_factory=Draft)
    section: str | None = None  # a question id, Key.CATEGORY, Key.CONTACT, "address", SIGNATURE or None
    block: list[str] = field(default_factory=list)  # a letter's address block, before the salutation

    # The form's choice tables, built once per walk rather than once per row.

    @cached_property
    def scale(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.scale}

    @cached_property
    def categories(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.categories}

    @cached_property
    def contact_choices(self) -> dict[str, str]:
        return {c.id: c.label for c in self.form.contact_again_choices}

    def in_question(self) -> bool:
        return self.section is not None and self.section in self.form.question_ids

    def feed(self, row: Row) -> None:
        if not row.filled:
            if self.section == "address" and not row.in_table:
                self.section = None
            if not row.in_table:
                self._flush_block()
            return
        steps = (self._header, self._letter_frame, self._closing_rows, self._respondent_rows, self._choice_rows)
        for step in (*steps, self._letter_parts):
            if step(row):
                return
        self._loose_text(row)

    def finish(self) -> Draft:
        """After the last row: close a pending address block, take courtesies off the last answer."""
        self._flush_block()
        self._trim_courtesy()
        self._read_signature()
        return self.draft

    # -- each step returns True when it consumed the row --

    def _header(self, row: Row) -> bool:
        header = find_header(row, self.form)
        if header is None:
            return False
        qid = header.question.id
        if header.rule in WEAK_RULES and not self._weak_header_fits(header):
            return False
        if qid in self.draft.questions:
            return self._repeated_header(header)
        self._reopen_signature()
        self._flush_block()
        self._trim_courtesy()
        self.draft.questions.append(qid)
        self.draft.rules[qid] = header.rule
        if header.by_text:
            self.draft.by_text.add(qid)
        self.draft.landmarks.add("questions")
        self.section = qid
        self._check_wording(header)
        if header.rest.strip():
            heading = _heading_name(header.rule, header.question.number)
            where = f"table row of {heading}" if row.in_table else f"the heading line ({heading})"
            self._question_line(qid, Row((header.rest,), False), first=True, where=where)
        return True

    def _weak_header_fits(self, header: Header) -> bool:
        """A number alone, a number before text, or a topic heads a question only in ascending order,
        and a numbered line continuing a numbered list inside the answer stays in the answer."""
        seen = [self.form.question(q).number for q in self.draft.questions]
        if seen and header.question.number <= max(seen):
            return False
        if header.rule == "number+text" and self.in_question():
            numbers = [
                int(m.group(1)) for c in self.draft.comments.get(str(self.section), []) if (m := _NUMBERED.match(c))
            ]
            if numbers and numbers[-1] == header.question.number - 1:
                return False
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

    def _letter_frame(self, row: Row) -> bool:
        """Salutation, closing and signature lines, wherever they stand: never part of an answer."""
        if row.in_table or len(row.filled) != 1:
            return False
        text = row.filled[0].strip()
        if self.section == SIGNATURE:
            if self._key_value_row(row):
                self.section = SIGNATURE
                return True
            self.draft.signature.append(text)
            return True
        if letters.is_salutation(text):
            self._flush_block()
            self.draft.letter.append("salutation")
            if not self.in_question():
                self.section = None  # it ends an address begun by "Address:"
            return True
        if letters.is_closing(text):
            self._flush_block()
            self._trim_courtesy()
            self.draft.letter.append("closing")
            self.section = SIGNATURE
            return True
        return False

    def _reopen_signature(self) -> None:
        """Answers after a "Thank you." line: what stood under it was no signature, read it again."""
        if self.section != SIGNATURE:
            return
        lines, self.draft.signature = self.draft.signature, []
        self.section = None
        for line in lines:
            row = Row((line,), False)
            if not (self._respondent_rows(row) or self._letter_parts(row)):
                self._loose_text(row)

    def _letter_parts(self, row: Row) -> bool:
        """Outside the answers: an address block, a date, a subject line, courtesies and capacity statements."""
        if row.in_table or len(row.filled) != 1 or self.section in ("address", SIGNATURE):
            return False
        text = row.filled[0].strip()
        if not self.draft.questions and "salutation" not in self.draft.letter and letters.is_address_line(text):
            self.block.append(text)
            if letters.ends_address(text):
                self._flush_block()
            return True
        self._flush_block()
        if letters.is_date_line(text) or letters.is_subject_line(text, self.form):
            self.draft.letter.append("date or subject")
            return True
        sentences = letters.sentences_of(text)
        placed = True
        for sentence in sentences:
            if letters.is_capacity_statement(sentence, self.form.categories):
                self.draft.capacity.append(sentence)
                if org := letters.organisation_on_behalf(sentence):
                    self.draft.letter_fields.setdefault("organisation", []).append(org)
                    self._letter_note("organisation", "organisation on behalf of", "a sentence of the letter")
            elif not letters.is_courtesy(sentence):
                placed = False
        if placed:
            self.draft.letter.append("courtesy")
        return placed

    def _flush_block(self) -> None:
        """A letterhead block ends: the sender's address if it ends with a postcode and is not the Department's."""
        block, self.block = self.block, []
        if not block:
            return
        if letters.is_recipient(block, self.form):
            self.draft.letter.append("recipient address")
        elif letters.ends_address(block[-1]) and "address" not in self.draft.letter_fields:
            self.draft.letter_fields["address"] = ["\n".join(block)]
            self._letter_note("address", "sender's address", "the letterhead")
            self.draft.letter.append("sender address")
        else:
            self.draft.letter.append("letterhead")

    def _trim_courtesy(self) -> None:
        """Trailing sentences of the answer in hand that only thank or sign off belong to the letter.

        The tail taken off starts a sentence on a line of its own; an answer that is nothing but a
        courtesy ("Thank you for the opportunity to comment.") stays the answer.
        """
        if not self.in_question():
            return
        lines = self.draft.comments.get(str(self.section), [])
        cut = None
        for k in range(len(lines) - 1, 0, -1):
            starts_sentence = lines[k - 1].rstrip().endswith((".", "!", "?")) and lines[k].lstrip()[:1].isupper()
            if starts_sentence and letters.is_courtesy(" ".join(lines[k:])):
                cut = k
        if cut is not None:
            del lines[cut:]
            self.draft.letter.append("courtesy")

    def _read_signature(self) -> None:
        """The name under the closing, an organisation line, and a capacity stated in a job title."""
        lines = [line for line in self.draft.signature if not letters.is_closing(line)]
        if not lines or not letters.looks_like_name(lines[0]):
            return
        self.draft.letter_fields.setdefault("name", []).append(lines[0].rstrip(","))
        self._letter_note("name", "name under the closing", "the signature")
        for line in lines[1:4]:
            if letters.capacity_categories(line, self.form.categories):
                self.draft.capacity.append(line)
            if org := letters.signature_organisation(line):
                self.draft.letter_fields.setdefault("organisation", []).append(org)
                self._letter_note("organisation", "organisation in the signature", "the signature")
            elif not (letters.is_contact_line(line) or letters.is_job_title(line)):
                self.draft.signature_unread.append(line)

    def _closing_rows(self, row: Row) -> bool:
        form = self.form
        if (value := label_row(row, form.acknowledge_email_label)) is not None:
            self.draft.add_text(Key.ACK_EMAIL, value, _labelled(form.acknowledge_email_label))
        elif (box := label_box(row, form.acknowledge_label)) is not None:
            self.draft.add_single(Key.ACKNOWLEDGE, *box, _labelled(form.acknowledge_label))
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
            self.draft.add_single(Key.CONFIDENTIAL, *box, _labelled(form.confidential_label))
        elif (value := label_row(row, form.confidential_reason_label)) is not None:
            self.draft.add_text(Key.REASON, value, _labelled(form.confidential_reason_label))
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
            text = "\n".join(c for c in row.cells[1:] if c.strip())
            self.draft.add_text(Key.OTHER_TEXT, text, ("please specify", "table row “Please specify”"))
        elif (m := SPECIFY.match(first)) and len(row.filled) == 1:
            self.draft.add_text(Key.OTHER_TEXT, m.group(1), ("please specify", "line “Please specify”"))
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
        self.draft.add_text(fid, "\n".join(c for c in row.cells[1:] if c.strip()), _labelled(labels[fid]))
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
        how = ("key and value line", f"line “{_KEY_NAMES.get(target) or self._label_of(target)}: …”")
        if target in (Key.CONFIDENTIAL, Key.ACKNOWLEDGE):
            self.draft.add_single(target, yes_no(value), value, how)
        elif target == Key.CATEGORY:
            self._category_words(value, how)
        elif target == Key.CONTACT:
            self._contact_words(value, how)
        else:
            self.draft.add_text(target, value, how)

    def _label_of(self, target: str) -> str:
        """The form's own label of a respondent field or box: a location never quotes the respondent."""
        labels = {f.id: f.label for f in self.form.respondent_fields}
        labels.update({Key.CONFIDENTIAL: "Confidential", Key.REASON: "Reason", Key.ACKNOWLEDGE: "Acknowledge"})
        return clip(labels.get(target, target), 30)

    def _letter_note(self, key: str, way: str, where: str) -> None:
        self.draft.letter_found.setdefault(field_of(key), (way, where))

    def _category_words(self, value: str, how: tuple[str, str]) -> None:
        self.draft.landmarks.add(Key.CATEGORY)
        other = re.match(r"^\s*other\b\s*[:\-\u2013(,]?\s*(.*?)\)?\s*$", value, re.I)
        if other and other.group(1) and nz.fold(other.group(1)) != "please specify":
            self.draft.tick(Key.CATEGORY, other_id(self.form), how)
            self.draft.add_text(Key.OTHER_TEXT, other.group(1), how)
            return
        cid = nz.label_match(value, self.categories)
        if cid is None:
            self.draft.reasons.append(f"Respondent category: “{value}” does not match any category on the form.")
            return
        self.draft.tick(Key.CATEGORY, cid, how)

    def _contact_words(self, value: str, how: tuple[str, str]) -> None:
        self.draft.landmarks.add(Key.CONTACT)
        cid = nz.choice_word(value, self.contact_choices) or nz.leading_choice(value, self.contact_choices)[0]
        if cid is None:
            self.draft.add_group(Key.CONTACT, ChoiceMarks({}, (("", value),)))
        else:
            self.draft.tick(Key.CONTACT, cid, how)

    def _choice_rows(self, row: Row) -> bool:
        if self.in_question():
            return self._question_line(str(self.section), row, first=False)
        if self.section == Key.CONTACT and (marks := read_choice_row(row, self.contact_choices)):
            self.draft.add_group(Key.CONTACT, marks, (marks.way, _rowed(row, "under “Contact again”")))
            return True
        cells, specified = split_specify(row.cells, self.form)
        if marks := read_choice_row(Row(cells, row.in_table), self.categories):
            self.draft.add_group(Key.CATEGORY, marks, (marks.way, _rowed(row, "of categories")))
            if specified:
                self.draft.add_text(Key.OTHER_TEXT, specified, ("please specify", _rowed(row, "of categories")))
            self.section = Key.CATEGORY
            return True
        return False

    def _question_line(self, qid: str, row: Row, *, first: bool, where: str | None = None) -> bool:
        """A row inside a question: its scale row, an "Answer: Agree" line, or comment text.

        `where`: the row's location, when it is not a row under the heading (the heading's own line).
        """
        question = self.form.question(qid)
        where = where or _rowed(row, f"under {_heading_name(self.draft.rules.get(qid, ''), question.number)}")
        if question.scale and (marks := read_choice_row(row, self.scale)):
            self.draft.add_group(qid, marks, (marks.way, where))
            return True
        if question.scale and not row.in_table and self._answer_words(qid, row.filled[0], first, where):
            return True
        self._comment(qid, row, where)
        return True

    def _answer_words(self, qid: str, text: str, first: bool, where: str) -> bool:
        """A choice written in words: "Agree" alone, "Answer: Not sure", or "Disagree - because ..." first."""
        m = ANSWER_KEY.match(text)
        body = m.group(1) if m else text
        cid, rest = nz.leading_choice(body, self.scale)
        first = first or (not self.draft.comments.get(qid) and qid not in self.draft.groups)
        if cid is None or not (m or first or not rest.strip()):
            return False
        if not first and not m and self.draft.comments.get(qid):
            return False
        self.draft.tick(qid, cid, ("choice in words", where))
        if rest.strip():
            self.draft.add_comment(qid, rest, ("comment under its heading", where))
        return True

    def _comment(self, qid: str, row: Row, where: str) -> None:
        text = row.text
        if nz.fold(text) in (nz.fold(self.form.department), nz.fold(self.form.title)):
            return
        if nz.fold(text) and nz.fold(text) in nz.fold(self.form.question(qid).text):
            return  # the question's wording, wrapped onto a second line
        if not row.in_table and _heading_like(text):
            self.draft.heading_like.append((qid, text))
        self.draft.add_comment(qid, COMMENT_KEY.sub("", text, count=1), ("comment under its heading", where))

    def _loose_text(self, row: Row) -> None:
        address = self.draft.texts.get("address", [])
        if self.section == "address" and (row.in_table or _continues_address(address, row.text)):
            self.draft.add_text("address", row.text)
            return
        if self.section == "address":
            self.section = None
            if self._letter_parts(row):
                return
        if row.in_table:
            log.debug("row outside the form ignored: %r", row.text[:80])
        elif self.draft.questions:
            self.draft.unplaced.append(row.text)
        else:
            self.draft.preamble.append(row.text)


_KEY_NAMES = {Key.CATEGORY: "Category", Key.CONTACT: "Contact again"}


def _heading_name(rule: str, number: int) -> str:
    """A question's heading as the reader recognised it (a key of landmarks.HEADER_RULES), in the form's words."""
    if rule == "explicit":
        return f"“Question {number}”"
    if rule in ("number+wording", "wording"):
        return f"the wording of question {number}"
    if rule in ("number", "number+text", "number+answer"):
        return f"the number “{number}.”"
    return f"a heading naming the topic of question {number}"


def _labelled(label: str) -> tuple[str, str]:
    """A labelled table row, located by the form's own label."""
    return "labelled table row", f"table row “{clip(label, 30)}”"


def _rowed(row: Row, where: str) -> str:
    return f"{'table row' if row.in_table else 'paragraph'} {where}"


def _continues_address(lines: Sequence[str], text: str) -> bool:
    """An address goes on line by line until its postcode, or a line that is a sentence."""
    return letters.is_address_line(text) and not (lines and letters.ends_address(lines[-1]))


def _heading_like(text: str) -> bool:
    """A short line that reads as a heading ("Other matters:", "Funding And Resources"), not as prose."""
    stripped = text.strip()
    words = stripped.split()
    if _LIST_ITEM.match(stripped) or not words or len(words) > 5 or COMMENT_KEY.fullmatch(stripped):
        return False
    if stripped.endswith(":"):
        return len(words) <= 4
    significant = [w for w in words if w.lower() not in ("and", "of", "the", "for", "to", "in", "on", "a")]
    return (
        len(words) >= 2
        and not stripped.endswith((".", "?", "!", ",", ";"))
        and all(w[:1].isupper() for w in significant)
    )


def walk_rows(rows: Sequence[Row], form: FormDefinition) -> Draft:
    walker = Walker(form)
    for row in rows:
        walker.feed(row)
    return walker.finish()
