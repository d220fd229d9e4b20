"""Safety checks for Office Open XML (zip) attachments, run before anything is extracted.

Attachments come from strangers. A zip can declare a tiny compressed size and inflate to gigabytes,
and an XML part can carry DOCTYPE/ENTITY declarations (billion laughs, external entities).
python-docx guards against neither, so every reader of a zip container calls `check_zip` on the raw
bytes (or `check_archive` on the zip it has opened) first, reads parts through `read_part` (a hard
byte limit, whatever the zip declares) and parses XML through `parse_xml`. Word never writes a
DOCTYPE, so refusing one costs nothing.
"""

from __future__ import annotations

import logging
import re
import zipfile
from io import BytesIO

from lxml import etree

log = logging.getLogger(__name__)

MAX_TOTAL_UNCOMPRESSED = 50_000_000
MAX_PARTS = 2000
MAX_RATIO = 200
# Small parts may legitimately compress very well (repetitive XML); only big ones can hurt.
RATIO_CHECK_MIN_SIZE = 1_000_000
MAX_PART_BYTES = 30_000_000

_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafeDocumentError(ValueError):
    """The attachment looks built to harm the reader (zip bomb, XML entity tricks).

    The message is written for staff: it says what was refused and why.
    """


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def check_zip(
    data: bytes,
    *,
    max_total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED,
    max_parts: int = MAX_PARTS,
    max_ratio: int = MAX_RATIO,
) -> None:
    """Refuse a zip whose central directory promises too much, before inflating any part.

    Raises `UnsafeDocumentError`; a file that is not a zip at all raises `zipfile.BadZipFile`
    (corrupt, not unsafe: the caller decides how to report that).
    """
    with zipfile.ZipFile(BytesIO(data)) as zf:
        check_archive(zf, max_total_uncompressed=max_total_uncompressed, max_parts=max_parts, max_ratio=max_ratio)


def check_archive(
    zf: zipfile.ZipFile,
    *,
    max_total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED,
    max_parts: int = MAX_PARTS,
    max_ratio: int = MAX_RATIO,
) -> None:
    """`check_zip` on a zip already open, for a reader that goes on to read its parts.

    Opening the zip once saves reading its central directory twice.
    """
    infos = zf.infolist()
    if len(infos) > max_parts:
        raise UnsafeDocumentError(f"attachment holds {len(infos)} parts, more than {max_parts} (possible zip bomb)")
    total = sum(i.file_size for i in infos)
    if total > max_total_uncompressed:
        raise UnsafeDocumentError(
            f"attachment expands to more than {_megabytes(max_total_uncompressed)} (possible zip bomb)"
        )
    for info in infos:
        _check_ratio(info, max_ratio)


def _check_ratio(info: zipfile.ZipInfo, max_ratio: int) -> None:
    """Refuse one big part that compresses far better than real documents do."""
    if info.file_size < RATIO_CHECK_MIN_SIZE:
        return
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > max_ratio:
        raise UnsafeDocumentError(
            f"attachment part {info.filename} is compressed {ratio:.0f} times, "
            f"more than {max_ratio} (possible zip bomb)"
        )


def read_part(zf: zipfile.ZipFile, name: str, limit: int = MAX_PART_BYTES) -> bytes:
    """Read one part, stopping at `limit` bytes whatever its declared size says.

    Raises KeyError when the part is missing, `UnsafeDocumentError` when it is larger than `limit`.
    """
    with zf.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeDocumentError(
            f"attachment part {name} expands to more than {_megabytes(limit)} (possible zip bomb)"
        )
    return data


def _as_text_for_scan(xml_bytes: bytes) -> bytes:
    """UTF-16 parts would hide '<!DOCTYPE' from a byte scan; fold them to UTF-8 first."""
    if xml_bytes[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return xml_bytes.decode("utf-16", errors="replace").encode("utf-8")
    return xml_bytes


def check_no_doctype(xml_bytes: bytes) -> None:
    """Refuse any DOCTYPE or ENTITY declaration: Word never writes one in a document part."""
    if _DTD_MARKERS.search(_as_text_for_scan(xml_bytes)):
        raise UnsafeDocumentError(
            "attachment contains an XML DOCTYPE or ENTITY declaration, which Word never writes "
            "(possible XML entity attack)"
        )


def safe_parser(*, recover: bool = False) -> etree.XMLParser:
    """An lxml parser that never resolves entities, reaches the network or grows huge trees.

    `recover` reads past syntax errors (an XFA packet from a sloppy PDF writer).
    """
    return etree.XMLParser(
        recover=recover,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(xml_bytes: bytes) -> etree._Element:
    """Parse one OOXML part safely; raises `UnsafeDocumentError` or `etree.XMLSyntaxError`."""
    check_no_doctype(xml_bytes)
    return etree.fromstring(xml_bytes, safe_parser())
