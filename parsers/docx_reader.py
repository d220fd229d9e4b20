"""Read a Word .docx attachment into the Document IR (paragraphs and tables of plain text).

The XML of the main document part is read directly with lxml because python-docx's text
properties silently drop what respondents' answers are often made of: text inside content
controls, tracked insertions and form-field results. Only the body is read (not headers,
footers, comments, foot/endnotes); text boxes are not read either, but a text box holding text is
reported in `Document.problems` so a person looks.

Every kind of check box becomes one of the two canonical marks of `parsers.document`:

- glyphs: ☐ stays ☐; ☒ ☑ ✓ ✔ ✗ ✘ (and ✅ 🗸 🗹 🗷 ⌧ ⊠ ▣) become ☒; □ ❏ ❐ ❑ ❒ become ☐;
- symbols: `w:sym` runs and runs set in Wingdings / Wingdings 2 / Symbol / Webdings whose
  character code is a tick, a cross or a box (see `_SYMBOL_MARKS`); other symbols are dropped;
- legacy form fields (FORMCHECKBOX): `w:checked` overrides `w:default`; a bare element is "on";
- content controls with `w14:checkbox`: `w14:checked`.

Text form fields give their result (Word's unfilled default of five EN SPACEs reads as ""),
drop-down fields their result or their selected entry, content controls their content unless
they still show their placeholder (`w:showingPlcHdr`, or Word's own prompt text such as "Click
here to enter text." when a converter dropped that flag; read as ""). Tracked insertions and moves
count as written; deletions and moved-away text do not. Hidden (`w:vanish`) text is dropped.

Decisions about typed marks: a typed "X" stays "X" (only the form reader knows whether it sits
in a box). A table cell whose whole text is "[x]", "[X]", "(x)" or "(X)" (or a bracketed ☒)
becomes ☒, and one that is "[ ]", "( )", "[]" or "()" becomes ☐; brackets inside longer text stay.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO

from lxml import etree

from parsers.document import CHECKED, GLYPH_MARKS, UNCHECKED, Block, Document, Paragraph, Table
from parsers.ooxml_guard import UnsafeDocumentError, check_archive, parse_xml, read_part

log = logging.getLogger(__name__)

__all__ = ["DocumentReadError", "UnsafeDocumentError", "read_docx"]

W_NAMESPACES = frozenset(
    {
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",  # ISO Strict
    }
)
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
_PREFIXES = {W14: "w14"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DEFAULT_MAIN_PART = "word/document.xml"
_OFFICE_DOCUMENT_REL = "/officeDocument"

EN_SPACE = "\u2002"
_TRUE_VALUES = frozenset({"1", "true", "on"})

_GLYPH_MARKS = str.maketrans(GLYPH_MARKS)

# Character codes (low byte of the F0xx private-use code Word writes) of ticks, crosses and boxes
# in the symbol fonts people use to tick a box.
_SYMBOL_MARKS: dict[str, dict[int, str]] = {
    "wingdings": {
        0xFC: CHECKED,  # tick
        0xFE: CHECKED,  # box with tick
        0xFD: CHECKED,  # box with cross
        0xFB: CHECKED,  # cross
        0x78: CHECKED,  # x in a box
        0xA8: UNCHECKED,  # empty box
        0x6F: UNCHECKED,  # empty box
        0x71: UNCHECKED,  # shadowed box
        0x72: UNCHECKED,  # shadowed box
        0xA3: UNCHECKED,
    },
    "wingdings 2": {
        0x4F: CHECKED,  # cross
        0x50: CHECKED,  # tick
        0x51: CHECKED,  # box with cross
        0x52: CHECKED,  # box with tick
        0x53: CHECKED,  # box with cross
        0x54: CHECKED,  # box with bold cross
        0xA3: UNCHECKED,  # empty box
        0x2A: UNCHECKED,  # empty box
    },
    "symbol": {0xD6: CHECKED, 0xB4: CHECKED},  # radical sign used as a tick; multiplication sign
    "webdings": {0x61: CHECKED, 0x63: UNCHECKED},
}
_PUA_WINGDINGS = str.maketrans({0xF000 + code: mark for code, mark in _SYMBOL_MARKS["wingdings"].items()})

# Word's own placeholder texts: a control still showing one is unanswered even when the
# w:showingPlcHdr flag was lost (LibreOffice and some converters drop it).
WORD_PLACEHOLDERS = frozenset(
    {
        "Click here to enter text.",
        "Click or tap here to enter text.",
        "Click here to enter a date.",
        "Click or tap to enter a date.",
        "Choose an item.",
    }
)

_BRACKET_CHECKED = re.compile(r"[\[(]\s*[xX\u2612]\s*[\])]")
_BRACKET_UNCHECKED = re.compile(r"[\[(]\s*\u2610?\s*[\])]")

# Inline containers whose children are read as if they stood in the paragraph.
_INLINE_CONTAINERS = frozenset(
    {"ins", "moveTo", "hyperlink", "smartTag", "customXml", "fldSimple", "dir", "bdo", "sdtContent"}
)
# Run content that may hold text boxes (not read: their place in the text is undefined).
_DRAWINGS = frozenset(
    {"drawing", "pict", "{http://schemas.openxmlformats.org/markup-compatibility/2006}AlternateContent"}
)
# Block-level wrappers whose children are read in place.
_BLOCK_CONTAINERS = frozenset({"customXml", "ins", "moveTo", "sdtContent"})


class DocumentReadError(ValueError):
    """The attachment is not a readable .docx (corrupt, truncated, encrypted or another format)."""


# --- names and attributes -------------------------------------------------------------------


def _name(el: etree._Element) -> str:
    """The local name of a WordprocessingML element ("p", "r"), or "w14:checkbox", or "{ns}x"."""
    tag = el.tag
    return _tag_name(tag) if isinstance(tag, str) else ""


@lru_cache(maxsize=512)
def _tag_name(tag: str) -> str:
    if not tag.startswith("{"):
        return tag
    ns, _, local = tag[1:].partition("}")
    if ns in W_NAMESPACES:
        return local
    prefix = _PREFIXES.get(ns)
    return f"{prefix}:{local}" if prefix else tag


def _attr(el: etree._Element, local: str) -> str | None:
    """An attribute in the w: (or w14:) namespace, whichever variant the document uses."""
    for ns in (*W_NAMESPACES, W14):
        value = el.get(f"{{{ns}}}{local}")
        if value is not None:
            return value
    return el.get(local)


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if _name(c) == name:
            return c
    return None


def _on(el: etree._Element | None, *, absent: bool = False) -> bool:
    """The value of an on/off property: a bare element is on; `absent` when there is none."""
    if el is None:
        return absent
    value = _attr(el, "val")
    return True if value is None else value.strip().lower() in _TRUE_VALUES


# --- loading ---------------------------------------------------------------------------------


def read_docx(data: bytes) -> Document:
    """Read a .docx attachment's body into a Document.

    Raises `UnsafeDocumentError` for a zip bomb or DOCTYPE and `DocumentReadError` for a file that
    is not a readable .docx.
    """
    body = _child(_load_main_part(data), "body")
    if body is None:
        raise DocumentReadError("the Word document has no body")
    walker = _Walker()
    blocks = walker.body_blocks(body)
    if walker.box_states[True] and not walker.box_states[False]:
        # Word saves every box's state and LibreOffice saves the ticked ones; check boxes none of
        # which has a state are what LibreOffice's RTF round trip leaves: the ticks are lost.
        walker.problems.append("the document's check boxes lost their ticks (it was converted from another format)")
    return Document(blocks=tuple(blocks), problems=tuple(walker.problems))


def _load_main_part(data: bytes) -> etree._Element:
    """Check the container, then parse its main document part."""
    if data[:8] == _OLE_MAGIC:
        raise DocumentReadError("the Word file is password-protected or in the older .doc format")
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            check_archive(zf)
            xml = read_part(zf, _main_part_name(zf))
        return parse_xml(xml)
    except UnsafeDocumentError:
        raise
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error, NotImplementedError, RuntimeError) as err:
        raise DocumentReadError(f"the Word document is damaged or not a .docx file ({err})") from err
    except etree.XMLSyntaxError as err:
        raise DocumentReadError(f"the Word document's text is damaged ({err})") from err


def _main_part_name(zf: zipfile.ZipFile) -> str:
    """The main part named by the package relationships, word/document.xml when they say nothing."""
    try:
        rels = parse_xml(read_part(zf, "_rels/.rels", 1_000_000))
    except KeyError:
        return _DEFAULT_MAIN_PART
    for rel in rels:
        if str(rel.get("Type", "")).endswith(_OFFICE_DOCUMENT_REL) and rel.get("Target"):
            return rel.get("Target").lstrip("/")
    return _DEFAULT_MAIN_PART


# --- marks and glyphs ------------------------------------------------------------------------


def _symbol_mark(font: str | None, code: int) -> str | None:
    """The mark a symbol-font character shows, or None when it is not a tick, cross or box."""
    table = _SYMBOL_MARKS.get((font or "").strip().lower())
    if table is None:
        return None
    if 0xF000 <= code <= 0xF0FF:
        code -= 0xF000
    return table.get(code)


def _sym_text(sym: etree._Element) -> str:
    """A `w:sym` run: its mark, or nothing for a symbol that is not a box or tick."""
    try:
        code = int(_attr(sym, "char") or "", 16)
    except ValueError:
        return ""
    return _symbol_mark(_attr(sym, "font"), code) or ""


def normalize_glyphs(text: str, font: str | None = None) -> str:
    """Turn every tick, cross and box glyph in `text` into a canonical mark."""
    if font and font.strip().lower() in _SYMBOL_MARKS:
        return "".join(_symbol_mark(font, ord(c)) or c for c in text)
    return text.translate(_GLYPH_MARKS).translate(_PUA_WINGDINGS)


def normalize_box_cell(text: str) -> str:
    """A cell that holds only a bracketed mark ("[x]", "( )") becomes the canonical mark."""
    stripped = text.strip()
    if _BRACKET_CHECKED.fullmatch(stripped):
        return CHECKED
    if _BRACKET_UNCHECKED.fullmatch(stripped):
        return UNCHECKED
    return text


def _run_font(rpr: etree._Element | None) -> str | None:
    fonts = _child(rpr, "rFonts")
    if fonts is None:
        return None
    return _attr(fonts, "ascii") or _attr(fonts, "hAnsi") or _attr(fonts, "cs")


def _is_unfilled(result: str) -> bool:
    """Word fills an untouched text form field with five EN SPACEs."""
    return not result.strip(" \t\u00a0" + EN_SPACE)


# --- legacy form fields ----------------------------------------------------------------------


@dataclass
class _Field:
    """One open complex field (w:fldChar begin ... separate ... end)."""

    kind: str = "other"  # checkbox | text | dropdown | other
    in_result: bool = False
    checked: bool = False
    state_missing: bool = False  # a check box with neither w:checked nor w:default
    entries: list[str] = field(default_factory=list)
    selected: int = 0
    instr: list[str] = field(default_factory=list)
    buf: list[str] = field(default_factory=list)
    flushed: bool = False

    @property
    def captures(self) -> bool:
        return self.kind in ("text", "dropdown") and self.in_result


def _field_from_ffdata(ffdata: etree._Element | None) -> _Field:
    """A field frame described by its w:ffData (check box, text input, drop-down) or a plain one."""
    if ffdata is None:
        return _Field()
    box = _child(ffdata, "checkBox")
    if box is not None:
        checked = _child(box, "checked")
        default = _child(box, "default")
        value = _on(checked) if checked is not None else _on(default)
        return _Field(kind="checkbox", checked=value, state_missing=checked is None and default is None)
    dd = _child(ffdata, "ddList")
    if dd is not None:
        entries = [_attr(e, "val") or "" for e in dd if _name(e) == "listEntry"]
        return _Field(kind="dropdown", entries=entries, selected=_dropdown_index(dd))
    if _child(ffdata, "textInput") is not None:
        return _Field(kind="text")
    return _Field()


def _dropdown_index(dd: etree._Element) -> int:
    for name in ("result", "default"):
        el = _child(dd, name)
        if el is not None:
            try:
                return int(_attr(el, "val") or "0")
            except ValueError:
                return 0
    return 0


def _field_value(f: _Field) -> str:
    """What a finished field shows in the text."""
    if f.kind == "checkbox":
        return CHECKED if f.checked else UNCHECKED
    result = "".join(f.buf)
    if f.kind == "text":
        return "" if _is_unfilled(result) and not f.flushed else result
    if f.kind == "dropdown":
        if not _is_unfilled(result) or f.flushed:
            return result
        return f.entries[f.selected] if 0 <= f.selected < len(f.entries) else ""
    if "FORMCHECKBOX" in "".join(f.instr).upper():
        return UNCHECKED  # a check box field written without its w:ffData
    return ""


# --- the walker ------------------------------------------------------------------------------


@dataclass
class _Item:
    """One paragraph-like item of a block container: a w:p/w:tbl element or a synthetic text."""

    element: etree._Element | None = None
    text: str = ""


class _Walker:
    """Walks a body in reading order; keeps the open-field stack and the problems found."""

    def __init__(self) -> None:
        self.fields: list[_Field] = []
        self.problems: list[str] = []
        self.box_states = {True: 0, False: 0}  # legacy check boxes without / with a saved state

    # blocks

    def body_blocks(self, body: etree._Element) -> list[Block]:
        return [b if isinstance(b, Table) else Paragraph(b) for b in self._flow(body)]

    def _flow(self, container: etree._Element) -> Iterator[str | Table]:
        """Paragraph texts and tables in order; a paragraph whose mark was deleted joins the next."""
        pending = ""
        for item in self._items(container):
            el = item.element
            if el is not None and _name(el) == "tbl":
                if pending:
                    yield pending
                    pending = ""
                yield Table(self._rows(el))
                continue
            text = pending + (self._paragraph(el) if el is not None else item.text)
            if el is not None and _mark_deleted(el):
                pending = text
            else:
                pending = ""
                yield text
        if pending:
            yield pending

    def _items(self, container: etree._Element) -> Iterator[_Item]:
        """The paragraphs and tables of a body or cell, through content controls and wrappers."""
        for child in container:
            name = _name(child)
            if name in ("p", "tbl"):
                yield _Item(child)
            elif name == "sdt":
                yield from self._block_sdt(child)
            elif name in _BLOCK_CONTAINERS:
                yield from self._items(child)
            elif name == "altChunk":
                self._problem("the Word document embeds another document (altChunk) that was not read")

    def _block_sdt(self, sdt: etree._Element) -> Iterator[_Item]:
        pr = _child(sdt, "sdtPr")
        box = _child(pr, "w14:checkbox")
        if box is not None:
            yield _Item(text=_sdt_checkbox_mark(box))
        elif _shows_placeholder(sdt):
            yield _Item(text="")
        else:
            content = _child(sdt, "sdtContent")
            if content is not None:
                yield from self._items(content)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            log.info("docx: %s", text)
            self.problems.append(text)

    # tables

    def _rows(self, tbl: etree._Element) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(self._cell_text(tc) for tc in _cells(tr)) for tr in _table_rows(tbl))

    def _cell_text(self, tc: etree._Element) -> str:
        """The paragraphs of a cell joined by newlines; a vMerge continuation reads as empty."""
        if _is_vmerge_continuation(tc):
            return ""
        outer, self.fields = self.fields, []  # a field never spans cells; isolate malformed ones
        try:
            return normalize_box_cell("\n".join(self._container_lines(tc)))
        finally:
            self.fields = outer

    def _container_lines(self, container: etree._Element) -> list[str]:
        """A cell's paragraphs, with a nested table's rows as tab-separated lines."""
        lines: list[str] = []
        for b in self._flow(container):
            lines.extend(["\t".join(row) for row in b.rows] if isinstance(b, Table) else [b])
        return lines

    # paragraphs and runs

    def _paragraph(self, p: etree._Element) -> str:
        out: list[str] = []
        self._inline(p, out)
        self._flush_open_fields(out)
        return "".join(out)

    def _inline(self, container: etree._Element, out: list[str]) -> None:
        for child in container:
            name = _name(child)
            if name == "r":
                self._run(child, out)
            elif name == "sdt":
                self._inline_sdt(child, out)
            elif name in _INLINE_CONTAINERS:
                self._inline(child, out)
            # w:del, w:moveFrom, properties, bookmarks, comments, math: nothing to read

    def _inline_sdt(self, sdt: etree._Element, out: list[str]) -> None:
        pr = _child(sdt, "sdtPr")
        box = _child(pr, "w14:checkbox")
        if box is not None:
            self._emit(_sdt_checkbox_mark(box), out)
        elif not _shows_placeholder(sdt):
            content = _child(sdt, "sdtContent")
            if content is not None:
                self._inline(content, out)

    def _run(self, run: etree._Element, out: list[str]) -> None:
        rpr = _child(run, "rPr")
        hidden = _on(_child(rpr, "vanish"))
        font = _run_font(rpr)
        for child in run:
            name = _name(child)
            if name == "fldChar":
                self._fld_char(child, out)
            elif name == "instrText":
                if self.fields and not self.fields[-1].in_result:
                    self.fields[-1].instr.append(child.text or "")
            elif name in _DRAWINGS:
                if _has_text_box_text(child):
                    self._problem("the Word document has text boxes whose text was not read")
            elif not hidden:
                self._emit(_run_child_text(child, name, font), out)

    def _emit(self, text: str, out: list[str]) -> None:
        """Send text to the paragraph, to the field capturing it, or nowhere (field codes)."""
        if not text:
            return
        if any(f.kind == "checkbox" or not f.in_result for f in self.fields):
            return
        for f in reversed(self.fields):
            if f.captures:
                f.buf.append(text)
                return
        out.append(text)

    def _fld_char(self, fc: etree._Element, out: list[str]) -> None:
        kind = _attr(fc, "fldCharType")
        if kind == "begin":
            opened = _field_from_ffdata(_child(fc, "ffData"))
            if opened.kind == "checkbox":
                self.box_states[opened.state_missing] += 1
            self.fields.append(opened)
        elif kind == "separate" and self.fields:
            self.fields[-1].in_result = True
        elif kind == "end" and self.fields:
            finished = self.fields.pop()
            self._emit(_field_value(finished), out)

    def _flush_open_fields(self, out: list[str]) -> None:
        """A field result that runs on past its paragraph keeps its text in this paragraph."""
        for f in self.fields:
            if f.captures and f.buf:
                out.extend(f.buf)
                f.buf.clear()
                f.flushed = True


def _run_child_text(child: etree._Element, name: str, font: str | None) -> str:
    """The text one element of a run contributes."""
    if name == "t":
        return normalize_glyphs(child.text or "", font)
    if name in ("tab", "ptab"):
        return "\t"
    if name in ("br", "cr"):
        return "\n"
    if name == "noBreakHyphen":
        return "-"
    if name == "sym":
        return _sym_text(child)
    return ""  # delText, drawings, text boxes, footnote references, soft hyphens...


def _has_text_box_text(drawing: etree._Element) -> bool:
    """True when a drawing or VML shape holds a text box with some text in it."""
    for box in drawing.iter():
        if _name(box) == "txbxContent" and any(_name(t) == "t" and (t.text or "").strip() for t in box.iter()):
            return True
    return False


def _sdt_checkbox_mark(box: etree._Element) -> str:
    return CHECKED if _on(_child(box, "w14:checked")) else UNCHECKED


def _shows_placeholder(sdt: etree._Element) -> bool:
    """True when a content control still shows its prompt rather than an answer."""
    if _on(_child(_child(sdt, "sdtPr"), "showingPlcHdr")):
        return True
    content = _child(sdt, "sdtContent")
    if content is None:
        return False
    text = "".join(t.text or "" for t in content.iter() if _name(t) == "t")
    return text.strip() in WORD_PLACEHOLDERS


def _mark_deleted(p: etree._Element) -> bool:
    """True when a tracked change deleted this paragraph's mark (it joins the next paragraph)."""
    rpr = _child(_child(p, "pPr"), "rPr")
    return _child(rpr, "del") is not None or _child(rpr, "moveFrom") is not None


def _table_rows(tbl: etree._Element) -> Iterator[etree._Element]:
    """The rows of a table, through row-level content controls; tracked-deleted rows skipped."""
    for child in tbl:
        name = _name(child)
        if name == "tr":
            if _child(_child(child, "trPr"), "del") is None:
                yield child
        elif name == "sdt":
            content = _child(child, "sdtContent")
            if content is not None:
                yield from _table_rows(content)
        elif name == "customXml":
            yield from _table_rows(child)


def _cells(tr: etree._Element | None) -> Iterator[etree._Element]:
    """The cells of a row, through cell-level content controls and custom XML."""
    if tr is None:
        return
    for child in tr:
        name = _name(child)
        if name == "tc":
            yield child
        elif name == "sdt":
            yield from _cells(_child(child, "sdtContent"))
        elif name == "customXml":
            yield from _cells(child)


def _is_vmerge_continuation(tc: etree._Element) -> bool:
    vmerge = _child(_child(tc, "tcPr"), "vMerge")
    return vmerge is not None and (_attr(vmerge, "val") or "continue") == "continue"
