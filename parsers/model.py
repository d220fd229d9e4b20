"""What the parsers return: one `Reading` per response found, with answers keyed by form ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SOURCE_KINDS = ("docx", "doc", "odt", "rtf", "pdf", "body", "other")


@dataclass(frozen=True)
class Answer:
    choice: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class Respondent:
    name: str | None = None
    organisation: str | None = None
    address: str | None = None
    email: str | None = None
    category: str | None = None
    category_other: str | None = None


@dataclass(frozen=True)
class Reading:
    """One response as read from one source (an attachment or the e-mail body).

    `review_reasons` empty means every reading was unambiguous and the response can be filed;
    otherwise each reason says, in words staff understand, why a person must look.
    """

    source_kind: str
    filename: str | None
    respondent: Respondent = Respondent()
    confidential: bool = False
    confidential_reason: str | None = None
    acknowledge: bool = False
    acknowledge_email: str | None = None
    contact_again: str | None = None
    answers: Mapping[str, Answer] = field(default_factory=dict)
    text: str | None = None
    review_reasons: tuple[str, ...] = ()
    source_digest: str | None = None  # SHA-256 of the attachment read, to tell unreadable files apart

    def __post_init__(self) -> None:
        # A plain dict, whatever mapping was given: a Reading crosses the sandbox's process
        # boundary by pickling, and read-only proxies cannot be pickled.
        object.__setattr__(self, "answers", dict(self.answers))

    @property
    def status(self) -> str:
        return "needs_review" if self.review_reasons else "filed"
