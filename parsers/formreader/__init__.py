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

Where each rule lives:
- `draft`: rows of a document and the draft of what was found;
- `choices`: a row of labels and boxes -> the marks each choice got;
- `landmarks`: question headings, labelled rows, "Key: value" lines;
- `walker`: the walk over rows that puts each row in its place;
- `fields`: named form fields of a fillable PDF;
- `decide`: from the draft to a Reading, with the review reasons.
"""

from __future__ import annotations

from collections.abc import Mapping

from parsers.document import Document, Paragraph
from parsers.formdef import FormDefinition
from parsers.formreader.choices import read_choice_row
from parsers.formreader.decide import LETTER_REASON, build_reading, decide_group, decide_single, letter_reading
from parsers.formreader.draft import ChoiceMarks, Draft, Row, document_rows
from parsers.formreader.fields import field_catalogue, match_field, read_fields
from parsers.formreader.landmarks import find_header, key_field
from parsers.formreader.walker import Walker, walk_rows
from parsers.model import Reading


def _is_form(draft: Draft) -> bool:
    """Enough of the form's landmarks to read it as a form: a question and one more landmark or question."""
    return bool(draft.questions) and (len(draft.landmarks) >= 2 or len(draft.questions) >= 2)


def _fields_usable(fields: Mapping[str, str], form: FormDefinition) -> bool:
    catalogue = field_catalogue(form)
    return sum(1 for name in fields if match_field(name, catalogue)) >= 2


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
        printed_form = has_tables  # in a retyped reply, leaving a question out is how it goes unanswered
    draft.reasons[:0] = list(doc.problems)
    letter = not doc.fields and not any(not isinstance(b, Paragraph) for b in doc.blocks)
    return build_reading(
        draft, form, source_kind=source_kind, filename=filename, printed_form=printed_form, letter=letter
    )


__all__ = [
    "LETTER_REASON",
    "ChoiceMarks",
    "Draft",
    "Row",
    "Walker",
    "build_reading",
    "decide_group",
    "decide_single",
    "document_rows",
    "find_header",
    "key_field",
    "letter_reading",
    "read_choice_row",
    "read_fields",
    "read_form",
    "walk_rows",
]
