"""Decisions: from the draft to a Reading, with every reason a person must look."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from parsers import normalise as nz
from parsers.document import Document
from parsers.formdef import Choice, FormDefinition
from parsers.formreader import letters
from parsers.formreader.choices import UNKNOWN
from parsers.formreader.draft import ChoiceMarks, Draft, Key, Mark
from parsers.formreader.landmarks import WEAK_RULES, other_id
from parsers.model import Answer, Reading, Respondent

LETTER_REASON = "No response form found: this looks like a free-form letter, so a person must read it."


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


def _letter_field(draft: Draft, key: str, reasons: list[str]) -> str | None:
    """A name, organisation or address a letter gives in its frame (signature, letterhead, "on behalf of")."""
    values = list(dict.fromkeys(nz.clean_value(v) for v in draft.letter_fields.get(key, [])))
    values = [v for v in values if v]
    if len(values) > 1:
        reasons.append(f"The letter gives two different {key}s ({'; '.join(values)}).")
        return None
    return values[0] if values else None


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
    category, why = decide_group("Respondent category", draft.groups.get(Key.CATEGORY, []), form.categories)
    reasons.extend(why)
    if draft.capacity and not why:
        category = _capacity(draft, form, category, reasons)
    other_text = _text(draft, Key.OTHER_TEXT)
    other = other_id(form)
    if other_text and category is None and not why:
        specified = draft.found.get("respondent.category_other", ("please specify", "“Please specify”"))
        draft.found["respondent.category"] = ("please specify", specified[1])
        return other, other_text  # a "Please specify" text can only answer "Other"
    if other_text and category not in (None, other):
        reasons.append(f"Respondent category: a box is ticked but “Other” is also specified (“{other_text}”).")
    return category, other_text if category == other else None


def _capacity(draft: Draft, form: FormDefinition, ticked: str | None, reasons: list[str]) -> str | None:
    """The category a letter states in words: exactly one category's synonyms, or a reason naming them all."""
    labels = {c.id: c.label for c in form.categories}
    found: list[str] = []
    for sentence in draft.capacity:
        found.extend(c for c in letters.capacity_categories(sentence, form.categories) if c not in found)
    quoted = "; ".join(f"“{s}”" for s in draft.capacity[:3])
    if ticked is not None:
        if any(c != ticked for c in found):
            names = ", ".join(labels[c] for c in found)
            reasons.append(f"Respondent category: “{labels[ticked]}” is given, but the letter says {quoted} ({names}).")
        return ticked
    if len(found) == 1:
        draft.found["respondent.category"] = ("capacity in a sentence", "a sentence of the letter")
        return found[0]
    if found:
        names = " and ".join(f"“{labels[c]}”" for c in found)
        reasons.append(f"Respondent category: the letter fits both {names} ({quoted}); choose one.")
    else:
        reasons.append(f"Respondent category: the letter says {quoted}, which matches no category on the form.")
    return None


def _letter_reasons(draft: Draft, form: FormDefinition) -> list[str]:
    """A letter or retyped reply is filed only when every paragraph found its place."""
    reasons: list[str] = []
    preamble = " ".join(draft.preamble)
    if len(preamble.split()) > 25:
        reasons.append(
            f"The text before the first answer (“{_clip(preamble)}”) is not an answer to a numbered question: "
            "check whether it answers one."
        )
    if draft.unplaced:
        reasons.append(f"Text outside any answer could not be placed (“{_clip(' '.join(draft.unplaced))}”).")
    if draft.signature_unread and not draft.texts.get("organisation") and not draft.letter_fields.get("organisation"):
        reasons.append(
            f"The signature has a line that may name the respondent's organisation (“{draft.signature_unread[0]}”): "
            "check the respondent's details."
        )
    rules = set(draft.rules.values())
    if "number+text" in rules and not rules - WEAK_RULES:
        reasons.append(
            "The letter's numbered paragraphs were read as answers to the questions with the same numbers; "
            "nothing says they answer the form's questions: check them."
        )
    topics = [qid for qid, rule in draft.rules.items() if rule == "topic"]
    if topics:
        numbers = ", ".join(str(form.question(q).number) for q in topics)
        reasons.append(
            f"Answers placed by the subject of their heading (“On leadership:”), not by a question number: "
            f"check questions {numbers}."
        )
    for qid, line in draft.heading_like:
        number = form.question(qid).number
        reasons.append(
            f"Question {number}: the answer runs into a line that looks like a heading (“{line}”): "
            "check where the answer ends."
        )
    return reasons


def _clip(text: str, most: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _missing_questions(draft: Draft, form: FormDefinition, printed_form: bool) -> list[str]:
    missing = [q for q in form.questions if q.id not in draft.questions]
    if not missing or not printed_form:
        return []
    numbers = ", ".join(str(q.number) for q in missing)
    noun = "Question" if len(missing) == 1 else "Questions"
    return [f"{noun} {numbers} not found in the form: it may be incomplete or altered."]


def build_reading(
    draft: Draft, form: FormDefinition, *, source_kind: str, filename: str | None, printed_form: bool, letter: bool
) -> Reading:
    """Turn what was found into a Reading, collecting every reason for review.

    `letter`: the document has no tables (a letter, a retyped form, the e-mail body), so every
    paragraph must find its place.
    """
    reasons = list(draft.reasons)
    if letter:
        reasons.extend(_letter_reasons(draft, form))
    answers = _answers(draft, form, reasons)
    category, other = _category(draft, form, reasons)
    confidential, why_c = decide_single("Confidentiality box", draft.singles.get(Key.CONFIDENTIAL, []))
    acknowledge, why_a = decide_single("Acknowledgement box", draft.singles.get(Key.ACKNOWLEDGE, []))
    contact, why_ct = decide_group(
        "Contact again (Yes/No)", draft.groups.get(Key.CONTACT, []), form.contact_again_choices
    )
    reasons.extend([*why_c, *why_a, *why_ct, *_missing_questions(draft, form, printed_form)])
    respondent = Respondent(
        name=_text(draft, "name") or _letter_field(draft, "name", reasons),
        organisation=_text(draft, "organisation") or _letter_field(draft, "organisation", reasons),
        address=_text(draft, "address") or _letter_field(draft, "address", reasons),
        email=_email(draft, "email"),
        category=category,
        category_other=other,
    )
    filed: dict[str, object] = {f"respondent.{k}": v for k, v in asdict(respondent).items()}
    filed.update(
        confidential=confidential,
        confidential_reason=_text(draft, Key.REASON),
        acknowledge=acknowledge,
        acknowledge_email=_email(draft, Key.ACK_EMAIL),
        contact_again=contact,
    )
    for qid, answer in answers.items():
        filed.update({f"{qid}.choice": answer.choice, f"{qid}.comment": answer.comment})
    return Reading(
        source_kind=source_kind,
        filename=filename,
        respondent=respondent,
        found=_found(draft, filed),
        confidential=confidential,
        confidential_reason=_text(draft, Key.REASON),
        acknowledge=acknowledge,
        acknowledge_email=_email(draft, Key.ACK_EMAIL),
        contact_again=contact,
        answers=answers,
        review_reasons=tuple(dict.fromkeys(reasons)),
    )


def _found(draft: Draft, filed: dict[str, object]) -> dict[str, tuple[str, str]]:
    """How each field that was filed (not left empty) was found: the form's ways first, then a letter's frame.

    A field given both ways was filed from the form's way (see `_text`), so that is the one named.
    """
    found: dict[str, tuple[str, str]] = {}
    for path, value in filed.items():
        how = draft.found.get(path) or draft.letter_found.get(path)
        if value not in (None, "") and how:
            found[path] = how
    return found


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
