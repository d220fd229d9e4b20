"""Tell automatic mail (out-of-office replies, delivery reports) and spam from mail a person sent.

Pure functions over a parsed message: no I/O. Both lean towards "a person sent this": a response
wrongly taken for an auto-reply or for junk is a response lost, while an auto-reply wrongly taken
for mail from a person only costs a look by staff (and `ingest.ack_policy` still declines to
acknowledge it from its headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses

from parsers.formdef import FormDefinition

AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"

# Subjects of delivery failure reports from Postfix, Sendmail, qmail, Exim, Exchange, Notes, Gmail.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|delivery status notification|returned mail|failure notice"
    r"|mail delivery (?:failed|failure|subsystem)|delivery (?:has )?fail|non[- ]?deliver"
    r"|delivery failure|could not be delivered|mail system error|warning: could not send",
    re.IGNORECASE,
)
# Subjects of out-of-office and other automatic replies (Exchange, Notes, GroupWise, German Outlook).
_AUTO_REPLY_SUBJECT = re.compile(
    r"\bout of (?:the )?office\b(?! hours)|\bautomatic reply\b|^\s*auto(?:matic)?[ -]?(?:reply|response)\b"
    r"|^\s*auto:|\baway from (?:my|the) (?:desk|office)\b|\babwesenheitsnotiz\b|\bautoreply\b"
    r"|^\s*r[ée]ponse automatique\b",
    re.IGNORECASE,
)
_SYSTEM_SENDERS = frozenset({"mailer-daemon", "mailer_daemon", "postmaster"})
_EXCHANGE_GENERATED = ("x-ms-exchange-inbox-rules-loop", "x-ms-exchange-generated-message-source")
# Attachments that may hold a response form: their presence vetoes a guess made from the subject.
_DOCUMENT_SUFFIX = re.compile(r"\.(?:docx?|docm|dotx?|odt|rtf|pdf|txt|wpd)$", re.IGNORECASE)

# Phrases of the spam of the day, by the kind of scam they belong to. Matched as whole words (so
# "impact now" is not "act now"), and one alone is not evidence: a respondent may write any of them.
SPAM_PHRASES: dict[str, tuple[str, ...]] = {
    "pharmacy": ("viagra", "cialis", "online pharmacy", "prescription drugs", "no prescription needed",
                 "cheap meds", "lose weight fast", "weight loss pills", "male enhancement", "penis enlargement"),
    "money": ("lottery", "wire transfer", "western union", "million dollars", "you have won", "claim your prize",
              "dear winner", "next of kin", "unclaimed funds", "your bank account details", "money transfer"),
    "loans": ("refinance", "mortgage rates", "loan approval", "pre-approved", "payday loan", "credit score"),
    "phishing": ("verify your account", "your account has been suspended", "confirm your password",
                 "update your billing", "login details"),
    "marketing": ("click here to unsubscribe", "act now", "limited time offer", "special offer", "100% free",
                  "risk-free", "casino", "replica watches", "rolex", "work from home", "investment opportunity",
                  "stock alert", "hot singles", "adult dating", "university diploma", "online degree"),
}  # fmt: skip
# A message is junk by its phrases only when it has at least this many different ones.
MIN_SPAM_PHRASES = 2


@dataclass(frozen=True)
class Classification:
    """Why a message is automatic: `disposition` is AUTO_REPLY or BOUNCE, `reason` says which sign."""

    disposition: str
    reason: str


def classify_automatic(msg: EmailMessage | Message, envelope_sender: str | None) -> Classification | None:
    """AUTO_REPLY or BOUNCE with the sign that gave it away, or None when a person seems to have written."""
    reason = bounce_reason(msg, envelope_sender)
    if reason:
        return Classification(BOUNCE, reason)
    reason = auto_reply_reason(msg)
    if reason:
        return Classification(AUTO_REPLY, reason)
    return None


def bounce_reason(msg: Message, envelope_sender: str | None) -> str | None:
    """A delivery status report, or a bounce-like subject from a mail system (qmail sends no report)."""
    if _report_type(msg) == "delivery-status":
        return "delivery status report"
    subject = header_text(msg, "Subject")
    if not _BOUNCE_SUBJECT.search(subject):
        return None
    if _from_mail_system(msg) or address_local_part(envelope_sender or "") in _SYSTEM_SENDERS:
        return "bounce subject from a mail system"
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "bounce subject with a null sender"
    return None


def auto_reply_reason(msg: Message) -> str | None:
    """The header or subject that marks an automatic reply.

    A message carrying a document is never one: online-form gateways send responses marked
    Auto-Submitted, and reading the attachment decides better than a header (the acknowledgement
    policy still declines to answer it).
    """
    if has_document_attachment(msg):
        return None
    reason = _auto_reply_header_reason(msg)
    if reason:
        return reason
    if _AUTO_REPLY_SUBJECT.search(header_text(msg, "Subject")):
        return "out-of-office subject"
    return None


def _auto_reply_header_reason(msg: Message) -> str | None:
    """Headers auto-responders set (RFC 3834 Auto-Submitted and the older de facto ones)."""
    for value in msg.get_all("Auto-Submitted", []):
        if first_token(value) not in ("", "no"):
            return f"Auto-Submitted: {first_token(value)}"
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return "X-Autoreply header"
    if first_token(msg.get("Precedence", "")) == "auto_reply":
        return "Precedence: auto_reply"
    if _report_type(msg) == "disposition-notification":
        return "read receipt"
    if msg.get("X-Auto-Response-Suppress") is not None and _exchange_generated(msg):
        return "Exchange automatic reply"
    return None


def _exchange_generated(msg: Message) -> bool:
    """Outlook also sets X-Auto-Response-Suppress on mail a person sends; Exchange marks its own."""
    return any(name.lower() in _EXCHANGE_GENERATED for name in msg)


def looks_like_junk(msg: Message, text: str, form: FormDefinition) -> str | None:
    """Why the message is spam, or None.

    Evidence, not a word: an upstream spam filter's verdict, or at least two different spam
    phrases. Anything that names the consultation (its words, mailbox, department or postal
    address, all from the form definition) is never junk, nor is a message carrying a document.
    """
    haystack = f"{header_text(msg, 'Subject')}\n{text}"
    if _names_the_consultation(haystack, form):
        return None
    flag = _spam_header_reason(msg)
    if flag:
        return flag
    found = spam_phrases(haystack)
    if len(found) >= MIN_SPAM_PHRASES and not has_document_attachment(msg):
        return "spam phrases: " + ", ".join(found)
    return None


def spam_phrases(text: str) -> list[str]:
    """The spam phrases in a text, each once, matched as whole words."""
    return [phrase for phrases in SPAM_PHRASES.values() for phrase in phrases if _has_words(text, phrase)]


def _names_the_consultation(text: str, form: FormDefinition) -> bool:
    # The distinctive parts of the address: those of its lines with a number (not "East Lane").
    address = [part for line in form.postal_address if any(c.isdigit() for c in line) for part in line.split(",")]
    own = (*form.topic_words, form.mailbox, form.department, form.title, *address)
    return any(_has_words(text, phrase) for phrase in own if phrase)


def _has_words(text: str, phrase: str) -> bool:
    """The phrase in the text as whole words, case and quotes ignored ("Children’s" = "Children's")."""
    words = r"\s+".join(re.escape(w) for w in _fold(phrase).split())
    return bool(re.search(rf"(?<![\w']){words}(?![\w'])", _fold(text)))


def _fold(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def _spam_header_reason(msg: Message) -> str | None:
    """The verdict of a spam filter upstream (SpamAssassin and compatible)."""
    if first_token(msg.get("X-Spam-Flag", "")) == "yes":
        return "X-Spam-Flag: YES"
    if first_token(msg.get("X-Spam-Status", "").replace(",", " ")) == "yes":
        return "X-Spam-Status: Yes"
    return None


def has_document_attachment(msg: Message) -> bool:
    """Whether the message itself (not a message it quotes) carries a file that may be a response form."""
    return any(_DOCUMENT_SUFFIX.search(name) for name in _attachment_names(msg))


def _attachment_names(msg: Message) -> list[str]:
    """File names of the parts of this message, not descending into attached messages."""
    names = []
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.get_content_maintype() == "message":
            continue
        if part.is_multipart():
            stack.extend(part.get_payload())
        elif part.get_filename():
            names.append(part.get_filename())
    return names


def _report_type(msg: Message) -> str | None:
    """The report-type of a multipart/report message (RFC 6522), lower-cased."""
    if msg.get_content_type() != "multipart/report":
        return None
    return (msg.get_param("report-type") or "").lower() or None


def _from_mail_system(msg: Message) -> bool:
    """Whether From names MAILER-DAEMON or postmaster, as bounces do."""
    return any(address_local_part(addr) in _SYSTEM_SENDERS for addr in header_addresses(msg, "From"))


def header_text(msg: Message, name: str) -> str:
    """A header's decoded text with folding removed, '' when absent or undecodable."""
    value = msg.get(name)
    if value is None:
        return ""
    return " ".join(str(value).split())


def header_addresses(msg: Message, name: str) -> list[str]:
    """The addr-specs in every copy of an address header, however the message was parsed."""
    found: list[str] = []
    for value in msg.get_all(name, []):
        addresses = getattr(value, "addresses", None)
        if addresses is not None:
            found.extend(address.addr_spec for address in addresses)
        else:
            found.extend(addr for _, addr in getaddresses([str(value)]))
    return [addr for addr in found if addr and addr != "<>"]


def address_local_part(address: str) -> str:
    """The lower-cased part before the last @ (the whole thing when there is none)."""
    return address.strip().strip("<>").rpartition("@")[0].lower() or address.strip().strip("<>").lower()


def first_token(value: object) -> str:
    """The first word of a header value, lower-cased, without comments: 'auto-generated (vacation)'."""
    text = str(value).split("(", 1)[0].split(";", 1)[0].strip().lower()
    return text.split()[0] if text.split() else ""
