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
    # Phrases by which a letter names this choice ("as a parent", "our school"), matched on word
    # boundaries; only the respondent categories have them.
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    number: int
    text: str
    scale: bool
    # Words a letter's heading uses for this question's subject ("On leadership:").
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormDefinition:
    id: str
    title: str
    department: str
    mailbox: str
    reference_prefix: str
    postal_address: tuple[str, ...]
    time_zone: str
    # Words any mail about this consultation is likely to use: one of them vetoes a junk verdict.
    topic_words: tuple[str, ...]
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
        return tuple(
            Choice(str(c["id"]), str(c["label"]), bool(c.get("specify", False)), _strings(c.get("synonyms", [])))
            for c in raw
        )
    except (KeyError, TypeError) as err:
        raise FormDefinitionError(f"{where}: each choice needs an id and a label") from err


def _strings(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise TypeError("expected a list of strings")
    return tuple(raw)


def parse_form(data: dict) -> FormDefinition:
    """Build a FormDefinition from the parsed TOML tables."""
    try:
        c = data["consultation"]
        r = data["respondent"]
        closing = data["closing"]
        questions = tuple(
            Question(
                str(q["id"]),
                int(q["number"]),
                str(q["text"]),
                bool(q.get("scale", True)),
                _strings(q.get("topics", [])),
            )
            for q in data["questions"]
        )
        return FormDefinition(
            id=str(c["id"]),
            title=str(c["title"]),
            department=str(c["department"]),
            mailbox=str(c["mailbox"]),
            reference_prefix=str(c["reference_prefix"]),
            postal_address=_strings(c.get("postal_address", [])),
            time_zone=str(c.get("time_zone", "UTC")),
            topic_words=_strings(c.get("topic_words", [])),
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
    except TypeError as err:
        raise FormDefinitionError(f"form definition: {err}") from err


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
