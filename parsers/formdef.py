"""The consultation's form definition, loaded from TOML into frozen objects.

Nothing about the form is hard-coded in Python: readers, the blank-form writer, the report and the
acknowledgement all take a FormDefinition.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path


class FormDefinitionError(ValueError):
    """The form definition file is missing a key or has a bad value."""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    specify: bool = False


@dataclass(frozen=True)
class Question:
    id: str
    number: int
    text: str
    scale: bool


@dataclass(frozen=True)
class FormDefinition:
    id: str
    title: str
    department: str
    mailbox: str
    reference_prefix: str
    opens: dt.date
    closes: dt.date
    respondent_fields: tuple[Choice, ...]
    confidential_label: str
    confidential_reason_label: str
    category_prompt: str
    categories: tuple[Choice, ...]
    scale: tuple[Choice, ...]
    questions: tuple[Question, ...]
    acknowledge_label: str
    acknowledge_email_label: str
    contact_again_label: str
    contact_again_choices: tuple[Choice, ...]

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)


def _choices(raw: list[dict], where: str) -> tuple[Choice, ...]:
    try:
        return tuple(Choice(str(c["id"]), str(c["label"]), bool(c.get("specify", False))) for c in raw)
    except (KeyError, TypeError) as err:
        raise FormDefinitionError(f"{where}: each choice needs an id and a label") from err


def parse_form(data: dict) -> FormDefinition:
    """Build a FormDefinition from the parsed TOML tables."""
    try:
        c = data["consultation"]
        r = data["respondent"]
        closing = data["closing"]
        questions = tuple(
            Question(str(q["id"]), int(q["number"]), str(q["text"]), bool(q.get("scale", True)))
            for q in data["questions"]
        )
        return FormDefinition(
            id=str(c["id"]),
            title=str(c["title"]),
            department=str(c["department"]),
            mailbox=str(c["mailbox"]),
            reference_prefix=str(c["reference_prefix"]),
            opens=c["opens"],
            closes=c["closes"],
            respondent_fields=_choices(r["fields"], "respondent.fields"),
            confidential_label=str(r["confidential_label"]),
            confidential_reason_label=str(r["confidential_reason_label"]),
            category_prompt=str(r["category"]["prompt"]),
            categories=_choices(r["category"]["choices"], "respondent.category.choices"),
            scale=_choices(data["answer_scale"]["choices"], "answer_scale.choices"),
            questions=questions,
            acknowledge_label=str(closing["acknowledge_label"]),
            acknowledge_email_label=str(closing["acknowledge_email_label"]),
            contact_again_label=str(closing["contact_again_label"]),
            contact_again_choices=_choices(closing["contact_again_choices"], "closing.contact_again_choices"),
        )
    except KeyError as err:
        raise FormDefinitionError(f"form definition: missing key {err.args[0]!r}") from err


def load_form(path: str | Path) -> FormDefinition:
    """Read a form definition TOML file."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as err:
        raise FormDefinitionError(f"form definition {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise FormDefinitionError(f"form definition {path}: {err}") from err
    return parse_form(data)


DEFAULT_FORM_PATH = Path(__file__).resolve().parent.parent / "forms" / "childrens-trusts-2008.toml"
