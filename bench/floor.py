"""The naive floor (issue 9): the least a one-process script could do to open the same attachments.

    python3 bench/floor.py [--messages 300]

One process, no sandbox, no database, no form reading: the standard library's `email` takes
each message apart; python-docx opens each .docx and walks its tables and paragraphs; pdfplumber
opens each PDF and extracts each page's text; one LibreOffice call (fresh profile) converts all
the .doc/.rtf/.odt files to .docx. `bench/intake.py` measures it on the same messages in the same
run and prints the whole cycle divided by it.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

LEGACY_SUFFIXES = (".doc", ".rtf", ".odt")


@dataclass
class Floor:
    seconds: float = 0.0
    by_stage: dict[str, float] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)

    def add(self, stage: str, seconds: float, files: int = 0) -> None:
        self.by_stage[stage] = self.by_stage.get(stage, 0.0) + seconds
        self.files[stage] = self.files.get(stage, 0) + files
        self.seconds += seconds


def naive_floor(raws: list[bytes]) -> Floor:
    """Time the naive script's work on these messages, stage by stage."""
    import docx
    import pdfplumber

    floor = Floor()
    t0 = time.perf_counter()
    parts = [part for raw in raws for part in _attachments(raw)]
    floor.add("mail", time.perf_counter() - t0, len(raws))
    docxs = [data for name, data in parts if name.endswith(".docx")]
    pdfs = [data for name, data in parts if name.endswith(".pdf")]
    legacy = [(name, data) for name, data in parts if name.endswith(LEGACY_SUFFIXES)]
    t0 = time.perf_counter()
    for data in docxs:
        _walk_docx(docx.Document(io.BytesIO(data)))
    floor.add("docx", time.perf_counter() - t0, len(docxs))
    t0 = time.perf_counter()
    with _pdfplumber_as_shipped():
        for data in pdfs:
            with pdfplumber.open(io.BytesIO(data)) as pdf:
                for page in pdf.pages:
                    page.extract_text()
    floor.add("pdf", time.perf_counter() - t0, len(pdfs))
    t0 = time.perf_counter()
    _convert_all(legacy)
    floor.add("legacy", time.perf_counter() - t0, len(legacy))
    return floor


@contextlib.contextmanager
def _pdfplumber_as_shipped() -> Iterator[None]:
    """pdfplumber as installed, even in a process that imported the product's PDF reader, which
    replaces one of its methods with a faster one (parsers/pdf_chars.py): the floor is the naive
    script's, and measured with the faster method it moved by a tenth (10.3-11.2 s against
    11.7-12.3 s on the same messages)."""
    from pdfplumber.page import Page

    ours, chars = Page.process_object, sys.modules.get("parsers.pdf_chars")
    if chars is not None:
        Page.process_object = chars.library_process_object  # type: ignore[method-assign]
    try:
        yield
    finally:
        Page.process_object = ours  # type: ignore[method-assign]


def _attachments(raw: bytes) -> list[tuple[str, bytes]]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    found = []
    for part in msg.iter_attachments():  # type: ignore[attr-defined]
        name = (part.get_filename() or "").lower()
        payload = part.get_payload(decode=True)
        if name and payload:
            found.append((name, payload))
    return found


def _walk_docx(document) -> int:  # type: ignore[no-untyped-def]
    chars = sum(len(p.text) for p in document.paragraphs)
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                chars += len(cell.text)
    return chars


def _convert_all(files: list[tuple[str, bytes]]) -> None:
    if not files:
        return
    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        work = Path(tmp)
        paths = []
        for i, (name, data) in enumerate(files):
            path = work / f"f{i}{Path(name).suffix}"
            path.write_bytes(data)
            paths.append(str(path))
        subprocess.run(
            ["soffice", "--headless", "--norestore", f"-env:UserInstallation={(work / 'profile').as_uri()}"]
            + ["--convert-to", "docx", "--outdir", str(work / "out"), *paths],
            check=True,
            capture_output=True,
            timeout=900,
        )


def describe(floor: Floor, messages: int) -> str:
    stages = ", ".join(
        f"{stage} {secs:.2f} s" + (f" ({floor.files[stage]} files)" if stage != "mail" else "")
        for stage, secs in floor.by_stage.items()
    )
    return f"naive floor     {floor.seconds:8.2f} s  {messages / floor.seconds:7.1f} messages/s  ({stages})"


def main() -> int:
    from corpus import build_corpus, summary

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    raws = build_corpus(args.messages)
    print(f"corpus: {len(raws)} messages ({summary(args.messages)})")
    print(describe(naive_floor(raws), len(raws)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
