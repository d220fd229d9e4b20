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
    # How each filed field was found: "q3.choice", "q3.comment", "respondent.name", "confidential"... (the
    # names `store.review` gives the fields) -> (way, where): the way is a key of
    # `parsers.formreader.rules.WAYS`, where a short location ("PDF field q3_agree", "the signature")
    # naming only the form's own words, never the respondent's. Not part of what was said: the
    # fingerprint leaves it out, and so do repr (the fingerprint of a file with nothing read) and ==.
    found: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A plain dict, whatever mapping was given: a Reading crosses the sandbox's process
        # boundary by pickling, and read-only proxies cannot be pickled.
        object.__setattr__(self, "answers", dict(self.answers))
        object.__setattr__(self, "found", {k: (str(v[0]), str(v[1])) for k, v in self.found.items()})

    @property
    def status(self) -> str:
        return "needs_review" if self.review_reasons else "filed"
