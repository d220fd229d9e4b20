"""Build Word (.docx) responses for tests: the department's form filled in every way people do.

`build_docx(form, filled, variant)` starts from the blank form that `parsers.blankform_docx`
writes (cached per form) and fills its cells with the values of a `Reading`, marking boxes the way
the variant says (see VARIANTS). `sample_reading(form, seed)` makes a realistic filled Reading,
the same for the same seed. Output bytes are deterministic (fixed zip timestamps, no randomness
outside the seed), so a response built twice is byte-identical, as a real re-sent file would be.

Addresses: a comma-separated address is typed on one line when its length is even and one part
per line (paragraphs) when it is odd, so both layouts appear across samples; a form reader
should join the lines with ", " to get the Reading's address back.
"""

from __future__ import annotations

import random
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from functools import lru_cache
from io import BytesIO
from types import MappingProxyType

from docx import Document as new_document
from lxml import etree

from parsers.blankform_docx import write_blank_docx
from parsers.document import CHECKED, UNCHECKED
from parsers.formdef import FormDefinition
from parsers.model import Answer, Reading, Respondent

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
NS = {"w": W, "w14": W14}
ZIP_TIME = (2008, 4, 1, 10, 0, 0)
REVISION_DATE = "2008-04-01T10:00:00Z"
EN_SPACES = "\u2002" * 5
PLACEHOLDER = "Click here to enter text."
DRAFT_DELETED = "Draft – to be agreed by the Board. "
UNANSWERED_DELETED = "To follow."

VARIANTS = (
    "x_cell",  # an X typed in the box cell, other box cells empty
    "x_cell_glyphs",  # an X typed in place of the ☐, other boxes keep ☐
    "glyph",  # ☐ replaced by ☒
    "tick_glyph",  # ☐ replaced by ✓ or ✔
    "wingdings",  # a Wingdings tick or ticked box inserted as a symbol (w:sym)
    "bracket",  # "[x]" / "[ ]"
    "x_beside_label",  # an X typed after the label, box cells left empty
    "legacy",  # legacy FORMCHECKBOX / FORMTEXT fields
    "sdt",  # content controls: w14:checkbox and text controls with placeholders
    "tracked",  # answers typed with Track Changes on, with some deleted drafts
    "retyped",  # no tables: the questions and answers retyped as paragraphs
)


# --- XML helpers ---------------------------------------------------------------------------------


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _e(name: str, attrs: dict[str, str] | None = None, *children: etree._Element) -> etree._Element:
    el = etree.Element(_q(name), {_q(k): v for k, v in (attrs or {}).items()})
    el.extend(children)
    return el


def _t(text: str, name: str = "w:t") -> etree._Element:
    el = _e(name)
    el.text = text
    el.set(XML_SPACE, "preserve")
    return el


def _r(text: str, *, rpr: etree._Element | None = None, deleted: bool = False) -> etree._Element:
    run = _e("w:r")
    if rpr is not None:
        run.append(rpr)
    run.append(_t(text, "w:delText" if deleted else "w:t"))
    return run


def _p(*inline: etree._Element, ppr: etree._Element | None = None) -> etree._Element:
    p = _e("w:p")
    if ppr is not None:
        p.append(_copy(ppr))
    p.extend(inline)
    return p


def _copy(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if c.tag == _q(name)]


def _first_ppr(tc: etree._Element) -> etree._Element | None:
    for p in _children(tc, "w:p"):
        ppr = p.find(_q("w:pPr"))
        if ppr is not None:
            return ppr
    return None


def _set_content(tc: etree._Element, blocks: Iterable[etree._Element]) -> None:
    """Replace a cell's paragraphs with `blocks`, keeping its properties."""
    for child in list(tc):
        if child.tag != _q("w:tcPr"):
            tc.remove(child)
    tc.extend(blocks)
    if len(tc) == 0 or tc[-1].tag not in (_q("w:p"), _q("w:sdt")):
        tc.append(_e("w:p"))


def _lines(text: str | None) -> list[str]:
    return text.split("\n") if text else []


class _Counter:
    """A running number for ids and for alternating between equivalent ways of marking."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


# --- fillers: one per way of marking boxes and typing text --------------------------------------


class _Filler:
    """Types text as plain paragraphs; subclasses say how a box is marked."""

    def __init__(self) -> None:
        self.counter = _Counter()

    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        mark = self.mark(checked)
        if mark is not None:
            _set_content(box_tc, [_p(_r(mark), ppr=_first_ppr(box_tc))])

    def mark(self, checked: bool) -> str | None:
        """The text typed in the box cell; None leaves the cell as it is."""
        return CHECKED if checked else None

    def text(self, tc: etree._Element, value: str | None, label: str) -> None:
        lines = _lines(value)
        if lines:
            _set_content(tc, [_p(_r(line)) for line in lines])


class _XCell(_Filler):
    def mark(self, checked: bool) -> str | None:
        return "X" if checked else ""


class _XCellGlyphs(_Filler):
    def mark(self, checked: bool) -> str | None:
        return "X" if checked else None


class _TickGlyph(_Filler):
    def mark(self, checked: bool) -> str | None:
        return ("\u2713", "\u2714")[self.counter.next() % 2] if checked else None


class _Bracket(_Filler):
    def mark(self, checked: bool) -> str | None:
        return ("[x]", "[X]")[self.counter.next() % 2] if checked else "[ ]"


class _Wingdings(_Filler):
    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        if checked:
            char = ("F0FE", "F0FC")[self.counter.next() % 2]
            sym = _e("w:r", None, _e("w:sym", {"w:font": "Wingdings", "w:char": char}))
            _set_content(box_tc, [_p(sym, ppr=_first_ppr(box_tc))])


class _XBesideLabel(_Filler):
    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        _set_content(box_tc, [_p(ppr=_first_ppr(box_tc))])
        if checked:
            _children(label_tc, "w:p")[-1].append(_r("  X"))


class _Legacy(_Filler):
    """Word 97-2003 form fields, as on forms protected for filling in."""

    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        n = self.counter.next()
        ffdata = _e(
            "w:ffData",
            None,
            _e("w:name", {"w:val": f"Check{n}"}),
            _e("w:enabled"),
            _e("w:calcOnExit", {"w:val": "0"}),
            _e("w:checkBox", None, _e("w:sizeAuto"), *_checkbox_state(checked, n)),
        )
        runs = [
            _e("w:r", None, _e("w:fldChar", {"w:fldCharType": "begin"}, ffdata)),
            _r_instr(" FORMCHECKBOX "),
            _e("w:r", None, _e("w:fldChar", {"w:fldCharType": "end"})),
        ]
        _set_content(box_tc, [_p(*runs, ppr=_first_ppr(box_tc))])

    def text(self, tc: etree._Element, value: str | None, label: str) -> None:
        n = self.counter.next()
        ffdata = _e(
            "w:ffData",
            None,
            _e("w:name", {"w:val": f"Text{n}"}),
            _e("w:enabled"),
            _e("w:calcOnExit", {"w:val": "0"}),
            _e("w:textInput"),
        )
        result: list[etree._Element] = []
        for i, line in enumerate(_lines(value) or [EN_SPACES]):
            if i:
                result.append(_e("w:r", None, _e("w:br")))
            result.append(_r(line))
        runs = [
            _e("w:r", None, _e("w:fldChar", {"w:fldCharType": "begin"}, ffdata)),
            _r_instr(" FORMTEXT "),
            _e("w:r", None, _e("w:fldChar", {"w:fldCharType": "separate"})),
            *result,
            _e("w:r", None, _e("w:fldChar", {"w:fldCharType": "end"})),
        ]
        _set_content(tc, [_p(*runs)])


def _r_instr(code: str) -> etree._Element:
    return _e("w:r", None, _t(code, "w:instrText"))


def _checkbox_state(checked: bool, n: int) -> list[etree._Element]:
    """Every way Word records a check box's state: default alone, or checked overriding it."""
    if checked:
        ways = (
            [_e("w:default", {"w:val": "1"})],
            [_e("w:default", {"w:val": "0"}), _e("w:checked")],
            [_e("w:default", {"w:val": "0"}), _e("w:checked", {"w:val": "1"})],
        )
        return ways[n % 3]
    ways = ([_e("w:default", {"w:val": "0"})], [_e("w:default", {"w:val": "1"}), _e("w:checked", {"w:val": "0"})])
    return ways[n % 2]


class _Sdt(_Filler):
    """Content controls (Word 2010): check boxes and plain or rich text controls."""

    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        fonts = {"w:ascii": "MS Gothic", "w:hAnsi": "MS Gothic", "w:eastAsia": "MS Gothic"}
        pr = _e(
            "w:sdtPr",
            None,
            _e("w:rPr", None, _e("w:rFonts", fonts)),
            _e("w:id", {"w:val": str(1000 + self.counter.next())}),
            _e(
                "w14:checkbox",
                None,
                _e("w14:checked", {"w14:val": "1" if checked else "0"}),
                _e("w14:checkedState", {"w14:val": "2612", "w14:font": "MS Gothic"}),
                _e("w14:uncheckedState", {"w14:val": "2610", "w14:font": "MS Gothic"}),
            ),
        )
        glyph = _r(CHECKED if checked else UNCHECKED, rpr=_e("w:rPr", None, _e("w:rFonts", fonts)))
        sdt = _e("w:sdt", None, pr, _e("w:sdtContent", None, glyph))
        _set_content(box_tc, [_p(sdt, ppr=_first_ppr(box_tc))])

    def text(self, tc: etree._Element, value: str | None, label: str) -> None:
        lines = _lines(value)
        props = [_e("w:alias", {"w:val": label}), _e("w:id", {"w:val": str(1000 + self.counter.next())})]
        if not lines:
            props.append(_e("w:showingPlcHdr"))
            grey = _e("w:rPr", None, _e("w:color", {"w:val": "808080"}))
            paragraphs = [_p(_r(PLACEHOLDER, rpr=grey))]
        else:
            paragraphs = [_p(_r(line)) for line in lines]
        if len(lines) <= 1:
            props.append(_e("w:text", {"w:multiLine": "1"}))  # a plain text control
        sdt = _e("w:sdt", None, _e("w:sdtPr", None, *props), _e("w:sdtContent", None, *paragraphs))
        _set_content(tc, [sdt])


class _Tracked(_Filler):
    """Answers typed with Track Changes on; deleted drafts and changed minds must not count."""

    def _rev(self, name: str, *children: etree._Element) -> etree._Element:
        attrs = {"w:id": str(self.counter.next()), "w:author": "Respondent", "w:date": REVISION_DATE}
        return _e(name, attrs, *children)

    def box(self, box_tc: etree._Element, label_tc: etree._Element, checked: bool) -> None:
        ppr = _first_ppr(box_tc)
        if checked:
            inline = [self._rev("w:del", _r(UNCHECKED, deleted=True)), self._rev("w:ins", _r("X"))]
        elif self.counter.n % 2:
            inline = [self._rev("w:del", _r("X", deleted=True)), _r(UNCHECKED)]
        else:
            return
        _set_content(box_tc, [_p(*inline, ppr=ppr)])

    def text(self, tc: etree._Element, value: str | None, label: str) -> None:
        lines = _lines(value)
        if not lines:
            _set_content(tc, [_p(self._rev("w:del", _r(UNANSWERED_DELETED, deleted=True)))])
            return
        paragraphs = [_p(self._rev("w:ins", _r(line))) for line in lines]
        paragraphs[0].insert(0, self._rev("w:del", _r(DRAFT_DELETED, deleted=True)))
        for p in paragraphs[:-1]:
            p.insert(0, _e("w:pPr", None, _e("w:rPr", None, self._rev("w:ins"))))
        _set_content(tc, paragraphs)


_FILLERS: dict[str, Callable[[], _Filler]] = {
    "x_cell": _XCell,
    "x_cell_glyphs": _XCellGlyphs,
    "glyph": _Filler,
    "tick_glyph": _TickGlyph,
    "wingdings": _Wingdings,
    "bracket": _Bracket,
    "x_beside_label": _XBesideLabel,
    "legacy": _Legacy,
    "sdt": _Sdt,
    "tracked": _Tracked,
}


# --- filling the form ----------------------------------------------------------------------------


def build_docx(form: FormDefinition, filled: Reading, variant: str) -> bytes:
    """The department's form for `form` filled in with `filled`, marked the `variant` way."""
    parts = dict(_blank_parts(form))
    root = etree.fromstring(parts["word/document.xml"])
    body = root.find(_q("w:body"))
    if variant == "retyped":
        _replace_body(body, [_p(_r(line)) for line in retyped_lines(form, filled)])
    elif variant in _FILLERS:
        _fill_tables(form, filled, _FILLERS[variant](), _children(body, "w:tbl"))
    else:
        raise ValueError(f"unknown docx variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    parts["word/document.xml"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return _zip(parts)


def _rows(tbl: etree._Element) -> list[list[etree._Element]]:
    return [_children(tr, "w:tc") for tr in _children(tbl, "w:tr")]


def _fill_tables(form: FormDefinition, filled: Reading, filler: _Filler, tables: list[etree._Element]) -> None:
    """Fill the tables in the order the blank form writes them."""
    n = len(form.questions)
    conf, reason, about, grid = tables[0], tables[1], tables[2], tables[3]
    ack, ack_email, contact = tables[4 + n], tables[5 + n], tables[6 + n]
    _fill_label_box(filler, conf, filled.confidential)
    filler.text(_rows(reason)[0][1], filled.confidential_reason, form.confidential_reason_label)
    _fill_about(form, filled, filler, about)
    _fill_grid(form, filled, filler, grid)
    for question, tbl in zip(form.questions, tables[4 : 4 + n], strict=True):
        answer = filled.answers.get(question.id, Answer())
        rows = _rows(tbl)
        if question.scale:
            _fill_choice_row(filler, rows[1], [c.id == answer.choice for c in form.scale])
        filler.text(rows[-1][0], answer.comment, f"Comments {question.number}")
    _fill_label_box(filler, ack, filled.acknowledge)
    filler.text(_rows(ack_email)[0][1], filled.acknowledge_email, form.acknowledge_email_label)
    choices = [c.id == filled.contact_again for c in form.contact_again_choices]
    _fill_choice_row(filler, _rows(contact)[0], choices)


def _fill_label_box(filler: _Filler, tbl: etree._Element, checked: bool) -> None:
    label, box = _rows(tbl)[0]
    filler.box(box, label, checked)


def _fill_choice_row(filler: _Filler, cells: list[etree._Element], marked: list[bool]) -> None:
    """A row of "label | box" pairs."""
    for i, checked in enumerate(marked):
        filler.box(cells[2 * i + 1], cells[2 * i], checked)


def _fill_about(form: FormDefinition, filled: Reading, filler: _Filler, tbl: etree._Element) -> None:
    for row, field in zip(_rows(tbl), form.respondent_fields, strict=True):
        value = getattr(filled.respondent, field.id, None)
        if field.id == "address" and value and len(value) % 2:
            value = value.replace(", ", "\n")
        filler.text(row[1], value, field.label)


def _fill_grid(form: FormDefinition, filled: Reading, filler: _Filler, tbl: etree._Element) -> None:
    """The category grid: two "box | label" pairs per row, then the "Please specify" row."""
    rows = _rows(tbl)
    for i, choice in enumerate(form.categories):
        cells = rows[i // 2]
        col = 2 * (i % 2)
        filler.box(cells[col], cells[col + 1], choice.id == filled.respondent.category)
    if any(c.specify for c in form.categories):
        filler.text(rows[-1][1], filled.respondent.category_other, "Please specify")


def retyped_lines(form: FormDefinition, filled: Reading) -> list[str]:
    """The response retyped as a letter would hold it: "Label: value" lines, one per paragraph."""
    r = filled.respondent
    lines = [form.title, ""]
    lines += [f"{f.label}: {getattr(r, f.id, None) or ''}".rstrip() for f in form.respondent_fields]
    category = next((c.label for c in form.categories if c.id == r.category), "")
    lines.append(f"Category: {category}".rstrip())
    if r.category_other:
        lines.append(f"Please specify: {r.category_other}")
    lines.append(f"Confidential: {'Yes' if filled.confidential else 'No'}")
    if filled.confidential_reason:
        lines.append(f"{form.confidential_reason_label}: {filled.confidential_reason}")
    for q in form.questions:
        lines += ["", f"Question {q.number}", q.text]
        answer = filled.answers.get(q.id, Answer())
        label = next((c.label for c in form.scale if c.id == answer.choice), None)
        if label:
            lines.append(f"Answer: {label}")
        comment = _lines(answer.comment)
        if comment:
            lines += [f"Comments: {comment[0]}", *comment[1:]]
    lines += ["", f"{form.acknowledge_label.rstrip('.')}: {'Yes' if filled.acknowledge else 'No'}"]
    if filled.acknowledge_email:
        lines.append(f"{form.acknowledge_email_label}: {filled.acknowledge_email}")
    again = next((c.label for c in form.contact_again_choices if c.id == filled.contact_again), None)
    if again:
        lines.append(f"Contact again: {again}")
    return lines


# --- packages ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _blank_parts(form: FormDefinition) -> tuple[tuple[str, bytes], ...]:
    return _unzip(write_blank_docx(form))


@lru_cache(maxsize=1)
def _plain_parts() -> tuple[tuple[str, bytes], ...]:
    out = BytesIO()
    new_document().save(out)
    return _unzip(out.getvalue())


def _unzip(data: bytes) -> tuple[tuple[str, bytes], ...]:
    with zipfile.ZipFile(BytesIO(data)) as zf:
        return tuple((name, zf.read(name)) for name in zf.namelist())


def _zip(parts: dict[str, bytes]) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in parts.items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _replace_body(body: etree._Element, blocks: list[etree._Element]) -> None:
    """Keep only the section properties, then put `blocks` before them."""
    for child in list(body):
        if child.tag != _q("w:sectPr"):
            body.remove(child)
    for i, block in enumerate(blocks):
        body.insert(i, block)


def build_letter_docx(text: str) -> bytes:
    """A free-form letter (no form): one paragraph per line of `text`."""
    parts = dict(_plain_parts())
    root = etree.fromstring(parts["word/document.xml"])
    _replace_body(root.find(_q("w:body")), [_p(_r(line)) if line else _p() for line in text.split("\n")])
    parts["word/document.xml"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return _zip(parts)


@lru_cache(maxsize=1)
def build_zip_bomb_docx(inflated_mb: int = 110) -> bytes:
    """A real .docx plus one part of zeros: about 110 KB that inflates past 100 MB."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _plain_parts():
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("word/media/image1.png", ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1 << 20)
        with zf.open(info, "w") as f:
            for _ in range(inflated_mb):
                f.write(chunk)
    return out.getvalue()


# --- sample readings ----------------------------------------------------------------------------

TITLES = ("", "", "Mr ", "Mrs ", "Ms ", "Miss ", "Dr ", "Cllr ")
FIRST_NAMES = (
    "Aoife", "Peter", "Grace", "Simon", "Alison", "Gary", "Siobhán", "Zoë", "Chloé", "Rhys", "Priya",
    "Mohammed", "Oluwaseun", "Bronwen", "Seán", "Katarzyna", "James", "Fatima", "Declan", "Eleri",
)  # fmt: skip
SURNAMES = (
    "Brontë", "Mac Cárthaigh", "Murphy", "Chowdhury", "Bevan", "O’Neill", "O'Brien", "Smith-Jones",
    "Ní Bhriain", "Patel", "Nowak", "Okafor", "Williams", "Davies", "Hughes", "Ahmed", "Evans",
    "Clarke", "Jenkins", "Øvergaard",
)  # fmt: skip
ORGANISATIONS = (
    "London Borough of Eastwick", "Thornbury Heath County Council, Children, Schools and Families Directorate",
    "The Children’s Society", "Home-Start Dunmere", "Cwmderwen Federation of Schools",
    "Greysmouth Primary Care Trust", "Harrowfield Youth Offending Team", "St Mary’s C of E Primary School",
    "National Association of Head Teachers (Longdale branch)", "Brackley Vale Parents’ Forum",
)  # fmt: skip
STREETS = ("Mill Lane", "Castle Street", "Chapel Street", "Park Avenue", "Orchard Close", "Bridge Street")
TOWNS = ("Harrowfield", "Thornbury Heath", "Greysmouth", "Eastwick", "Cwmderwen", "Longdale", "Brackley Vale")
BUILDINGS = ("Town Hall", "Civic Centre", "The Old Vicarage", "Suite 2, Carlton Chambers", "Flat 3")
OTHER_CATEGORIES = ("Governor of a primary school", "Retired social worker", "Foster carer; also a parish councillor")
REASONS = (
    "Our Board has not yet formally approved this response.",
    "I work for a partner agency and am responding in a personal capacity.",
    "The response mentions individual cases – please do not publish it.",
)
SENTENCES = (
    "We welcome the clearer leadership role for the Children’s Trust Board.",
    "The section is clear in itself but we are uncertain how it will be read alongside the forthcoming "
    "guidance on the Local Area Agreement.",
    "Having every statutory partner at the table makes it much harder for any one agency to opt out "
    "of difficult decisions.",
    "We are not sure what “empowering” means in practice for very young children.",
    "Head teachers in our cluster told us they had not been consulted on the draft – and did not "
    "recognise the role described for them.",
    "It is unclear how extended services and the Healthy Schools programme are expected to link to "
    "the Trust’s priorities.",
    "Prevention is described as a priority — but the guidance offers no mechanism for moving resources "
    "from acute services into early intervention.",
    "Our youth council was pleased to see participation treated as part of the Trust’s ‘core business’.",
    "In rural areas disadvantage is scattered, and the area-based approach will miss many children.",
    "The model section 75 agreement in the annex will save partners a great deal of time.",
    "We would welcome examples of Trusts where young people sit on the Board itself.",
    "The timetable for implementation is tight (many Boards will need to revise their constitutions).",
    "Disabled children and their families are barely mentioned, despite “Aiming High for Disabled Children”.",
    "It is hard to judge without the accompanying resource guide, which has not yet been published.",
    "We agree: joint commissioning is where the real gains are; pooled budgets are the hard part.",
    "Parents told us 10–15 minutes was all they could give to a survey — so keep it short.",
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum() or c == ".")


def _person(rng: random.Random) -> tuple[str, str]:
    """A display name and an e-mail address made from it."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    domain = rng.choice(("example.org", "mail.example.com", "council.example.gov.uk"))
    return f"{rng.choice(TITLES)}{first} {last}", f"{_ascii(first)}.{_ascii(last)}@{domain}"


def _address(rng: random.Random) -> str:
    area = f"{rng.choice('BCEGHLT')}{rng.choice('DFHLVW')}{rng.randint(1, 19)}"
    postcode = f"{area} {rng.randint(1, 9)}{rng.choice('ABDHJLPQ')}{rng.choice('HJLSWZ')}"
    street = f"{rng.randint(1, 160)} {rng.choice(STREETS)}"
    parts = [street, rng.choice(TOWNS), postcode]
    if rng.random() < 0.4:
        parts.insert(0, rng.choice(BUILDINGS))
    return ", ".join(parts)


def _comment(rng: random.Random, chance: float) -> str:
    if rng.random() >= chance:
        return ""
    paragraphs = [" ".join(rng.sample(SENTENCES, rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
    return "\n".join(paragraphs)


def _answers(form: FormDefinition, rng: random.Random) -> dict[str, Answer]:
    answers = {}
    for q in form.questions:
        choice = rng.choice(form.scale).id if q.scale and rng.random() < 0.85 else None
        answers[q.id] = Answer(choice=choice, comment=_comment(rng, 0.6 if q.scale else 0.75))
    return answers


def sample_reading(form: FormDefinition, seed: int) -> Reading:
    """A realistic filled-in response, the same for the same seed."""
    rng = random.Random(seed)
    name, email = _person(rng)
    category = rng.choice(form.categories)
    confidential = rng.random() < 0.2
    acknowledge = rng.random() < 0.6
    respondent = Respondent(
        name=name,
        organisation=rng.choice(ORGANISATIONS) if rng.random() < 0.6 else None,
        address=_address(rng) if rng.random() < 0.8 else None,
        email=email,
        category=category.id,
        category_other=rng.choice(OTHER_CATEGORIES) if category.specify else None,
    )
    contact = rng.choice([*form.contact_again_choices, None])
    return Reading(
        source_kind="docx",
        filename="Response form.docx",
        respondent=respondent,
        confidential=confidential,
        confidential_reason=rng.choice(REASONS) if confidential and rng.random() < 0.8 else None,
        acknowledge=acknowledge,
        acknowledge_email=email if acknowledge and rng.random() < 0.5 else None,
        contact_again=contact.id if contact else None,
        answers=MappingProxyType(_answers(form, rng)),
    )


# --- minimal packages for unit tests -------------------------------------------------------------

MINIMAL_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
MINIMAL_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="word/document.xml" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    b"</Relationships>"
)


def document_xml(body_xml: str, *, prolog: str = "") -> bytes:
    """A document part whose body is `body_xml`, with the w: and w14: prefixes declared."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'{prolog}<w:document xmlns:w="{W}" xmlns:w14="{W14}"><w:body>{body_xml}</w:body></w:document>'
    ).encode()


def docx_from_body(body_xml: str, *, prolog: str = "") -> bytes:
    """A minimal .docx around hand-written body XML, for unit tests of single reading rules."""
    parts = {
        "[Content_Types].xml": MINIMAL_CONTENT_TYPES,
        "_rels/.rels": MINIMAL_RELS,
        "word/document.xml": document_xml(body_xml, prolog=prolog),
    }
    return _zip(parts)
