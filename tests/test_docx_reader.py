"""read_docx turns every way of filling in the Word form into the same Document IR.

Two tiers: the department's form filled in each way people do (built by builders.docx_forms),
checked cell by cell; and one hand-written XML snippet per reading rule.
"""

from __future__ import annotations

import dataclasses
import zipfile
from io import BytesIO
from types import MappingProxyType

import pytest
from builders.docx_forms import (
    DRAFT_DELETED,
    UNANSWERED_DELETED,
    VARIANTS,
    build_docx,
    build_letter_docx,
    docx_from_body,
    sample_reading,
)

from parsers.blankform_docx import write_blank_docx
from parsers.document import CHECKED, UNCHECKED, Document, Paragraph, Table
from parsers.docx_reader import DocumentReadError, UnsafeDocumentError, read_docx
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.model import Answer, Reading, Respondent

FORM = load_form(DEFAULT_FORM_PATH)
TABLE_VARIANTS = tuple(v for v in VARIANTS if v != "retyped")
# (what a marked box cell reads as, what an unmarked one reads as)
BOX_TEXT = {
    "x_cell": ("X", ""),
    "x_cell_glyphs": ("X", UNCHECKED),
    "glyph": (CHECKED, UNCHECKED),
    "tick_glyph": (CHECKED, UNCHECKED),
    "wingdings": (CHECKED, UNCHECKED),
    "bracket": (CHECKED, UNCHECKED),
    "x_beside_label": ("", ""),
    "legacy": (CHECKED, UNCHECKED),
    "sdt": (CHECKED, UNCHECKED),
    "tracked": ("X", UNCHECKED),
}


def _filled() -> Reading:
    """A response that touches every part of the form: other category, reason, blanks, q8."""
    base = sample_reading(FORM, 7)
    answers = dict(base.answers)
    answers["q3"] = Answer("disagree", "First paragraph – with a dash.\n“Quoted” second paragraph.")
    answers["q4"] = Answer(None, "")
    answers["q5"] = Answer("agree", "")
    answers["q8"] = Answer(None, "Only a comment here.")
    respondent = Respondent(
        name="Siobhán O’Neill",
        organisation="Home-Start Dunmere",
        address="Flat 3, 12 Mill Lane, Harrowfield, HF19 3HH",
        email="siobhan.oneill@example.org",
        category="other",
        category_other="Governor of a primary school",
    )
    return dataclasses.replace(
        base,
        respondent=respondent,
        confidential=True,
        confidential_reason="Our Board has not yet approved this response.",
        acknowledge=True,
        acknowledge_email="office@example.org",
        contact_again="yes",
        answers=MappingProxyType(answers),
    )


FILLED = _filled()


def _tables(doc: Document) -> list[Table]:
    return [b for b in doc.blocks if isinstance(b, Table)]


def _question_table(doc: Document, qid: str) -> Table:
    index = FORM.question_ids.index(qid)
    return _tables(doc)[4 + index]


@pytest.fixture(scope="module", params=TABLE_VARIANTS)
def variant_doc(request: pytest.FixtureRequest) -> tuple[str, Document]:
    return request.param, read_docx(build_docx(FORM, FILLED, request.param))


# --- the form filled in each way --------------------------------------------------------------


def test_scale_row_shows_the_marked_choice(variant_doc: tuple[str, Document]) -> None:
    variant, doc = variant_doc
    on, off = BOX_TEXT[variant]
    disagree = "Disagree  X" if variant == "x_beside_label" else "Disagree"
    assert _question_table(doc, "q3").rows[1] == ("Agree", off, disagree, on, "Not sure", off)


def test_unanswered_scale_row_has_no_mark(variant_doc: tuple[str, Document]) -> None:
    variant, doc = variant_doc
    off = BOX_TEXT[variant][1]
    assert _question_table(doc, "q4").rows[1] == ("Agree", off, "Disagree", off, "Not sure", off)


def test_comment_cells_hold_the_comments_with_paragraph_breaks(variant_doc: tuple[str, Document]) -> None:
    _, doc = variant_doc
    for qid in FORM.question_ids:
        assert _question_table(doc, qid).rows[-1] == (FILLED.answers[qid].comment,), qid


def test_comment_only_question_has_no_scale_row(variant_doc: tuple[str, Document]) -> None:
    _, doc = variant_doc
    q8 = _question_table(doc, "q8")
    assert [len(row) for row in q8.rows] == [1, 1, 1]
    assert q8.rows[1] == ("Comments:",)


def test_about_you_cells(variant_doc: tuple[str, Document]) -> None:
    _, doc = variant_doc
    r = FILLED.respondent
    rows = _tables(doc)[2].rows
    assert rows[0] == ("Name", r.name)
    assert rows[1] == ("Organisation (if applicable)", r.organisation)
    assert rows[2][1] in (r.address, r.address.replace(", ", "\n"))
    assert rows[3] == ("E-mail", r.email)


def test_confidentiality_and_category(variant_doc: tuple[str, Document]) -> None:
    variant, doc = variant_doc
    on, off = BOX_TEXT[variant]
    tables = _tables(doc)
    assert tables[0].rows[0][1] == on
    assert tables[1].rows == (("Reason for confidentiality:", FILLED.confidential_reason),)
    grid = tables[3].rows
    assert grid[4][2] == on and grid[0][0] == off
    assert grid[4][3].startswith("Other (please specify)")
    assert grid[5] == ("Please specify:", "Governor of a primary school")


def test_closing_boxes(variant_doc: tuple[str, Document]) -> None:
    variant, doc = variant_doc
    on, off = BOX_TEXT[variant]
    tables = _tables(doc)
    assert tables[-3].rows[0][1] == on
    assert tables[-2].rows == (("E-mail address for acknowledgement:", "office@example.org"),)
    yes = "Yes  X" if variant == "x_beside_label" else "Yes"
    assert tables[-1].rows == ((yes, on, "No", off),)


def test_field_codes_and_deleted_text_never_show(variant_doc: tuple[str, Document]) -> None:
    _, doc = variant_doc
    text = doc.plain_text()
    for absent in ("FORMCHECKBOX", "FORMTEXT", DRAFT_DELETED.strip(), UNANSWERED_DELETED, "Click here"):
        assert absent not in text
    assert "\u2002" not in text


def test_unfilled_fields_read_empty_in_legacy_and_sdt_forms() -> None:
    blank = dataclasses.replace(FILLED, confidential_reason=None, acknowledge_email=None)
    for variant in ("legacy", "sdt", "tracked"):
        tables = _tables(read_docx(build_docx(FORM, blank, variant)))
        assert tables[1].rows[0][1] == "", variant
        assert tables[-2].rows[0][1] == "", variant


def test_x_beside_label_puts_the_x_in_the_label_cell() -> None:
    tables = _tables(read_docx(build_docx(FORM, FILLED, "x_beside_label")))
    assert tables[0].rows[0] == (FORM.confidential_label + "  X", "")


def test_retyped_response_is_paragraphs() -> None:
    doc = read_docx(build_docx(FORM, FILLED, "retyped"))
    assert _tables(doc) == []
    lines = [b.text for b in doc.blocks if isinstance(b, Paragraph)]
    assert "Name: Siobhán O’Neill" in lines
    i = lines.index("Question 3")
    assert lines[i + 2 : i + 5] == [
        "Answer: Disagree",
        "Comments: First paragraph – with a dash.",
        "“Quoted” second paragraph.",
    ]


@pytest.mark.parametrize("seed", range(6))
def test_sample_readings_round_trip_through_every_variant(seed: int) -> None:
    filled = sample_reading(FORM, seed)
    for variant in TABLE_VARIANTS:
        doc = read_docx(build_docx(FORM, filled, variant))
        for q in FORM.questions:
            table = _question_table(doc, q.id)
            assert table.rows[-1] == (filled.answers[q.id].comment,), (variant, q.id)
            if q.scale and variant != "x_beside_label":
                marks = table.rows[1][1::2]
                chosen = [c.id for c, m in zip(FORM.scale, marks, strict=True) if m == BOX_TEXT[variant][0]]
                assert chosen == ([filled.answers[q.id].choice] if filled.answers[q.id].choice else [])


def test_sample_reading_is_deterministic_and_varied() -> None:
    assert sample_reading(FORM, 3) == sample_reading(FORM, 3)
    readings = [sample_reading(FORM, s) for s in range(40)]
    assert len({r.respondent.name for r in readings}) > 20
    assert any(r.answers["q8"].comment for r in readings)
    assert any(a.choice is None for r in readings for a in r.answers.values())
    assert any("\n" in a.comment for r in readings for a in r.answers.values())


def test_builds_are_byte_identical() -> None:
    assert build_docx(FORM, FILLED, "sdt") == build_docx(FORM, FILLED, "sdt")


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown docx variant"):
        build_docx(FORM, FILLED, "carrier_pigeon")


def test_letter_reads_as_paragraphs() -> None:
    doc = read_docx(build_letter_docx("Dear Sir,\n\nI support the guidance.\nYours faithfully,"))
    assert [b.text for b in doc.blocks] == ["Dear Sir,", "", "I support the guidance.", "Yours faithfully,"]


# --- the blank form ----------------------------------------------------------------------------

# Row shapes (cells per row, a merged cell counted once) of the department's own blank form.
DEPARTMENT_SHAPES = [
    [2],
    [2],
    [2, 2, 2, 2],
    [4, 4, 4, 4, 4, 2],
    *([[1, 6, 1, 1]] * 7),
    [1, 1, 1],
    [2],
    [2],
    [4],
]


def test_blank_form_has_the_department_table_structure() -> None:
    doc = read_docx(write_blank_docx(FORM))
    tables = _tables(doc)
    assert [[len(r) for r in t.rows] for t in tables] == DEPARTMENT_SHAPES
    assert tables[0].rows == ((FORM.confidential_label, UNCHECKED),)
    assert tables[3].rows[0] == (UNCHECKED, "Local Authority", UNCHECKED, "Children's Trust / Children's Trust Board")
    assert tables[3].rows[-1] == ("Please specify:", "")
    assert tables[4].rows == (
        (f"1\u2003{FORM.questions[0].text}",),
        ("Agree", UNCHECKED, "Disagree", UNCHECKED, "Not sure", UNCHECKED),
        ("Comments:",),
        ("",),
    )
    assert tables[-1].rows == (("Yes", UNCHECKED, "No", UNCHECKED),)
    texts = [b.text for b in doc.blocks if isinstance(b, Paragraph)]
    assert "The closing date for this consultation is: 16 May 2008" in texts
    assert FORM.category_prompt in texts and FORM.contact_again_label in texts


def test_blank_form_follows_the_definition() -> None:
    form = dataclasses.replace(FORM, questions=FORM.questions[:2], scale=FORM.scale[:2])
    tables = _tables(read_docx(write_blank_docx(form, postal_address="1 High Street")))
    assert len(tables) == 4 + 2 + 3
    assert tables[4].rows[1] == ("Agree", UNCHECKED, "Disagree", UNCHECKED)


# --- one rule at a time, on hand-written XML ----------------------------------------------------


def _cell_doc(inner: str) -> str:
    return f"<w:tbl><w:tr><w:tc>{inner}</w:tc></w:tr></w:tbl>"


def _read_para(inline: str) -> str:
    doc = read_docx(docx_from_body(f"<w:p>{inline}</w:p>"))
    assert len(doc.blocks) == 1
    return doc.blocks[0].text


def _checkbox_field(box: str) -> str:
    return (
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Check1"/>'
        f"<w:checkBox><w:sizeAuto/>{box}</w:checkBox></w:ffData></w:fldChar></w:r>"
        '<w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


@pytest.mark.parametrize(
    ("box", "mark"),
    [
        ('<w:default w:val="0"/><w:checked/>', CHECKED),
        ('<w:default w:val="1"/>', CHECKED),
        ('<w:default w:val="0"/>', UNCHECKED),
        ('<w:default w:val="1"/><w:checked w:val="0"/>', UNCHECKED),
        ('<w:default w:val="1"/><w:checked w:val="false"/>', UNCHECKED),
        ('<w:default w:val="0"/><w:checked w:val="true"/>', CHECKED),
        ("", UNCHECKED),
    ],
)
def test_legacy_checkbox_state(box: str, mark: str) -> None:
    assert _read_para(_checkbox_field(box)) == mark


def test_a_checkbox_with_no_saved_state_is_reported_for_review() -> None:
    """LibreOffice's RTF round trip writes boxes with neither w:checked nor w:default: ticks are lost."""
    doc = read_docx(docx_from_body(f"<w:p>{_checkbox_field('')}</w:p>"))
    assert any("lost their ticks" in p for p in doc.problems)
    with_default = _checkbox_field('<w:default w:val="0"/>')
    saved = read_docx(docx_from_body(f"<w:p>{with_default}</w:p>"))
    assert saved.problems == ()


def _text_field(result: str, ffdata: str = "<w:textInput/>", code: str = "FORMTEXT") -> str:
    return (
        f'<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="T"/>{ffdata}</w:ffData>'
        f'</w:fldChar></w:r><w:r><w:instrText xml:space="preserve"> {code} </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="separate"/></w:r>{result}<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


def test_legacy_text_field_unfilled_reads_empty() -> None:
    assert (
        _read_para("<w:r><w:t>Name: </w:t></w:r>" + _text_field("<w:r><w:t>\u2002\u2002\u2002\u2002\u2002</w:t></w:r>"))
        == "Name: "
    )


def test_legacy_text_field_result_keeps_line_breaks() -> None:
    result = "<w:r><w:t>One</w:t></w:r><w:r><w:br/></w:r><w:r><w:t>Two</w:t></w:r>"
    assert _read_para(_text_field(result)) == "One\nTwo"


def test_legacy_text_field_spanning_paragraphs_keeps_both() -> None:
    body = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:textInput/></w:ffData></w:fldChar></w:r>'
        '<w:r><w:instrText> FORMTEXT </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        "<w:r><w:t>First</w:t></w:r></w:p>"
        '<w:p><w:r><w:t>Second</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    doc = read_docx(docx_from_body(_cell_doc(body)))
    assert doc.blocks[0].rows == (("First\nSecond",),)


def test_legacy_dropdown_reads_result_or_selected_entry() -> None:
    dd = '<w:ddList><w:result w:val="1"/><w:listEntry w:val="Yes"/><w:listEntry w:val="No"/></w:ddList>'
    assert _read_para(_text_field("", dd, "FORMDROPDOWN")) == "No"
    assert _read_para(_text_field("<w:r><w:t>Yes</w:t></w:r>", dd, "FORMDROPDOWN")) == "Yes"


def test_other_fields_keep_their_result_and_drop_their_code() -> None:
    hyperlink = _text_field("<w:r><w:t>our website</w:t></w:r>", "", 'HYPERLINK "http://example.org"')
    assert _read_para(hyperlink.replace('<w:ffData><w:name w:val="T"/></w:ffData>', "")) == "our website"
    simple = '<w:fldSimple w:instr=" PAGE "><w:r><w:t>3</w:t></w:r></w:fldSimple>'
    assert _read_para(simple) == "3"


@pytest.mark.parametrize(
    ("font", "char", "mark"),
    [
        ("Wingdings", "F0FC", CHECKED),
        ("Wingdings", "F0FE", CHECKED),
        ("Wingdings", "F0FD", CHECKED),
        ("Wingdings", "F0FB", CHECKED),
        ("Wingdings", "F078", CHECKED),
        ("Wingdings", "F0A8", UNCHECKED),
        ("Wingdings", "F06F", UNCHECKED),
        ("Wingdings", "00FE", CHECKED),
        ("Wingdings 2", "F050", CHECKED),
        ("Wingdings 2", "F052", CHECKED),
        ("Wingdings 2", "F053", CHECKED),
        ("Wingdings 2", "F054", CHECKED),
        ("Wingdings 2", "F0A3", UNCHECKED),
        ("Symbol", "F0D6", CHECKED),
        ("Wingdings", "F04A", ""),  # a smiley is not a mark
    ],
)
def test_symbol_runs(font: str, char: str, mark: str) -> None:
    assert _read_para(f'<w:r><w:sym w:font="{font}" w:char="{char}"/></w:r>') == mark


@pytest.mark.parametrize(
    ("text", "mark"), [("\u00fe", CHECKED), ("\u00fc", CHECKED), ("o", UNCHECKED), ("\uf0fe", CHECKED)]
)
def test_characters_in_a_wingdings_run(text: str, mark: str) -> None:
    run = f'<w:r><w:rPr><w:rFonts w:ascii="Wingdings" w:hAnsi="Wingdings"/></w:rPr><w:t>{text}</w:t></w:r>'
    assert _read_para(run) == mark


def test_private_use_wingdings_character_without_font_is_a_mark() -> None:
    assert _read_para("<w:r><w:t>\uf0fc Agree</w:t></w:r>") == f"{CHECKED} Agree"


@pytest.mark.parametrize("glyph", ["\u2612", "\u2611", "\u2713", "\u2714", "\u2717", "\u2718"])
def test_ticked_glyphs_become_checked(glyph: str) -> None:
    assert _read_para(f"<w:r><w:t>{glyph}</w:t></w:r>") == CHECKED


def test_empty_box_glyph_stays() -> None:
    assert _read_para("<w:r><w:t>\u2610</w:t></w:r>") == UNCHECKED


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("[x]", CHECKED),
        ("[X]", CHECKED),
        ("(x)", CHECKED),
        (" (X) ", CHECKED),
        ("[ ]", UNCHECKED),
        ("( )", UNCHECKED),
        ("[]", UNCHECKED),
        ("X", "X"),
        ("[x] Agree", "[x] Agree"),
    ],
)
def test_bracketed_marks_alone_in_a_cell(cell: str, read: str) -> None:
    doc = read_docx(docx_from_body(_cell_doc(f'<w:p><w:r><w:t xml:space="preserve">{cell}</w:t></w:r></w:p>')))
    assert doc.blocks[0].rows == ((read,),)


def _sdt_checkbox(checked: str, glyph: str) -> str:
    return (
        "<w:sdt><w:sdtPr><w14:checkbox>"
        f'<w14:checked w14:val="{checked}"/></w14:checkbox></w:sdtPr>'
        f"<w:sdtContent><w:r><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>"
    )


def test_content_control_checkbox_follows_its_checked_state() -> None:
    assert _read_para(_sdt_checkbox("1", "\u2612")) == CHECKED
    assert _read_para(_sdt_checkbox("0", "\u2610")) == UNCHECKED
    assert _read_para(_sdt_checkbox("0", "\u2612")) == UNCHECKED  # the state wins over the glyph


def test_content_control_placeholder_reads_empty() -> None:
    sdt = (
        "<w:sdt><w:sdtPr><w:showingPlcHdr/><w:text/></w:sdtPr><w:sdtContent>"
        "<w:p><w:r><w:t>Click here to enter text.</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    assert read_docx(docx_from_body(_cell_doc(sdt))).blocks[0].rows == (("",),)
    inline = (
        "<w:sdt><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent><w:r><w:t>Choose</w:t></w:r></w:sdtContent></w:sdt>"
    )
    assert _read_para(inline) == ""


def test_content_control_showing_word_prompt_without_the_flag_reads_empty() -> None:
    """LibreOffice drops w:showingPlcHdr when it saves; Word's prompt text still means unanswered."""
    sdt = "<w:sdt><w:sdtPr><w:text/></w:sdtPr><w:sdtContent><w:r><w:t>Click here to enter text.</w:t></w:r>"
    assert _read_para(sdt + "</w:sdtContent></w:sdt>") == ""


def test_content_control_text_at_every_level() -> None:
    row_sdt = (
        "<w:tbl><w:sdt><w:sdtContent><w:tr><w:sdt><w:sdtContent><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p>"
        "</w:tc></w:sdtContent></w:sdt></w:tr></w:sdtContent></w:sdt></w:tbl>"
    )
    block = "<w:sdt><w:sdtContent><w:p><w:r><w:t>para</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    inline = (
        "<w:p><w:sdt><w:sdtPr><w:date/></w:sdtPr>"
        "<w:sdtContent><w:r><w:t>1 May 2008</w:t></w:r></w:sdtContent></w:sdt></w:p>"
    )
    doc = read_docx(docx_from_body(row_sdt + block + inline))
    assert doc.blocks == (Table((("cell",),)), Paragraph("para"), Paragraph("1 May 2008"))


def test_tracked_changes() -> None:
    inline = (
        "<w:r><w:t>We </w:t></w:r><w:del><w:r><w:delText>strongly </w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t>broadly </w:t></w:r></w:ins><w:r><w:t>agree</w:t></w:r>"
        "<w:moveFrom><w:r><w:t> (moved away)</w:t></w:r></w:moveFrom>"
        "<w:moveTo><w:r><w:t> (moved here)</w:t></w:r></w:moveTo>"
    )
    assert _read_para(inline) == "We broadly agree (moved here)"


def test_deleted_rows_and_paragraph_marks() -> None:
    body = (
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>kept</w:t></w:r></w:p></w:tc></w:tr>"
        "<w:tr><w:trPr><w:del/></w:trPr><w:tc><w:p><w:r><w:t>gone</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
        "<w:p><w:pPr><w:rPr><w:del/></w:rPr></w:pPr><w:del><w:r><w:delText>x</w:delText></w:r></w:del></w:p>"
        "<w:p><w:pPr><w:rPr><w:del/></w:rPr></w:pPr><w:r><w:t>joined </w:t></w:r></w:p>"
        "<w:p><w:r><w:t>to the next</w:t></w:r></w:p>"
    )
    assert read_docx(docx_from_body(body)).blocks == (Table((("kept",),)), Paragraph("joined to the next"))


def test_special_characters_and_hidden_text() -> None:
    inline = (
        "<w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t><w:cr/><w:t>d</w:t>"
        "<w:noBreakHyphen/><w:t>e</w:t></w:r>"
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden</w:t></w:r>"
        "<w:hyperlink><w:r><w:t> link</w:t></w:r></w:hyperlink>"
        '<w:smartTag w:element="place"><w:r><w:t> Leeds</w:t></w:r></w:smartTag>'
    )
    assert _read_para(inline) == "a\tb\nc\nd-e link Leeds"


def test_merged_and_nested_cells() -> None:
    body = (
        "<w:tbl>"
        '<w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>wide</w:t></w:r></w:p></w:tc>'
        '<w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r><w:t>tall</w:t></w:r></w:p></w:tc></w:tr>'
        "<w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>n1</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>n2</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p/></w:tc>"
        "<w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p><w:r><w:t>tall again</w:t></w:r></w:p></w:tc></w:tr>"
        "</w:tbl>"
    )
    assert read_docx(docx_from_body(body)).blocks[0].rows == (("wide", "tall"), ("a\nb", "n1\tn2\n", ""))


def test_text_box_text_is_reported_not_mixed_into_the_paragraph() -> None:
    box = (
        '<w:r><w:pict><v:shape xmlns:v="urn:schemas-microsoft-com:vml"><v:textbox><w:txbxContent>'
        "<w:p><w:r><w:t>I agree</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r>"
    )
    doc = read_docx(docx_from_body(f"<w:p><w:r><w:t>Answer:</w:t></w:r>{box}</w:p>"))
    assert doc.blocks == (Paragraph("Answer:"),)
    assert doc.problems == ("the Word document has text boxes whose text was not read",)


def test_embedded_document_is_reported_as_a_problem() -> None:
    doc = read_docx(docx_from_body('<w:altChunk r:id="rId9" xmlns:r="urn:r"/><w:p/>'))
    assert doc.problems and "altChunk" in doc.problems[0]


# --- files that are not readable .docx ----------------------------------------------------------


def test_not_a_zip_is_a_read_error() -> None:
    with pytest.raises(DocumentReadError, match="damaged or not a .docx"):
        read_docx(b"%PDF-1.4 not a Word file")


def test_old_or_encrypted_word_file_is_a_read_error() -> None:
    with pytest.raises(DocumentReadError, match="password-protected or in the older .doc"):
        read_docx(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))


def test_zip_without_a_document_is_a_read_error() -> None:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(DocumentReadError):
        read_docx(out.getvalue())


def test_broken_xml_is_a_read_error() -> None:
    with pytest.raises(DocumentReadError, match="text is damaged"):
        read_docx(docx_from_body("<w:p><w:r><w:t>unclosed</w:r></w:p>"))


def test_unsafe_error_is_exported_by_the_reader() -> None:
    assert issubclass(UnsafeDocumentError, ValueError) and issubclass(DocumentReadError, ValueError)
