"""The parts of a letter that are not answers: salutation, address blocks, courtesies, capacity, sign-off.

People who do not use the form write a letter around their answers. Each recogniser here says
what a line is, so that the walker never files it as part of an answer, and the rule that makes it
safe is in its docstring. The capacity a letter states ("we write as a small charity") is matched
against the synonyms of the form definition's categories, on word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from parsers import normalise as nz
from parsers.formdef import Choice, FormDefinition

_SALUTATION = re.compile(
    r"^(?:dear\b[^.?!]{0,60}|to whom it may concern|good (?:morning|afternoon)|hello|hi)[,:.!]?$", re.I
)
_CLOSING = re.compile(
    r"^(?:yours\s+(?:sincerely|faithfully|truly|ever)|(?:with\s+)?(?:kind|best|warm|warmest|many)\s+(?:regards|wishes)"
    r"|regards|(?:many\s+)?thanks|thank\s+you(?:\s+again)?|sincerely|yours)[,.!]?(?:\s+[A-Z][\w'’.\-]*){0,4}$",
    re.I,
)
_DATE = re.compile(
    r"^(?:\w+day,?\s+)?\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+\d{4}$"
    r"|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$",
    re.I,
)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
_SUBJECT = re.compile(r"^(?:re|subject|ref)\s*[:.]", re.I)
# Sentences that introduce, thank or sign off, and say nothing about the guidance.
_COURTESY = re.compile(
    r"^(?:i|we)\s+(?:am|are)\s+writing\b|^(?:i|we)\s+write\b|^please\s+(?:find|see|accept|do not hesitate|contact)\b"
    r"|\bset out below\b|\bare as follows\b|\bbelow (?:are|is)\b|^(?:my|our)\s+(?:answers|comments|responses?|views)\b"
    r"|^thank\s+you\b|^thanks\b|^many thanks\b|^(?:i|we)\s+hope\s+(?:these|this|that|our|my)\b"
    r"|^(?:i|we)\s+(?:would|should)\s+be\s+(?:glad|happy|pleased|delighted)\b|^(?:i|we)\s+look\s+forward\b"
    r"|^(?:i|we)\s+welcome\s+the\s+opportunity\b|^(?:i|we)\s+(?:attach|enclose)\b|^this\s+is\s+(?:my|our)\s+response\b"
    r"|^(?:i|we)\s+could\s+not\s+open\b",
    re.I,
)
# Phrases that state in what capacity a person writes, when the synonyms do not say it themselves.
_CAPACITY_CUE = re.compile(
    r"\b(?:writing|write|respond(?:ing)?|speaking|reply(?:ing)?)\s+as\b|\bon behalf of\b|\bin my capacity as\b"
    r"|^(?:i|we)\s+(?:am|are)\s+(?:an?|the)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
_TITLE = re.compile(r"^(?:mr|mrs|ms|miss|dr|prof|professor|revd?|cllr|sir|dame)\.?$", re.I)
_JOB_WORDS = re.compile(
    r"\b(?:director|head|chair|chairman|chairwoman|manager|officer|chief|executive|co-?ordinator|lead|member"
    r"|secretary|teacher|headteacher|governor|governors|councillor|adviser|advisor|consultant|worker|president"
    r"|trustee|clerk|principal|nurse|visitor|partner|deputy|assistant|senior|policy|parent|carer)\b",
    re.I,
)
_ORGANISATION_WORDS = re.compile(
    r"\b(?:council|trust|school|college|academy|association|union|charity|service|services|partnership|centre"
    r"|forum|network|board|society|nhs|police|constabulary|team|foundation|federation|group|authority)\b",
    re.I,
)


def is_salutation(text: str) -> bool:
    """ "Dear Sir or Madam," on a line of its own: short, and opening with the salutation's words."""
    return bool(_SALUTATION.match(text.strip()))


def is_closing(text: str) -> bool:
    """ "Yours faithfully," / "Kind regards" / "Thank you." alone on its line: everything after is a signature."""
    return bool(_CLOSING.match(text.strip()))


def is_date_line(text: str) -> bool:
    return bool(_DATE.match(text.strip()))


def is_subject_line(text: str, form: FormDefinition) -> bool:
    """A letter's subject line: "Re: ..." or a short line naming the consultation, not a sentence."""
    stripped = text.strip()
    if _SUBJECT.match(stripped):
        return True
    words = stripped.split()
    names_it = nz.names_any(nz.fold(stripped), form.topic_words)
    return names_it and len(words) <= 16 and not stripped.endswith((".", "?", "!"))


def is_courtesy(text: str) -> bool:
    """A paragraph every sentence of which introduces, thanks or signs off ("Our comments are set out below.")."""
    sentences = sentences_of(text)
    return bool(sentences) and all(_COURTESY.search(s) for s in sentences)


def is_address_line(text: str) -> bool:
    """A line of a postal address: short, no sentence punctuation at its end, at most eight words."""
    stripped = text.strip().rstrip(",")
    return 0 < len(stripped) <= 60 and len(stripped.split()) <= 8 and not stripped.endswith((".", "?", "!", ":"))


def ends_address(text: str) -> bool:
    """The postcode line closes a British postal address."""
    return bool(_POSTCODE.search(text.upper())) and bool(_POSTCODE.search(text))


def is_recipient(lines: Iterable[str], form: FormDefinition) -> bool:
    """An address block naming the Department, the consultation or its postal address: the recipient's."""
    own = {nz.fold(line) for line in form.postal_address} | {nz.fold(form.department)}
    names = (form.department, *form.topic_words)
    for line in lines:
        folded = nz.fold(line)
        if folded in own or nz.names_any(folded, names):
            return True
    return False


def looks_like_name(text: str) -> bool:
    """A signature's name line: two to five capitalised words (initials allowed), an optional title."""
    words = text.strip().rstrip(",").split()
    if not 2 <= len(words) <= 5 or is_closing(text) or _ORGANISATION_WORDS.search(text) or _JOB_WORDS.search(text):
        return False
    names = words[1:] if _TITLE.match(words[0]) else words
    return bool(names) and all(w[:1].isupper() and re.fullmatch(r"[^\W\d_][\w'’.\-]*", w) for w in names)


def is_contact_line(text: str) -> bool:
    """A telephone number, an e-mail or web address under a signature."""
    return bool(re.search(r"@|www\.|https?:|\d{3}", text))


def is_job_title(text: str) -> bool:
    return bool(_JOB_WORDS.search(text)) and not _ORGANISATION_WORDS.search(text)


def looks_like_organisation(text: str) -> bool:
    """A signature line naming an organisation: capitalised words with a word such as Council or Trust."""
    stripped = text.strip()
    return is_address_line(stripped) and bool(_ORGANISATION_WORDS.search(stripped)) and stripped[:1].isupper()


def signature_organisation(line: str) -> str | None:
    """An organisation in a signature: "Director, Eastbury Family Support", or a line naming one."""
    stripped = line.strip().rstrip(",.")
    if is_contact_line(stripped):
        return None
    _, comma, tail = stripped.rpartition(", ")
    if comma and _title_case(tail) and 2 <= len(tail.split()) <= 7:
        return tail
    return stripped if looks_like_organisation(stripped) and _title_case(stripped) else None


def _title_case(text: str) -> bool:
    small = {"and", "of", "the", "for", "in", "on", "&"}
    return all(w[:1].isupper() or w in small for w in text.split())


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def capacity_categories(text: str, categories: Iterable[Choice]) -> list[str]:
    """The categories whose synonyms a sentence uses, each once, in the form's order."""
    folded = nz.fold(text)
    return [c.id for c in categories if nz.names_any(folded, c.synonyms)]


def is_capacity_statement(text: str, categories: Iterable[Choice]) -> bool:
    """A sentence that says in what capacity the writer responds: a cue ("we write as") or a synonym."""
    return bool(_CAPACITY_CUE.search(text)) or bool(capacity_categories(text, categories))


def organisation_on_behalf(text: str) -> str | None:
    """ "on behalf of Northshire Primary Care Trust" -> the organisation's name (capitalised words only)."""
    m = re.search(
        r"\bon behalf of (?:the\s+)?((?:[A-Z][\w'’&\-]*|of|and|for|the)(?:\s+(?:[A-Z][\w'’&\-]*|of|and|for|the))*)",
        text,
    )
    if not m:
        return None
    name = re.sub(r"(?:\s+(?:of|and|for|the))+$", "", m.group(1)).strip()
    return name if len(name.split()) >= 2 and _ORGANISATION_WORDS.search(name) else None
