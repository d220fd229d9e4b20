"""Letters and retyped forms written as people write them (tests/builders/letters.py), read back.

The texts are not made from the form definition the reader uses, so these tests are not the
reader agreeing with its own builder. The rule checked for every case and channel: a response
is filed only when every field is right; otherwise it goes to review with a reason.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.letters import Case, all_cases, word_letter

from parsers.attachments import AttachmentJob, read_attachment
from parsers.body import body_text, read_body
from parsers.document import Document, Paragraph
from parsers.docx_reader import read_docx
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.formreader import read_form
from parsers.model import Reading

FORM = load_form(DEFAULT_FORM_PATH)
CASES = all_cases()


def differences(case: Case, got: Reading) -> list[str]:
    """Fields that differ from the case's expected reading (white space in texts ignored)."""
    out = []
    for key, value in case.expected["respondent"].items():
        have = getattr(got.respondent, key)
        if _ws(have) != _ws(value):
            out.append(f"respondent.{key}: expected {value!r}, got {have!r}")
    for qid, want in case.expected["answers"].items():
        have = got.answers[qid]
        if have.choice != want["choice"] or _ws(have.comment) != _ws(want["comment"]):
            out.append(f"{qid}: expected {want!r}, got {have!r}")
    return out


def _ws(value: str | None) -> str:
    return " ".join((value or "").split())


def assert_read(case: Case, got: Reading | None) -> None:
    assert got is not None, f"{case.name}: not read as a response"
    if case.needs_review:
        assert got.status == "needs_review", f"{case.name}: filed, but a person must look"
        assert any(case.why in reason for reason in got.review_reasons), got.review_reasons
    else:
        assert got.review_reasons == (), f"{case.name}: {got.review_reasons}"
    if got.status == "filed":
        assert differences(case, got) == [], f"{case.name}: a silent error"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_letter_typed_in_the_email(case: Case) -> None:
    assert_read(case, read_body(case.text, None, FORM))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_letter_written_in_word(case: Case) -> None:
    got = read_form(read_docx(word_letter(case.text)), FORM, source_kind="docx", filename="letter.docx")
    assert_read(case, got)


# --------------------------------------------------------------------------------------------------
# LibreOffice saves the Word letters as .doc, .odt, .rtf and PDF (one run per format, per session).

CONVERTED = {
    "doc": [0, 9, 20],
    "odt": [1, 12, 24],
    "rtf": [3, 14, 27],
    "pdf": [0, 1, 2, 3, 4, 5, 8, 24, 25, 26, 28],
}


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], bytes]:
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed")
    work = tmp_path_factory.mktemp("letters")
    sources = {i: work / f"letter{i}.docx" for i in sorted({i for ids in CONVERTED.values() for i in ids})}
    for i, path in sources.items():
        path.write_bytes(word_letter(CASES[i].text))
    out: dict[tuple[str, int], bytes] = {}
    for ext, ids in CONVERTED.items():
        outdir = work / ext
        subprocess.run(
            ["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{work / 'profile'}",
             "--convert-to", ext, "--outdir", str(outdir), *(str(sources[i]) for i in ids)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        out.update({(ext, i): (outdir / f"letter{i}.{ext}").read_bytes() for i in ids})
    return out


@pytest.mark.parametrize(
    ("ext", "index"), [(ext, i) for ext, ids in CONVERTED.items() for i in ids], ids=lambda v: str(v)
)
def test_letter_saved_by_libreoffice(converted: dict[tuple[str, int], bytes], ext: str, index: int) -> None:
    """Through the same child-process reader the service uses (conversion back to .docx included)."""
    case = CASES[index]
    got = read_attachment(AttachmentJob(ext, f"letter.{ext}", FORM), converted[(ext, index)])
    assert isinstance(got, Reading)
    assert_read(case, got)


# --------------------------------------------------------------------------------------------------
# The letter's parts, one at a time.


def _doc(*lines: str) -> Reading:
    return read_form(Document(tuple(Paragraph(line) for line in lines)), FORM, source_kind="docx", filename="x")


ANSWERS = ("Question 1: Agree", "It is clear.", "Question 2: Disagree", "Too many partners.")


@pytest.mark.parametrize(
    ("sentence", "category"),
    [
        ("I am writing as a parent.", "parent"),
        ("We write as a small charity working with families.", "voluntary"),
        ("I am responding on behalf of Greysmouth Primary Care Trust.", "health"),
        ("These are the views of our school.", "school"),
        ("I respond as the chair of Harrowfield Youth Offending Team.", "police_yot"),
        ("We are a trade union representing teachers.", "professional_body"),
        ("I am 15 and I go to Marlow High.", "young_person"),
        ("I am writing on behalf of Eastwick Borough Council.", "local_authority"),
    ],
)
def test_capacity_from_a_sentence(sentence: str, category: str) -> None:
    got = _doc("Dear Sir,", sentence, *ANSWERS, "Yours faithfully,", "Jo Bloggs")
    assert (got.respondent.category, got.review_reasons) == (category, ())


def test_two_capacities_go_to_review_naming_both() -> None:
    got = _doc("Dear Sir,", "I write as a parent and as a governor of our school.", *ANSWERS)
    assert got.respondent.category is None
    assert any("“Parent or carer”" in r and "“School or college”" in r for r in got.review_reasons)


def test_a_capacity_that_matches_no_category_goes_to_review() -> None:
    got = _doc("Dear Sir,", "I am writing as a retired magistrate.", *ANSWERS)
    assert got.respondent.category is None
    assert any("matches no category" in r for r in got.review_reasons)


def test_on_behalf_of_names_the_organisation() -> None:
    got = _doc("Dear Sir,", "I am responding on behalf of Greysmouth Primary Care Trust.", *ANSWERS)
    assert got.respondent.organisation == "Greysmouth Primary Care Trust"


def test_address_block_ends_at_its_postcode_not_at_the_next_sentence() -> None:
    got = read_body(
        "Address: 1 High Street\nEastbury\nEB1 2CD\nI am writing as a parent.\n\n" + "\n".join(ANSWERS), None, FORM
    )
    assert got is not None and got.respondent.address == "1 High Street\nEastbury\nEB1 2CD"
    assert got.respondent.category == "parent"


def test_closing_and_signature_are_not_part_of_the_last_answer() -> None:
    got = _doc(*ANSWERS, "Yours faithfully,", "Jo Bloggs", "Head of Policy, Eastwick Borough Council")
    assert got.answers["q2"].comment == "Too many partners."
    assert (got.respondent.name, got.respondent.organisation) == ("Jo Bloggs", "Eastwick Borough Council")


def test_a_number_alone_heads_the_next_answer() -> None:
    got = _doc("Question 1: Agree", "It is clear.", "8.", "Nothing else to add.")
    assert got.answers["q1"].comment == "It is clear."
    assert got.answers["q8"].comment == "Nothing else to add."


def test_a_numbered_list_inside_an_answer_stays_in_it() -> None:
    got = _doc("Question 1", "1. More money.", "2. More time.", "Question 2: Agree")
    assert got.answers["q1"].comment == "1. More money.\n2. More time."
    assert got.answers["q2"].choice == "agree"


def test_answers_after_thank_you_are_read() -> None:
    text = "Hello,\n\nThank you.\n\nQuestion 1: Agree\nIt is clear.\n\nQuestion 2: Disagree\n"
    assert "Question 2" in body_text(text, None)
    got = read_body(text, None, FORM)
    assert got is not None and got.answers["q2"].choice == "disagree"


def test_an_answer_echoing_the_question_keeps_that_line() -> None:
    echo = "The guidance gives a strong enough focus to prevention and early intervention."
    got = _doc("Question 5: Agree", echo, "But it says little about money.", "Question 6: Agree")
    assert got.answers["q5"].comment == f"{echo}\nBut it says little about money."
    assert got.review_reasons == ()


def test_a_long_opening_before_the_first_answer_goes_to_review() -> None:
    opening = " ".join(["We have discussed the guidance at length with the families we support."] * 3)
    got = _doc("Dear Sir,", opening, *ANSWERS)
    assert any("before the first answer" in r for r in got.review_reasons)


def test_an_answer_running_into_an_unknown_heading_goes_to_review() -> None:
    got = _doc(*ANSWERS[:2], "Funding And Resources", "Nobody says who pays.", *ANSWERS[2:])
    assert any("looks like a heading" in r for r in got.review_reasons)


def test_text_left_over_after_the_answers_goes_to_review() -> None:
    got = _doc(*ANSWERS, "Name: Jo Bloggs", "Something else entirely that answers nothing we know of.")
    assert any("could not be placed" in r for r in got.review_reasons)


def test_case_texts_are_not_made_from_the_form_definition() -> None:
    """The builder writes the questions out by hand: a change to the form file does not change them."""
    source = (Path(__file__).parent / "builders" / "letters.py").read_text(encoding="utf-8")
    assert "formdef" not in source and "load_form" not in source


# --------------------------------------------------------------------------------------------------
# Filled Word forms saved by LibreOffice as PDF (printed: long values in narrow cells) and as .odt.

LONG_EMAILS = {
    "hyphens": "christopher.fotheringham-worthington@northshire-childrens-services.example.org.uk",
    "unbreakable": "christopherfotheringhamworthington@northshirechildrensservicesdirectorate.example.org.uk",
}


@pytest.fixture(scope="session")
def printed_forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Reading, bytes]]:
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed")
    work = tmp_path_factory.mktemp("forms")
    filled: dict[str, Reading] = {}
    for n, (name, email) in enumerate(LONG_EMAILS.items()):
        reading = sample_reading(FORM, 700 + n)
        filled[name] = dataclasses.replace(reading, respondent=dataclasses.replace(reading.respondent, email=email))
    for name, reading in filled.items():
        (work / f"{name}.docx").write_bytes(build_docx(FORM, reading, "x_cell"))
    subprocess.run(
        ["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{work / 'profile'}",
         "--convert-to", "pdf", "--outdir", str(work), *(str(work / f"{n}.docx") for n in filled)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return {name: (reading, (work / f"{name}.pdf").read_bytes()) for name, reading in filled.items()}


def test_a_long_address_wrapped_at_its_hyphen_in_a_printed_pdf_is_read_whole(printed_forms) -> None:
    filled, pdf = printed_forms["hyphens"]
    got = read_attachment(AttachmentJob("pdf", "form.pdf", FORM), pdf)
    assert got.respondent.email == LONG_EMAILS["hyphens"]
    assert got.status == "filed" and dict(got.answers) == dict(filled.answers)


def test_a_long_address_broken_at_its_cells_edge_in_a_printed_pdf_goes_to_review(printed_forms) -> None:
    _, pdf = printed_forms["unbreakable"]
    got = read_attachment(AttachmentJob("pdf", "form.pdf", FORM), pdf)
    assert got.status == "needs_review"
    assert any("reaches the edge of its box" in r for r in got.review_reasons)
