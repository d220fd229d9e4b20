"""LibreOffice turns .doc, .rtf and .odt back into a docx the docx reader can read, or says why not."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import olefile
import pytest

from parsers.convert import ConversionError, ConversionTimeout, convert_to_docx, soffice_available

LEGACY_KINDS = ("doc", "rtf", "odt")
ANSWER = "We agree that Children's Trusts should publish a plan."


@pytest.fixture(scope="module")
def soffice() -> None:
    if not soffice_available():
        pytest.fail("LibreOffice (soffice) is not installed: apt-get install libreoffice-writer-nogui")


@pytest.fixture(scope="module")
def legacy(soffice: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The same response form saved by LibreOffice as .doc, .rtf and .odt (converted in parallel)."""
    work = tmp_path_factory.mktemp("legacy")
    (work / "form.docx").write_bytes(make_response_form())
    runs = [subprocess.Popen(soffice_command(work, kind), stdout=subprocess.DEVNULL) for kind in LEGACY_KINDS]
    for run in runs:
        assert run.wait(timeout=120) == 0
    return {kind: (work / f"form.{kind}").read_bytes() for kind in LEGACY_KINDS}


def make_response_form() -> bytes:
    document = docx.Document()
    document.add_paragraph("Children's Trusts Consultation Response Form")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Comments:"
    table.cell(0, 1).text = ANSWER
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def soffice_command(work: Path, kind: str) -> list[str]:
    profile = (work / f"profile-{kind}").as_uri()
    return ["soffice", "--headless", "--norestore", f"-env:UserInstallation={profile}"] + [
        "--convert-to",
        kind,
        "--outdir",
        str(work),
        str(work / "form.docx"),
    ]


def text_of(docx_bytes: bytes) -> str:
    """Paragraphs then table cells, one per line (python-docx opens it, so it is a real docx)."""
    document = docx.Document(io.BytesIO(docx_bytes))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def rewrite_word_stream(doc: bytes, tmp_path: Path, change) -> bytes:
    path = tmp_path / "changed.doc"
    path.write_bytes(doc)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("WordDocument").read())
        ole.write_stream("WordDocument", bytes(change(stream)))
    return path.read_bytes()


def set_encrypted_flag(stream: bytearray) -> bytearray:
    (flags,) = struct.unpack_from("<H", stream, 10)
    struct.pack_into("<H", stream, 10, flags | 0x0100)
    return stream


# --- conversions that work ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", LEGACY_KINDS)
def test_a_legacy_document_converts_to_docx_with_its_text(legacy: dict[str, bytes], kind: str):
    found = text_of(convert_to_docx(legacy[kind], kind))
    assert "Children's Trusts Consultation Response Form" in found
    assert ANSWER in found


def test_a_web_page_saved_as_doc_converts_to_docx():
    page = f"<html><body><p>Question 1</p><table><tr><td>Comments:</td><td>{ANSWER}</td></tr></table>"
    assert ANSWER in text_of(convert_to_docx(page.encode() + b"</body></html>", "html"))


def test_parallel_conversions_each_get_their_own_profile(legacy: dict[str, bytes]):
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(convert_to_docx, [legacy["doc"], legacy["rtf"]], ["doc", "rtf"]))
    assert all(ANSWER in text_of(result) for result in results)


# --- conversions that must fail ----------------------------------------------------------------


def test_garbage_is_refused_before_libreoffice_imports_it_as_text():
    with pytest.raises(ConversionError, match="is not a Word 97-2003 document"):
        convert_to_docx(b"this is not a Word file at all\x01\x02\x03", "doc")


def test_a_pdf_called_rtf_is_refused():
    with pytest.raises(ConversionError, match="is not an RTF document"):
        convert_to_docx(b"%PDF-1.4\n%%EOF\n", "rtf")


def test_a_doc_libreoffice_cannot_read_is_an_error(legacy: dict[str, bytes], tmp_path: Path):
    broken = rewrite_word_stream(legacy["doc"], tmp_path, lambda stream: bytes(len(stream)))
    with pytest.raises(ConversionError, match="could not read the attachment"):
        convert_to_docx(broken, "doc")


def test_a_password_protected_doc_is_refused(legacy: dict[str, bytes], tmp_path: Path):
    protected = rewrite_word_stream(legacy["doc"], tmp_path, set_encrypted_flag)
    with pytest.raises(ConversionError, match="protected by a password"):
        convert_to_docx(protected, "doc")


def test_an_unknown_source_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="cannot convert source kind 'pdf'"):
        convert_to_docx(b"%PDF-1.4", "pdf")


def test_the_timeout_is_honoured_and_nothing_is_left_behind(
    legacy: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ConversionTimeout, match="took longer than 0.2 s"):
        convert_to_docx(legacy["odt"], "odt", timeout=0.2)
    assert list(tmp_path.iterdir()) == []
    assert processes_mentioning(str(tmp_path)) == []


def test_a_missing_libreoffice_is_an_error(legacy: dict[str, bytes], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not soffice_available()
    with pytest.raises(ConversionError, match="not installed"):
        convert_to_docx(legacy["rtf"], "rtf")


def processes_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `text`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().decode(errors="replace")
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
