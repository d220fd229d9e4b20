"""Answers written in the e-mail itself.

`body_text` keeps only what the respondent wrote in this message (no quoted earlier mail, no
legal disclaimer; a sign-off and the name under it stay, for the form reader to place: answers may
follow a "Thank you." line); `body_document` turns it into the Document IR, one paragraph a line,
for the form reader's line grammar; `looks_like_response` tells a response written in the body from
correspondence such as "could you send me the form?".
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from parsers.document import Document, Paragraph
from parsers.formdef import FormDefinition
from parsers.formreader import read_form
from parsers.model import Reading

log = logging.getLogger(__name__)

# Lines from which everything below is an earlier message, a signature or a disclaimer.
_CUT_LINES = (
    re.compile(r"^-{2,}\s*original message\s*-{2,}", re.I),
    re.compile(r"^_{10,}$"),
    re.compile(r"^on .{4,200}\bwrote:$", re.I),
    re.compile(r"^-- ?$"),
    re.compile(r"^\**\s*disclaimer\b", re.I),
)
# Paragraphs that open a legal disclaimer or a virus-scanner notice.
_DISCLAIMER_OPENINGS = re.compile(
    r"^(this (e-?mail|message|communication)\b.{0,80}\b(confidential|intended|scanned|privileged)"
    r"|the information (contained )?in this (e-?mail|message)"
    r"|if you (have )?received this (e-?mail|message) in error"
    r"|any views or opinions (expressed|presented))",
    re.I | re.S,
)
_QUESTION_HEADING = re.compile(r"^\s*(?:q|question)\s*\d{1,2}\b", re.I)
_OUTLOOK_HEADER = re.compile(r"^\*?from:\*?\s", re.I)
_HEADER_FOLLOWERS = re.compile(r"^\*?(sent|date|to|subject|cc):\*?\s", re.I)


def body_text(msg_text: str | None, msg_html: str | None) -> str:
    """The respondent's own words: plain text preferred, else the HTML part as text; quotes cut off."""
    text = msg_text if msg_text and msg_text.strip() else html_to_text(msg_html or "")
    return strip_quoted(text)


def strip_quoted(text: str) -> str:
    """Drop "> " lines, then everything from an earlier message, signature or disclaimer onwards."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = _drop_quoted(lines)
    cut = _cut_index(lines)
    kept = lines[:cut]
    cut = _disclaimer_index(kept)
    return "\n".join(kept[:cut]).strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _drop_quoted(lines: list[str]) -> list[str]:
    """Drop "> " lines; but when answers are typed between them, keep the quoted question headings.

    People reply to the consultation's mailshot by typing "Agree" under each quoted question.
    """
    first_quoted = next((i for i, line in enumerate(lines) if _is_quoted(line)), len(lines))
    interleaved = any(line.strip() and not _is_quoted(line) for line in lines[first_quoted:])
    kept: list[str] = []
    for i, line in enumerate(lines):
        if interleaved and i < first_quoted and _is_attribution(lines, i, first_quoted):
            continue
        if not _is_quoted(line):
            kept.append(line)
            continue
        unquoted = re.sub(r"^(\s*>)+\s?", "", line)
        if interleaved and _QUESTION_HEADING.match(unquoted):
            kept.append(unquoted)
    return kept


def _is_attribution(lines: list[str], i: int, first_quoted: int) -> bool:
    """The "On <date>, <someone> wrote:" line (or the two it was wrapped into) just above the quote."""
    above = [j for j in range(first_quoted - 1, -1, -1) if lines[j].strip()][:2]
    if not above or not lines[above[0]].strip().endswith("wrote:"):
        return False
    if i == above[0]:
        return True
    wrapped = len(above) == 2 and not lines[above[0]].strip().lower().startswith("on ")
    return wrapped and i == above[1] and lines[i].strip().lower().startswith("on ")


def _cut_index(lines: list[str]) -> int:
    """Index of the first line of an earlier message, a signature separator or a disclaimer."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(p.match(stripped) for p in _CUT_LINES) or _is_outlook_header(lines, i):
            return i
        if stripped.lower().startswith("on ") and i + 1 < len(lines) and lines[i + 1].strip().endswith("wrote:"):
            return i
    return len(lines)


def _is_outlook_header(lines: list[str], i: int) -> bool:
    """ "From: ..." followed within four lines by "Sent:"/"To:"/"Subject:": a quoted message's header."""
    if not _OUTLOOK_HEADER.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1 : i + 5]]
    return sum(1 for line in following if _HEADER_FOLLOWERS.match(line)) >= 2


def _disclaimer_index(lines: list[str]) -> int:
    """Index of the first line of a disclaimer paragraph, or len(lines)."""
    start = 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            continue
        paragraph = " ".join(lines[start:i]).strip()
        if paragraph and _DISCLAIMER_OPENINGS.match(paragraph):
            return start
        start = i + 1
    return len(lines)


class _TextExtractor(HTMLParser):
    """HTML to text with paragraphs and line breaks kept; scripts, styles and quoted mail dropped."""

    BLOCKS = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})
    SKIPPED = frozenset({"script", "style", "head", "title", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping or tag in self.SKIPPED or _is_quote_container(attrs):
            if tag not in ("br", "img", "hr", "meta", "link", "input"):
                self.skipping.append(tag)
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag in self.BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")
        elif tag == "td":
            self.parts.append("\t")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def _is_quote_container(attrs: list[tuple[str, str | None]]) -> bool:
    """Mail clients wrap the quoted earlier message in a marked element."""
    values = " ".join(v or "" for k, v in attrs if k in ("class", "id", "type"))
    return bool(re.search(r"gmail_quote|divRplyFwdMsg|moz-cite-prefix|\bcite\b|yahoo_quoted", values))


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, one line per line break, a blank line between paragraphs."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_FORWARD_MARKERS = (
    re.compile(r"^-{2,}\s*(original|forwarded) message\s*-{2,}", re.I),
    re.compile(r"^begin forwarded message:?$", re.I),
)


def forwarded_text(msg_text: str | None, msg_html: str | None) -> str | None:
    """The earlier message below a forward or reply marker, without its header lines, or None.

    A response forwarded inline ("FW: response from our chair") has its answers below the marker
    that `body_text` cuts at; this returns that part, itself stripped of quotes and disclaimers.
    """
    text = msg_text if msg_text and msg_text.strip() else html_to_text(msg_html or "")
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if any(p.match(line.strip()) for p in _FORWARD_MARKERS) or _is_outlook_header(lines, i):
            rest = lines[i + 1 :] if not _OUTLOOK_HEADER.match(line.strip()) else lines[i:]
            return body_text("\n".join(_skip_header_block(rest)), None)
    return None


def _skip_header_block(lines: list[str]) -> list[str]:
    """Drop the forwarded message's "From:/Sent:/To:/Subject:" lines at the top."""
    i = 0
    while i < len(lines) and (not lines[i].strip() or _OUTLOOK_HEADER.match(lines[i].strip())
                              or _HEADER_FOLLOWERS.match(lines[i].strip())):  # fmt: skip
        i += 1
    return lines[i:]


def body_document(text: str) -> Document:
    """The body as a Document: one paragraph a line (blank lines kept, they end an address).

    A line of tab-separated cells (an HTML table, a table pasted from Word) reads as "label: value",
    the shape the line grammar knows: "Name<TAB>Jo Bloggs" is "Name: Jo Bloggs".
    """
    return Document(blocks=tuple(Paragraph(_cells_as_line(line)) for line in text.split("\n")))


def _cells_as_line(line: str) -> str:
    cells = [c.strip() for c in line.split("\t") if c.strip()]
    if len(cells) == 2 and not cells[0].endswith((":", "-")):
        return f"{cells[0]}: {cells[1]}"
    return " ".join(cells)


def looks_like_response(text: str, form: FormDefinition) -> bool:
    """Whether the body answers the form: two questions answered, or one chosen answer beside "about you".

    "Can you send me the form?" or a remark on question 3 alone is correspondence, not a response.
    """
    if not text.strip():
        return False
    reading = read_form(body_document(text), form, source_kind="body", filename=None)
    if reading.text is not None:
        return False
    answered = [a for a in reading.answers.values() if a.choice or a.comment]
    chosen = [a for a in answered if a.choice]
    about_you = reading.respondent.name or reading.respondent.category or reading.respondent.email
    return len(answered) >= 2 or (len(chosen) >= 1 and bool(about_you))


def read_body(msg_text: str | None, msg_html: str | None, form: FormDefinition) -> Reading | None:
    """The Reading of a response written in the e-mail body, or None when the body is not a response."""
    text = body_text(msg_text, msg_html)
    if not looks_like_response(text, form):
        log.debug("body is not a response (%d characters)", len(text))
        return None
    return read_form(body_document(text), form, source_kind="body", filename=None)


__all__ = ["body_document", "body_text", "html_to_text", "looks_like_response", "read_body", "strip_quoted"]
