"""Every way the form reader finds a field, and the rule that keeps each from being mistaken.

This is the catalogue a reviewer of the code (or of a silent error) starts from: each entry names
the module that holds the rule. `tests/test_field_rules.py` has one example per entry and fails
when a way is added here without one. Anything found in none of these ways is not filed: it goes
to review with a reason, or stays in the letter's text for a person to read.
"""

from __future__ import annotations

from parsers.formreader.landmarks import HEADER_RULES

WAYS: dict[str, str] = {
    # fields.py
    "named field": "a fillable PDF's field whose name is the published form's own, or within a small edit of one "
    "with a clear lead over the next best",
    # choices.py
    "mark in a label's cell": "a box mark in the same cell as exactly one choice label belongs to it",
    "mark by the row's shape": "in a row where labels and boxes strictly alternate, a box belongs to the label on "
    "its side; a tick that could belong to two labels goes to review",
    "choice in words": "“Agree”, “Answer: Not sure” or “Disagree - because…” as the first words of an answer, "
    "followed by the end or a separator",
    # landmarks.py
    "labelled table row": "a table row whose first cell is the form's label (close match, with a lead over the "
    "other labels)",
    "key and value line": "“Name: Jo Bloggs”: the key is the form's label or a few plain words for it, and inside "
    "an answer only a short closing Yes/No or a labelled one-line field ends the answer",
    "please specify": "a “Please specify” text can only answer “Other”; beside another ticked box it goes to review",
    **{f"heading: {name}": rule for name, rule in HEADER_RULES.items()},
    # walker.py
    "comment under its heading": "the rows under a question's heading, up to the next heading, closing box, "
    "labelled line or sign-off; a heading-like line inside it sends the answer to review",
    # letters.py
    "capacity in a sentence": "an introduction or signature line using the synonyms of exactly one category of "
    "the form definition; two categories, or a capacity matching none, go to review",
    "organisation on behalf of": "capitalised words after “on behalf of” that include a word such as Trust or Council",
    "name under the closing": "the first line under “Yours faithfully” and the like: two to five capitalised "
    "words, with no job or organisation word",
    "organisation in the signature": "the part after the last comma of a signature line, or a line with a word "
    "such as Council; a line that may be either a title or an organisation goes to review",
    "sender's address": "a letterhead block before the salutation that ends with a postcode and is not the "
    "Department's own address",
}
