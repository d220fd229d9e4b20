"""Read a PDF response into the Document IR: AcroForm or XFA fields, or the printed layout.

A fillable PDF carries its answers in named fields (AcroForm, or the XFA `datasets` packet);
those go to `Document.fields`. A printed or flattened form has only text and ruling lines; its
tables are rebuilt from the ruling lines (pdfplumber's "lines" strategy) and the rest of the text
is grouped into paragraphs, so the form reader sees the same blocks it would see from the Word
form. An image-only scan yields no text and a problem for staff.

Too many pages: the first `max_pages` pages are read and a problem says so, because staff still
want to see what can be read (a response form is a few pages; a long PDF is likely not one).
"""

from __future__ import annotations

import io
import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import pdfplumber
from lxml import etree
from pdfminer.pdfdocument import PDFPasswordIncorrect
from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text
from pdfplumber.page import Page
from pdfplumber.utils import chars_to_textmap
from pdfplumber.utils.exceptions import PdfminerException

from parsers import pdf_chars
from parsers.document import CHECKED, GLYPH_MARKS, UNCHECKED, Block, Document, Paragraph, Table
from parsers.ooxml_guard import safe_parser

pdf_chars.install()  # each character's dict made without pdfplumber's generic walk (same dicts)
log = logging.getLogger(__name__)

SCANNED_PROBLEM = "scanned document, no text"
EMPTY_PROBLEM = "PDF has no text"

_PUSHBUTTON = 1 << 16
_RADIO = 1 << 15
_MAX_FIELD_DEPTH = 32
_MAX_FIELDS = 5000

# Tick and box glyphs as printed, mapped to the Document's canonical marks. "X" is not here.
_GLYPH_MARKS = GLYPH_MARKS
# Symbol fonts print ticks with ordinary letters; these say which letters are empty boxes.
_SYMBOL_FONTS = ("zapfdingbats", "wingdings", "dingbats")
_SYMBOL_EMPTY_BOXES = frozenset("oq\u00a8")
_PAGE_NUMBER = re.compile(r"^\W*(page\s+)?\d+(\s*(of|/)\s*\d+)?\W*$", re.IGNORECASE)
# A line that starts like a question's heading starts a paragraph: joined to the line above, the
# heading would vanish into the previous answer.
_HEADING_START = re.compile(r"^(?:question|q)\s*\d{1,2}\b|^\d{1,2}[.)]?$", re.IGNORECASE)
_BULLET_START = re.compile(r"^[\u2022\u2013\u2014\u25aa\u25cf\u00b7*-]\s|^\d+[.)]\s")


class PdfReadError(ValueError):
    """The PDF cannot be read; the message says why in words staff understand."""


class PasswordProtectedError(PdfReadError):
    """The PDF needs a password to open."""


def read_pdf(
    data: bytes, *, max_pages: int = 30, fields_suffice: Callable[[dict[str, str]], bool] | None = None
) -> Document:
    """Read one PDF attachment into a Document (fields, blocks and problems).

    With `fields_suffice`, a fillable PDF whose fields it accepts is returned with its fields
    only: the page layout (most of a PDF's reading time) is not computed for a form that will
    be read from its fields anyway.
    """
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return _read_open_pdf(pdf, max_pages, fields_suffice)
    except PdfReadError:
        raise
    except PdfminerException as err:
        raise _wrap_pdfminer(err) from err
    except PDFPasswordIncorrect as err:
        raise PasswordProtectedError("the PDF is protected by a password") from err
    except Exception as err:  # pdfminer raises many kinds of errors on broken files
        raise PdfReadError(f"the PDF is damaged or not a PDF ({type(err).__name__}: {err})") from err


def _wrap_pdfminer(err: PdfminerException) -> PdfReadError:
    """Turn pdfplumber's wrapper of a pdfminer error into our error kinds."""
    cause = err.args[0] if err.args else err
    if isinstance(cause, PDFPasswordIncorrect):
        return PasswordProtectedError("the PDF is protected by a password")
    if "encrypt" in str(cause).lower():
        return PasswordProtectedError(f"the PDF is encrypted and cannot be opened ({cause})")
    return PdfReadError(f"the PDF is damaged or not a PDF ({cause})")


def _read_open_pdf(
    pdf: pdfplumber.PDF, max_pages: int, fields_suffice: Callable[[dict[str, str]], bool] | None = None
) -> Document:
    problems: list[str] = []
    pages = pdf.pages
    if len(pages) > max_pages:
        problems.append(f"PDF has {len(pages)} pages; at most {max_pages} are read")
        pages = pages[:max_pages]
    fields = form_fields(pdf.doc)
    if fields and fields_suffice is not None and fields_suffice(fields):
        return Document(fields=fields, problems=tuple(problems))
    if not any(p.chars for p in pages):
        if not fields:
            problems.append(SCANNED_PROBLEM if any(p.images for p in pages) else EMPTY_PROBLEM)
        return Document(fields=fields, problems=tuple(problems))
    problems += _scanned_pages_problem(pages)
    tables = [find_tables(page) for page in pages]
    blocks = layout_blocks(pages, tables)
    problems += edge_problems(tables)
    log.debug("PDF read: %d pages, %d fields, %d blocks", len(pages), len(fields), len(blocks))
    return Document(blocks=blocks, fields=fields, problems=tuple(problems))


def _scanned_pages_problem(pages: Sequence[Page]) -> list[str]:
    """Some pages are only images (a scan appended to typed pages): their text is not read."""
    scanned = [p.page_number for p in pages if not p.chars and p.images]
    if not scanned:
        return []
    return [f"page(s) {', '.join(map(str, scanned))} scanned, no text"]


# ---------------------------------------------------------------------------------------------
# Form fields: AcroForm and XFA


def form_fields(doc) -> dict[str, str]:
    """Named field values; AcroForm values win, XFA data fills names AcroForm lacks."""
    acroform = _resolve(doc.catalog.get("AcroForm"))
    if not isinstance(acroform, dict):
        return {}
    fields = xfa_fields(acroform.get("XFA"))
    fields.update(acroform_fields(acroform))
    return fields


def acroform_fields(acroform: dict) -> dict[str, str]:
    """Every terminal field of the AcroForm tree, by full dotted name."""
    out: dict[str, str] = {}
    roots = _resolve(acroform.get("Fields")) or []
    if not isinstance(roots, list):
        return out
    seen: set[int] = set()
    for ref in roots:
        _walk_field(ref, "", {}, out, seen, 0)
    return out


def _walk_field(ref, prefix: str, inherited: dict, out: dict[str, str], seen: set[int], depth: int) -> None:
    """Visit one field dictionary, recursing into kids that are fields (have /T)."""
    if depth > _MAX_FIELD_DEPTH or len(out) >= _MAX_FIELDS or _already_seen(ref, seen):
        return
    node = _resolve(ref)
    if not isinstance(node, dict):
        return
    name = _join_name(prefix, _text(node.get("T")))
    attrs = {**inherited, **{k: node[k] for k in ("FT", "Ff", "V", "Opt") if k in node}}
    kids = [_resolve(k) for k in _resolve(node.get("Kids")) or []]
    field_kids = [k for k in kids if isinstance(k, dict) and "T" in k]
    if field_kids:
        for kid in _resolve(node.get("Kids")):
            _walk_field(kid, name, attrs, out, seen, depth + 1)
        return
    value = _field_value(node, attrs, [k for k in kids if isinstance(k, dict)])
    if value is not None and name:
        out[name] = value


def _already_seen(ref, seen: set[int]) -> bool:
    """Guard against cyclic field trees in crafted files."""
    if not isinstance(ref, PDFObjRef):
        return False
    if ref.objid in seen:
        return True
    seen.add(ref.objid)
    return False


def _join_name(prefix: str, part: str) -> str:
    if not part:
        return prefix
    return f"{prefix}.{part}" if prefix else part


def _field_value(node: dict, attrs: dict, widgets: list[dict]) -> str | None:
    """The value of one terminal field as Document text, None for buttons and signatures."""
    kind = _name(_resolve(attrs.get("FT")))
    flags = _int(attrs.get("Ff"))
    if kind == "Tx":
        return _normalise_newlines(_text(attrs.get("V")))
    if kind == "Ch":
        return _choice_value(_resolve(attrs.get("V")))
    if kind != "Btn" or flags & _PUSHBUTTON:
        return None
    state = _button_state(node, attrs, widgets)
    if flags & _RADIO:
        return "" if state in ("", "Off") else _export_value(state, _resolve(attrs.get("Opt")))
    return UNCHECKED if state in ("", "Off") else CHECKED


def _button_state(node: dict, attrs: dict, widgets: list[dict]) -> str:
    """/V of the field, else the /AS of its widget (or the first kid widget that is on)."""
    value = _name(_resolve(attrs.get("V")))
    if value:
        return value
    for widget in [node, *widgets]:
        state = _name(_resolve(widget.get("AS")))
        if state and state != "Off":
            return state
    return "Off"


def _export_value(state: str, opt) -> str:
    """A radio kid's export value; /Opt maps index-named states to their export strings."""
    if isinstance(opt, list) and state.isdigit() and int(state) < len(opt):
        return _text(opt[int(state)])
    return state


def _choice_value(value) -> str:
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return _text(value)


def xfa_fields(xfa) -> dict[str, str]:
    """Values of the XFA `datasets` packet; check buttons (from the template) become marks."""
    packets = _xfa_packets(_resolve(xfa))
    datasets = _parse_xml(packets.get("datasets", b""))
    if datasets is None:
        return {}
    buttons = _xfa_check_buttons(_parse_xml(packets.get("template", b"")))
    out: dict[str, str] = {}
    for name, value in _xfa_leaves(datasets):
        on_off = buttons.get(name.rsplit(".", 1)[-1])
        out[name] = _xfa_button_mark(value, on_off) if on_off else _normalise_newlines(value)
    return out


def _xfa_packets(xfa) -> dict[str, bytes]:
    """The XFA packets by name: an array alternates names and streams; a lone stream is all."""
    if isinstance(xfa, PDFStream):
        return {"datasets": xfa.get_data(), "template": xfa.get_data()}
    if not isinstance(xfa, list):
        return {}
    packets: dict[str, bytes] = {}
    for key, stream in zip(xfa[::2], xfa[1::2], strict=False):
        stream = _resolve(stream)
        if isinstance(stream, PDFStream):
            packets[_text(key)] = stream.get_data()
    return packets


def _parse_xml(data: bytes):
    """Parse untrusted XML without entities or network; None when it is not XML."""
    if not data.strip():
        return None
    try:
        return etree.fromstring(data.strip(), safe_parser(recover=True))
    except etree.XMLSyntaxError:
        return None


def _xfa_leaves(root) -> Iterator[tuple[str, str]]:
    """(name, text) of each data leaf, named by its path below the data root, dot-joined."""
    data = next((el for el in root.iter() if _local(el) == "data"), root)
    tops = [el for el in data if isinstance(el.tag, str)]
    # LiveCycle wraps all data in one root subform (e.g. <form1>); names start below it.
    starts = list(tops[0]) if len(tops) == 1 and len(tops[0]) else tops
    for el in starts:
        yield from _leaves_below(el, "")


def _leaves_below(el, prefix: str) -> Iterator[tuple[str, str]]:
    if not isinstance(el.tag, str):
        return
    name = _join_name(prefix, _local(el))
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        yield name, el.text or ""
        return
    for child in children:
        yield from _leaves_below(child, name)


def _xfa_check_buttons(template) -> dict[str, tuple[str, str]]:
    """Field name -> (on value, off value) for each checkButton field of the XFA template."""
    if template is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for el in template.iter():
        if _local(el) != "field" or not any(_local(u) == "checkButton" for u in el.iter()):
            continue
        items = [i.text or "" for i in el.iter() if _local(i.getparent()) == "items" and isinstance(i.tag, str)]
        out[el.get("name", "")] = (items[0] if items else "1", items[1] if len(items) > 1 else "0")
    return out


def _xfa_button_mark(value: str, on_off: tuple[str, str]) -> str:
    value = value.strip()
    return CHECKED if value and value == on_off[0] else UNCHECKED


def _local(el) -> str:
    tag = el.tag if el is not None and isinstance(el.tag, str) else ""
    return etree.QName(tag).localname if tag else ""


# PDF object helpers --------------------------------------------------------------------------


def _resolve(obj):
    try:
        return resolve1(obj)
    except Exception:  # a dangling or broken reference reads as missing
        return None


def _text(obj) -> str:
    obj = _resolve(obj)
    if isinstance(obj, bytes):
        return decode_text(obj)
    if isinstance(obj, str):
        return obj
    if isinstance(obj, PSLiteral):
        return _name(obj)
    if isinstance(obj, PDFStream):
        return obj.get_data().decode("utf-8", errors="replace")
    return "" if obj is None else str(obj)


def _name(obj) -> str:
    if isinstance(obj, PSLiteral):
        name = obj.name
        return name.decode("latin-1") if isinstance(name, bytes) else str(name)
    if isinstance(obj, bytes | str):
        return _text(obj)
    return ""


def _int(obj) -> int:
    obj = _resolve(obj)
    return obj if isinstance(obj, int) else 0


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------
# Printed layout: tables from ruling lines, paragraphs elsewhere

_TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
_EDGE_TOLERANCE = 3.0


@dataclass(frozen=True)
class _Line:
    """One text line with its box and the width of its first word (to judge wrapping)."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    first_word_width: float
    space_width: float
    column_right: float = 0.0  # the right margin mirrored from the left: where a full line ends


@dataclass
class _Cell:
    x0: float
    x1: float
    lines: list[_Line]


@dataclass
class _TableBox:
    """A table found on a page, kept with its geometry until tables split by pages are merged."""

    top: float
    bottom: float
    x0: float
    x1: float
    rows: list[list[_Cell]]
    page_bottom_limit: float = 0.0


@dataclass(frozen=True)
class PageTables:
    """One page's ruled tables and the chars outside them.

    Finding the tables is most of the layout's work; it is done once per page of a read and
    shared by `layout_blocks` and `edge_problems`, which both need it.
    """

    boxes: list[_TableBox]
    loose_chars: list[dict]


@dataclass
class _PageLayout:
    items: list[_TableBox | list[_Line]] = field(default_factory=list)
    bottom_limit: float = 0.0


def layout_blocks(pages: Sequence[Page], tables: Sequence[PageTables]) -> tuple[Block, ...]:
    """The blocks of all pages in reading order, with running heads dropped."""
    running = _running_heads(pages)
    layouts = [_page_layout(page, page_tables, running) for page, page_tables in zip(pages, tables, strict=True)]
    items = _merge_split_tables(layouts)
    pitches = _line_pitches(items)
    return tuple(b for item in items for b in _to_blocks(item, pitches))


def edge_problems(tables: Sequence[PageTables]) -> list[str]:
    """Text that runs into the right edge of its table cell may have been cut short by the printer.

    A word that does not fit a line goes whole to the next one, so left-aligned text ends short
    of the cell's edge; text running into the cell's margin is clipped there, and a line that is one word
    ending within a letter of the edge is a word too long for the line, broken where the next
    letter no longer fit (an e-mail address too long for its box comes back as "...@example.or",
    or split in two). The reader cannot know what was lost, so a person must look.
    """
    out: list[str] = []
    for page_tables in tables:
        cells = [c for box in page_tables.boxes for row in box.rows for c in row if c.lines]
        pads = [ln.x0 - c.x0 for c in cells for ln in c.lines if ln.x0 - c.x0 >= 0.5]
        if not pads:
            continue
        pad = min(pads)  # the cell margin: left-aligned text starts there, and a full line ends there
        out += [
            f"In the PDF, the text “…{ln.text[-40:]}” reaches the edge of its box and may have been cut "
            "short: check it against the original."
            for c in cells
            for ln in c.lines
            if abs(ln.x0 - c.x0 - pad) < 1.5 and len(ln.text) > 3 and _at_edge(ln, c.x1 - pad)
        ]
    return out


_EDGE_SLACK = 0.75


def _at_edge(line: _Line, limit: float) -> bool:
    """Text running into the cell's margin (clipped there), or one word too long for the line.

    A line of several words may end exactly at the limit (a layout that fills lines to the width);
    only text past it, into the margin, was cut by the edge. A line that is one word ending within a
    letter or two of the limit is a word broken where the next letter no longer fit.
    """
    if line.x1 > limit + _EDGE_SLACK:
        return True
    one_word = " " not in line.text.strip()
    return one_word and line.x1 >= limit - 2.5 * line.space_width


def _running_heads(pages: Sequence[Page]) -> frozenset[str]:
    """Texts printed in the top or bottom band of most pages (running heads and footers)."""
    if len(pages) < 2:
        return frozenset()
    counts: dict[str, int] = {}
    for page in pages:
        band = 0.08 * page.height
        texts = {
            _digits_blank(line["text"])
            for line in page.extract_text_lines()
            if line["bottom"] < band or line["top"] > page.height - band
        }
        for text in texts:
            counts[text] = counts.get(text, 0) + 1
    return frozenset(t for t, n in counts.items() if n >= max(2, len(pages) // 2))


def _digits_blank(text: str) -> str:
    return re.sub(r"\d+", "#", text.strip())


def _is_page_furniture(line: _Line, running: frozenset[str], page_height: float) -> bool:
    """A running head or footer, or a page number in the top or bottom band of the page.

    A number alone in the body of the page is text: a letter numbers its answers "3." on a line.
    """
    band = 0.08 * page_height
    in_band = line.top < band or line.bottom > page_height - band
    return (in_band and bool(_PAGE_NUMBER.match(line.text))) or _digits_blank(line.text) in running


def _page_layout(page: Page, tables: PageTables, running: frozenset[str]) -> _PageLayout:
    """Tables and runs of loose lines of one page, ordered top to bottom."""
    boxes = tables.boxes
    loose = [ln for ln in _text_lines(tables.loose_chars) if not _is_page_furniture(ln, running, page.height)]
    left = min([ln.x0 for ln in loose] + [b.x0 for b in boxes], default=0.0)
    loose = [replace(ln, column_right=page.width - left) for ln in loose]
    items: list[_TableBox | list[_Line]] = [*boxes, *([ln] for ln in loose)]
    items.sort(key=lambda it: it.top if isinstance(it, _TableBox) else it[0].top)
    content_top = min([b.top for b in boxes] + [ln.top for ln in loose], default=0.0)
    return _PageLayout(_group_loose_lines(items), _bottom_limit(page, content_top, running))


def find_tables(page: Page) -> PageTables:
    """The page's ruled tables (one-cell boxes included) and the chars outside the areas they cover."""
    grid = _CharGrid(page.chars)
    finder = page.debug_tablefinder(_TABLE_SETTINGS)
    areas = [t.bbox for t in finder.tables]
    lone = _lone_cells(finder.cells, areas, page.width * page.height)
    boxes = [_table_box(grid, t) for t in finder.tables] + [_lone_cell_box(grid, bbox) for bbox in lone]
    return PageTables([b for b in boxes if b.rows], grid.outside(areas + lone))


def _bottom_limit(page: Page, content_top: float, running: frozenset[str]) -> float:
    """Lowest point body text may reach: the top margin mirrored, or above a footer."""
    lower_half = [c for c in page.chars if c["top"] > page.height / 2]
    footer_tops = [ln.top for ln in _text_lines(lower_half) if _is_page_furniture(ln, running, page.height)]
    return min([page.height - content_top, *footer_tops])


def _group_loose_lines(items: list) -> list[_TableBox | list[_Line]]:
    """Consecutive loose lines (not separated by a table) form one run of lines."""
    out: list[_TableBox | list[_Line]] = []
    for item in items:
        if isinstance(item, list) and out and isinstance(out[-1], list):
            out[-1].extend(item)
        else:
            out.append(item)
    return out


def _table_box(grid: _CharGrid, table) -> _TableBox:
    rows: list[list[_Cell]] = []
    for row in table.rows:
        cells = [_Cell(bbox[0], bbox[2], _text_lines(grid.inside(bbox))) for bbox in row.cells if bbox is not None]
        if cells:
            rows.append(cells)
    x0, top, x1, bottom = table.bbox
    return _TableBox(top, bottom, x0, x1, rows)


def _lone_cells(cells: list, tables: list, page_area: float) -> list[tuple[float, float, float, float]]:
    """Ruled boxes that are not part of a table (pdfplumber drops one-cell tables).

    A boxed text area, or the rest of a table row carried over to the next page, is a one-cell
    table. A frame around tables or around most of the page (a page border) is not.
    """
    out = [
        tuple(cell) for cell in cells if not any(_overlaps(cell, t) for t in tables) and _area(cell) < 0.6 * page_area
    ]
    return [c for c in out if not any(o != c and _contains(c, o) for o in out)]


def _area(bbox) -> float:
    return (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])


def _overlaps(a, b) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def _contains(outer, inner) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _lone_cell_box(grid: _CharGrid, bbox: tuple[float, float, float, float]) -> _TableBox:
    lines = _text_lines(grid.inside(bbox))
    rows = [[_Cell(bbox[0], bbox[2], lines)]] if lines else []
    return _TableBox(bbox[1], bbox[3], bbox[0], bbox[2], rows)


class _CharGrid:
    """A page's chars ordered by the height of their centres, to find the chars of a box.

    A char belongs to every box that holds its centre, borders included (a mark astride the line
    between two cells is in both). A page has hundreds of cells and thousands of chars: testing
    every char for every cell was a fifth of a printed PDF's reading time, so the chars whose
    centre is in the box's height band are found by bisection and only those are tested.
    """

    def __init__(self, chars: list[dict]) -> None:
        self._chars = chars
        centres = [((c["top"] + c["bottom"]) / 2, (c["x0"] + c["x1"]) / 2, i) for i, c in enumerate(chars)]
        # A centre height that is not a number is in no box (every comparison with NaN is false),
        # and it would leave the sort below out of order.
        self._centres = sorted((centre for centre in centres if centre[0] == centre[0]), key=lambda centre: centre[0])
        self._heights = [centre[0] for centre in self._centres]

    def indices_inside(self, bbox: tuple[float, float, float, float]) -> list[int]:
        """Page-order positions of the chars whose centre is in bbox (x0, top, x1, bottom)."""
        x0, top, x1, bottom = bbox
        band = self._centres[bisect_left(self._heights, top) : bisect_right(self._heights, bottom)]
        return sorted(i for cy, cx, i in band if x0 <= cx <= x1 and top <= cy <= bottom)

    def inside(self, bbox: tuple[float, float, float, float]) -> list[dict]:
        """The chars whose centre is in bbox, in the page's order."""
        return [self._chars[i] for i in self.indices_inside(bbox)]

    def outside(self, boxes: Sequence[tuple[float, float, float, float]]) -> list[dict]:
        """The chars whose centre is in none of the boxes, in the page's order."""
        taken = {i for bbox in boxes for i in self.indices_inside(bbox)}
        return [c for i, c in enumerate(self._chars) if i not in taken]


def _text_lines(chars: list[dict]) -> list[_Line]:
    """Text lines of these chars (in the page's order), with tick glyphs mapped."""
    if not chars:
        return []
    out = []
    for raw in chars_to_textmap(chars).extract_text_lines(strip=True, return_chars=True):
        text = _map_marks(raw["chars"], raw["text"])
        if text.strip():
            out.append(_line_from(raw, text))
    return out


def _line_from(raw: dict, text: str) -> _Line:
    chars = [c for c in raw["chars"] if c["text"].strip()]
    size = max((c.get("size", 10.0) for c in chars), default=10.0)
    first_end = chars[0]["x1"] if chars else raw["x0"]
    for prev, cur in zip(chars, chars[1:], strict=False):
        if cur["x0"] - prev["x1"] > 0.2 * size:
            break
        first_end = cur["x1"]
    return _Line(text.strip(), raw["x0"], raw["x1"], raw["top"], raw["bottom"], first_end - raw["x0"], 0.28 * size)


def _map_marks(chars: list[dict], text: str) -> str:
    """Map printed tick/box glyphs (Unicode or symbol-font letters) to CHECKED/UNCHECKED."""
    symbol_fonts = {name for name in {c.get("fontname", "") for c in chars} if _is_symbol_font(name)}
    symbol = {c["text"] for c in chars if c.get("fontname", "") in symbol_fonts}
    for code in (s for s in symbol if len(s) > 1):  # "(cid:111)" when the font has no ToUnicode
        text = text.replace(code, _symbol_mark(code))
    return "".join(_symbol_mark(ch) if ch in symbol else _GLYPH_MARKS.get(ch, ch) for ch in text)


def _is_symbol_font(fontname: str) -> bool:
    """A font that prints ticks and boxes with letters; asked once per font, not once per char."""
    return any(f in fontname.lower() for f in _SYMBOL_FONTS)


def _symbol_mark(code: str) -> str:
    """A symbol-font glyph: an empty box for the few box letters, else a tick of some kind."""
    if not code.strip():
        return code
    match = re.fullmatch(r"\(cid:(\d+)\)", code)
    letter = chr(int(match.group(1))) if match and int(match.group(1)) < 256 else code
    if len(letter) == 1 and 0xF020 <= ord(letter) <= 0xF0FF:  # symbol fonts' private-use mapping
        letter = chr(ord(letter) - 0xF000)
    return UNCHECKED if letter in _SYMBOL_EMPTY_BOXES else CHECKED


def _merge_split_tables(layouts: list[_PageLayout]) -> list[_TableBox | list[_Line]]:
    """Join a table that ends at the foot of a page with its continuation atop the next page.

    Joining changes the tables, so it works on copies: the pages' own tables are shared with
    `edge_problems`, which must see each cell as it was printed on its page.
    """
    out: list[_TableBox | list[_Line]] = []
    for layout in layouts:
        for i, item in enumerate(layout.items):
            if isinstance(item, _TableBox):
                item = _copy_table(item)
            prev = out[-1] if out else None
            first_is_table = i == 0 and isinstance(item, _TableBox)
            if first_is_table and isinstance(prev, _TableBox) and _continues(prev, item):
                _append_continuation(prev, item)
                continue
            out.append(item)
        if out and isinstance(out[-1], _TableBox):
            out[-1].page_bottom_limit = layout.bottom_limit
    return out


def _copy_table(box: _TableBox) -> _TableBox:
    """A copy whose rows, cells and cells' line lists can change without changing `box`."""
    return replace(box, rows=[[replace(cell, lines=list(cell.lines)) for cell in row] for row in box.rows])


def _continues(prev: _TableBox, nxt: _TableBox) -> bool:
    """Same column frame, the next table's first row would not have fitted below prev, and
    the next table is not a fresh copy of prev's pattern (one question block after another)."""
    same_frame = abs(prev.x0 - nxt.x0) < _EDGE_TOLERANCE and abs(prev.x1 - nxt.x1) < _EDGE_TOLERANCE
    if not same_frame or not prev.page_bottom_limit or _repeats_pattern(prev, nxt):
        return False
    first_row_height = _row_height(nxt)
    return prev.page_bottom_limit - prev.bottom < first_row_height + _EDGE_TOLERANCE


def _row_shape(row: list[_Cell]) -> tuple[int, ...]:
    return tuple(round(c.x0 / _EDGE_TOLERANCE) for c in row)


def _repeats_pattern(prev: _TableBox, nxt: _TableBox) -> bool:
    """True when nxt's rows have the same shapes as prev's first rows, in a table whose rows
    differ in shape: a new table of the same kind, not the rest of prev."""
    shapes = [_row_shape(r) for r in prev.rows]
    following = [_row_shape(r) for r in nxt.rows]
    n = min(len(shapes), len(following))
    return len(set(shapes)) > 1 and n >= 2 and following[:n] == shapes[:n]


def _row_height(table: _TableBox) -> float:
    lines = [ln for cell in table.rows[0] for ln in cell.lines]
    if not lines:
        return table.bottom - table.top
    return max(ln.bottom for ln in lines) - table.top + 2 * _EDGE_TOLERANCE


def _append_continuation(prev: _TableBox, nxt: _TableBox) -> None:
    """Add nxt's rows to prev; a row split by the page break (same cell edges) is re-joined."""
    last, first = prev.rows[-1], nxt.rows[0]
    split_row = len(last) == len(first) and all(
        abs(a.x0 - b.x0) < _EDGE_TOLERANCE and abs(a.x1 - b.x1) < _EDGE_TOLERANCE
        for a, b in zip(last, first, strict=True)
    )
    rows = nxt.rows
    if split_row and prev.page_bottom_limit - prev.bottom < 2 * _line_height(last):
        for a, b in zip(last, first, strict=True):
            a.lines.extend(_shift_below(b.lines, a.lines))
        rows = rows[1:]
    prev.rows.extend(rows)
    prev.bottom = nxt.bottom


def _line_height(cells: list[_Cell]) -> float:
    heights = [ln.bottom - ln.top for c in cells for ln in c.lines]
    return max(heights, default=12.0) * 1.2


def _shift_below(lines: list[_Line], above: list[_Line]) -> list[_Line]:
    """Place continuation lines one line pitch below `above`, so spacing reads as no break."""
    if not lines or not above:
        return lines
    pitch = _typical_pitch(above) or (above[-1].bottom - above[-1].top) * 1.15
    offset = above[-1].top + pitch - lines[0].top
    return [
        _Line(ln.text, ln.x0, ln.x1, ln.top + offset, ln.bottom + offset, ln.first_word_width, ln.space_width)
        for ln in lines
    ]


# Lines to text -------------------------------------------------------------------------------


def _line_runs(items: list[_TableBox | list[_Line]]) -> Iterator[list[_Line]]:
    for item in items:
        if isinstance(item, _TableBox):
            yield from (cell.lines for row in item.rows for cell in row)
        else:
            yield item


def _line_pitches(items: list[_TableBox | list[_Line]]) -> dict[int, float]:
    """The document's line spacing per text height: its most common line-to-line distance.

    Paragraph spacing shows as a larger distance; a cell whose every line is its own paragraph
    has no ordinary spacing of its own to compare with, so the document's is used.
    """
    gaps: dict[int, list[float]] = {}
    for run in _line_runs(items):
        ordered = sorted(run, key=lambda ln: ln.top)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.top > a.bottom - 1:
                gaps.setdefault(_height_key(a), []).append(round(b.top - a.top, 1))
    return {k: _mode(v) for k, v in gaps.items()}


def _height_key(line: _Line) -> int:
    return round(line.bottom - line.top)


def _mode(values: list[float]) -> float:
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return min(counts, key=lambda v: (-counts[v], v))


def _to_blocks(item: _TableBox | list[_Line], pitches: dict[int, float]) -> list[Block]:
    if isinstance(item, _TableBox):
        rows = tuple(tuple(_cell_text(c, pitches) for c in row) for row in item.rows)
        return [Table(rows)]
    return [Paragraph(text) for text in _paragraphs(item, _frame(item), pitches).split("\n")]


def _frame(lines: list[_Line]) -> tuple[float, float]:
    """Left edge and right limit of a run of loose lines (the page's text column).

    The right limit is the left margin mirrored, unless a line reaches further: a run of short
    lines (a letter's answers, a page holding its last few lines) has no line of its own that
    shows where a full line ends, and taking its longest line for one would join every short
    line to the next.
    """
    return min(ln.x0 for ln in lines), max(max(ln.x1 for ln in lines), max(ln.column_right for ln in lines))


def _cell_text(cell: _Cell, pitches: dict[int, float]) -> str:
    if not cell.lines:
        return ""
    padding = max(min(ln.x0 for ln in cell.lines) - cell.x0, 0.0)
    return _paragraphs(cell.lines, (cell.x0 + padding, cell.x1 - padding), pitches)


def _paragraphs(lines: list[_Line], frame: tuple[float, float], pitches: dict[int, float]) -> str:
    """Re-join wrapped lines with a space; keep real paragraph breaks as "\\n"."""
    lines = sorted(lines, key=lambda ln: (round(ln.top), ln.x0))
    local = _typical_pitch(lines)
    parts = [lines[0].text]
    for prev, cur in zip(lines, lines[1:], strict=False):
        pitch = min(local or 1e9, pitches.get(_height_key(prev), 1e9))
        sep = _joiner(prev.text) if _wraps(prev, cur, frame[1], pitch if pitch < 1e9 else 0.0) else "\n"
        parts.append(sep + cur.text)
    return "".join(parts)


def _typical_pitch(lines: list[_Line]) -> float:
    """The most common distance between successive line tops (the line spacing)."""
    gaps = sorted(round(b.top - a.top, 1) for a, b in zip(lines, lines[1:], strict=False) if b.top > a.top)
    return gaps[len(gaps) // 4] if gaps else 0.0


def _wraps(prev: _Line, cur: _Line, right: float, pitch: float) -> bool:
    """True when `cur` continues `prev`'s paragraph: its first word would not fit on prev."""
    if cur.top - prev.top > pitch * 1.2 + 0.5 and pitch:
        return False
    if _BULLET_START.match(cur.text) or _HEADING_START.match(cur.text):
        return False
    slack = 0.5 * prev.space_width
    return prev.x1 + prev.space_width + cur.first_word_width > right - slack


def _joiner(prev: str) -> str:
    """A line that ends in a hyphen inside a word ("northshire-") goes on without a space."""
    return "" if re.search(r"[^\W_][-\u2010\u2011\u2013]$", prev) else " "
