"""Pure helpers for the pages: the queue's filters, reasons beside the questions they name, the
text of the original message, and a submitted correction form turned into `store.review` settings.
"""

from __future__ import annotations

import email
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from typing import Any

from parsers.formdef import FormDefinition

QUESTION_REASON = re.compile(r"^Question (\d+)\b[:,]?\s*")
RESPONDENT_REASON = re.compile(r"^Respondent\b", re.IGNORECASE)
YES, NO = "true", "false"
TEXT_SHOWN = 100_000  # characters of the original message shown in the page; the download has it all
CUT_NOTE = "\n\n[… cut here: download message.eml for the whole message]"
Record = Mapping[str, Any]


# ---- the queue ---------------------------------------------------------------------------------


def reason_kind(reason: str) -> str:
    """A reason without the question it names, so "Question 3: two boxes are marked" and
    "Question 5: two boxes are marked" filter together."""
    kind = QUESTION_REASON.sub("", reason).strip()
    return (kind[:1].upper() + kind[1:]) if kind else reason


def reason_kinds(records: list[Record]) -> list[tuple[str, int]]:
    """Each kind of reason in the queue with how many responses have it, most common first."""
    counts = Counter(kind for r in records for kind in {reason_kind(x) for x in r["review_reasons"]})
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def matches(record: Record, reason: str, query: str) -> bool:
    """Whether a queued response has the reason kind (if given) and the words searched for (if any)
    in its reference, name, e-mail address or sender."""
    if reason and reason not in {reason_kind(x) for x in record["review_reasons"]}:
        return False
    query = query.strip().lower()
    if not query:
        return True
    who = record["respondent"]
    haystack = [record["reference"], who["name"], who["email"], record["sender"]]
    return any(query in (value or "").lower() for value in haystack)


# ---- a response --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedReasons:
    by_question: dict[str, list[str]]
    respondent: list[str]
    general: list[str]


def place_reasons(reasons: list[str], form: FormDefinition) -> PlacedReasons:
    """Put each review reason beside what it is about: a question, the respondent, or the whole response."""
    ids = {q.number: q.id for q in form.questions}
    placed = PlacedReasons({}, [], [])
    for reason in reasons:
        m = QUESTION_REASON.match(reason)
        if m and int(m.group(1)) in ids:
            placed.by_question.setdefault(ids[int(m.group(1))], []).append(reason)
        elif RESPONDENT_REASON.match(reason):
            placed.respondent.append(reason)
        else:
            placed.general.append(reason)
    return placed


def read_from_hints(found: Mapping[str, str], history: Sequence[Any]) -> dict[str, str]:
    """The hint beside each field the reader filed: "Read from: table row “Name” (labelled table row)",
    saying who corrected it since, if anyone did (`history`: the audit entries, oldest first).
    `found` is `store.review.found_fields`: empty for responses filed before it was recorded."""
    corrected = {e.field: e.who for e in history}
    return {
        key: f"Read from: {phrase}" + (f". Since corrected by {corrected[key]}." if key in corrected else "")
        for key, phrase in found.items()
    }


def message_text(raw: bytes, limit: int = TEXT_SHOWN) -> str:
    """The readable text of the original message (its plain-text body, else its HTML source as
    text), cut at `limit` characters so a huge message cannot make a huge page."""
    text = _body_text(raw)
    return text if len(text) <= limit else text[:limit] + CUT_NOTE


def _body_text(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    if body is None:
        return ""
    try:
        return str(body.get_content())
    except (LookupError, ValueError, AssertionError):
        payload = body.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


# ---- corrections -------------------------------------------------------------------------------


def editable_values(record: Record, form: FormDefinition, acknowledge_email: str | None = None) -> dict[str, str]:
    """Every field the correction form shows, keyed by its `store.review` setting name, as the form
    holds it (text; "" for none; "true"/"false" for yes/no questions). The export record has no
    acknowledgement address, so the caller passes the stored one."""
    who = record["respondent"]
    values = {f"respondent.{key}": who[key] or "" for key in ("name", "organisation", "address", "email")}
    values["respondent.category"] = who["category"] or ""
    values["respondent.category_other"] = who["category_other"] or ""
    for key in ("confidential", "acknowledge"):
        values[key] = YES if record[key] else NO
    values["confidential_reason"] = record["confidential_reason"] or ""
    values["acknowledge_email"] = acknowledge_email or ""
    values["contact_again"] = record["contact_again"] or ""
    for q in form.questions:
        if q.scale:
            values[f"{q.id}.choice"] = record["answers"][q.id]["choice"] or ""
        values[f"{q.id}.comment"] = record["answers"][q.id]["comment"]
    values["text"] = record["text"] or ""
    return values


def choice_lists(form: FormDefinition) -> dict[str, list[tuple[str, str]]]:
    """The (value, label) pairs of each set of radios on the correction form; "" is "not marked"."""
    unmarked = [("", "Not marked")]
    return {
        name: unmarked + [(c.id, c.label) for c in choices]
        for name, choices in (
            ("scale", form.scale),
            ("categories", form.categories),
            ("contact_again", form.contact_again_choices),
        )
    }


def correction_settings(
    record: Record, form: FormDefinition, posted: Mapping[str, str], acknowledge_email: str | None = None
) -> list[str]:
    """The `key=value` settings for the fields whose submitted value differs from the stored one.

    Fields missing from the submission are left alone. Text is compared as `store.review` would
    store it: line ends made \\n, surrounding white space trimmed.
    """
    settings = []
    for key, current in editable_values(record, form, acknowledge_email).items():
        if key not in posted:
            continue
        value = _clean(posted[key])
        if value != _clean(current):
            settings.append(f"{key}={value}")  # an empty value is "none" to store.review
    return settings


def _clean(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()
