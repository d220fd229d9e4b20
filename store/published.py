"""The published view of a response record: no respondent's name, organisation, address or e-mail.

`intake export --exclude-confidential` and `intake report --published` use it for every response
unless asked for `--include-personal`. The record keeps every field of the export contract
(EXPORT.md), with the personal ones empty (null): the sender, the Message-ID (mail programs often
build it from the sender's address), the attachment's file name (often the respondent's name),
and the respondent's name, organisation, address and e-mail. In the free text that stays
(comments, letter text, reasons, "other" category), the respondent's own name, address lines and
e-mail address, and any other e-mail address, are replaced by "[withheld]".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store.personal import address_terms, email_terms, name_terms, redact, redact_emails

PERSONAL_RESPONDENT = ("name", "organisation", "address", "email")
WITHHELD = "[withheld]"


def published_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a response record (store/export.py) fit to publish."""
    who = record["respondent"]
    clean = _cleaner(record)
    return {
        **record,
        "message_id": None,
        "sender": None,
        "source": {**record["source"], "filename": None},
        "respondent": {**who, **dict.fromkeys(PERSONAL_RESPONDENT), "category_other": clean(who["category_other"])},
        "confidential_reason": clean(record["confidential_reason"]),
        "review_reasons": [clean(r) or "" for r in record["review_reasons"]],
        **_own_words(record, clean),
    }


def published_words(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a record's comments and letter text as `published_record` leaves them; the record needs
    only its sender, the respondent's name, organisation, address and e-mail, answers and text."""
    return {**record, **_own_words(record, _cleaner(record))}


def _cleaner(record: dict[str, Any]) -> Callable[[str | None], str | None]:
    """Redacts the respondent's own name, address lines and e-mail, and any e-mail address."""
    who = record["respondent"]
    terms = name_terms(who["name"]) + address_terms(who["address"]) + email_terms(who["email"])
    terms += email_terms(record["sender"]) + [who["organisation"]] * bool(who["organisation"])

    def clean(text: str | None) -> str | None:
        return redact_emails(redact(text, terms, WITHHELD), WITHHELD)

    return clean


def _own_words(record: dict[str, Any], clean: Callable[[str | None], str | None]) -> dict[str, Any]:
    return {
        "answers": {q: {**a, "comment": clean(a["comment"]) or ""} for q, a in record["answers"].items()},
        "text": clean(record["text"]),
    }


def published_message(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message record without its Message-ID, sender and subject, and addresses in problems."""
    problems = [redact_emails(p, WITHHELD) or "" for p in record["problems"]]
    return {**record, "message_id": None, "sender": None, "subject": None, "problems": problems}
