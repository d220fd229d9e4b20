"""Named form fields (a fillable PDF's AcroForm or XFA data), mapped by field name.

The rule that makes a field safe: its name is the published form's own (from the blank-form
writer) or within a small edit of one, with a margin over the runner-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from parsers import blankform_pdf as pdf_names
from parsers import normalise as nz
from parsers.formdef import Choice, FormDefinition
from parsers.formreader.draft import ChoiceMarks, Draft, Key, clip


def field_catalogue(form: FormDefinition) -> dict[str, tuple[str, str]]:
    """Canonical field name -> (kind, key): "text"/"single"/"group" and where it goes.

    Field names come from `parsers.blankform_pdf`, which names the fields of the published form.
    """
    cat: dict[str, tuple[str, str]] = {f.id: ("text", f.id) for f in form.respondent_fields}
    cat[pdf_names.confidential_field()] = ("single", Key.CONFIDENTIAL)
    cat[pdf_names.acknowledge_field()] = ("single", Key.ACKNOWLEDGE)
    cat[pdf_names.confidential_reason_field()] = ("text", Key.REASON)
    cat[pdf_names.acknowledge_email_field()] = ("text", Key.ACK_EMAIL)
    cat[pdf_names.category_other_field()] = ("text", Key.OTHER_TEXT)
    for c in form.categories:
        cat[pdf_names.category_field(c.id)] = ("group", f"{Key.CATEGORY}:{c.id}")
    for c in form.contact_again_choices:
        cat[pdf_names.contact_field(c.id)] = ("group", f"{Key.CONTACT}:{c.id}")
    cat.update({Key.CATEGORY: ("radio", Key.CATEGORY), "respondent_category": ("radio", Key.CATEGORY)})
    cat.update({Key.CONTACT: ("radio", Key.CONTACT), "contact_again": ("radio", Key.CONTACT)})
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


def match_field(name: str, catalogue: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    canon = _canonical_name(name)
    if canon in catalogue:
        return catalogue[canon]
    best = nz.best_match(canon, {k: k for k in catalogue}, threshold=90.0, margin=4.0)
    return catalogue[best] if best else None


def read_fields(fields: Mapping[str, str], form: FormDefinition) -> Draft:
    """Map named form fields onto the form; a filled field with an unknown name is a review reason."""
    draft = Draft()
    catalogue = field_catalogue(form)
    for name, value in fields.items():
        target = match_field(name, catalogue)
        if target is None:
            if value.strip() and value.strip() != nz.UNCHECKED and nz.is_tick(value) is not False:
                draft.reasons.append(f"A filled form field “{name}” does not match anything on the form.")
            continue
        _put_field(draft, target, value, form, ("named field", f"PDF field {clip(name)}"))
    draft.questions.extend(q.id for q in form.questions)
    return draft


def _group_choices(form: FormDefinition, group: str) -> tuple[Choice, ...]:
    if group == Key.CATEGORY:
        return form.categories
    return form.contact_again_choices if group == Key.CONTACT else form.scale


def _put_radio(draft: Draft, group: str, value: str, form: FormDefinition, how: tuple[str, str]) -> None:
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
        draft.tick(group, cid, how)


def _put_field(draft: Draft, target: tuple[str, str], value: str, form: FormDefinition, how: tuple[str, str]) -> None:
    kind, key = target
    if kind == "radio":
        _put_radio(draft, key, value, form, how)
    elif kind == "text":
        draft.add_text(key, value, how)
    elif kind == "single":
        draft.add_single(key, nz.is_tick(value), value, how)
    elif kind == "comment":
        draft.add_comment(key, value, how)
        draft.landmarks.add("questions")
    else:
        group, cid = key.split(":", 1)
        draft.add_group(group, ChoiceMarks({cid: (nz.is_tick(value),)}, _unclear_of(cid, value)), how)


def _unclear_of(cid: str, value: str) -> tuple[tuple[str, str], ...]:
    return ((cid, value),) if nz.is_tick(value) is None else ()
