"""Decide what an attachment is from its bytes, and whether it is password-protected.

Respondents rename files, mail clients send everything as application/octet-stream, and a
"Response.docx" may be a PDF or a .doc. The content decides; the filename and declared MIME type
are consulted only when the content cannot tell (plain text, an encrypted Office 2007+ package).
Everything here is pure: bytes in, a frozen `Sniffed` out. Nothing is extracted from archives.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

import msoffcrypto
import olefile
from pypdf import PdfReader

logger = logging.getLogger(__name__)

KINDS = frozenset(
    {"docx", "doc", "odt", "rtf", "pdf", "text", "html", "image", "zip", "xlsx", "pptx", "ole", "unknown"}
)
SOURCE_KINDS = frozenset({"docx", "doc", "odt", "rtf", "pdf"})

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
ODT_MIMETYPES = frozenset(
    {"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text-template"}
)
_ENCRYPT_REF = re.compile(rb"/Encrypt\s*(\d+\s+\d+\s+R|<<)")
_IMAGE_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
)
# nFib values seen in FibBase: Word 6, Word 95, Word 97, and those Word 2000-2007 (and LibreOffice) write.
_WORD_NFIBS = frozenset({0x65, 0x68, 0xC0, 0xC1, 0xC2, 0xD9, 0x101, 0x10C, 0x112})
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)
_HTML_ANYWHERE = re.compile(rb"<html[\s>]", re.I)
_HINT_KINDS_BY_EXTENSION = {
    "docx": "docx",
    "docm": "docx",
    "dotx": "docx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "pptx": "pptx",
    "htm": "html",
    "html": "html",
}
_HINT_KINDS_BY_MIME = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "text/html": "html",
}
_MAX_MIMETYPE_MEMBER = 200
_MAX_MANIFEST_MEMBER = 1_000_000
_TEXT_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class Sniffed:
    """What an attachment is: `kind` (one of KINDS), whether it is encrypted, and a note for logs."""

    kind: str
    encrypted: bool = False
    detail: str = ""


def sniff(data: bytes, filename: str | None = None, declared_type: str | None = None) -> Sniffed:
    """Tell an attachment's kind by its content; name and MIME type only break ties."""
    hint = _hint_kind(filename, declared_type)
    if not data:
        return Sniffed("unknown", detail="empty attachment")
    if b"%PDF-" in data[:1024]:
        return _sniff_pdf(data)
    if data.startswith(ZIP_MAGIC):
        return _sniff_zip(data)
    if data.startswith(OLE_MAGIC):
        return _sniff_ole(data, hint)
    if data[:256].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return Sniffed("rtf", detail="RTF document")
    image = _image_kind(data)
    if image:
        return Sniffed("image", detail=image)
    return _sniff_text(data, hint)


def source_kind_for(sniffed: Sniffed) -> str:
    """Map a sniffed kind onto the export's `source.kind` vocabulary (docx, doc, odt, rtf, pdf, other)."""
    return sniffed.kind if sniffed.kind in SOURCE_KINDS else "other"


def _hint_kind(filename: str | None, declared_type: str | None) -> str | None:
    """The kind the sender's name or MIME type claims, if it claims one we can use."""
    if declared_type:
        mime = declared_type.split(";", 1)[0].strip().lower()
        if mime in _HINT_KINDS_BY_MIME:
            return _HINT_KINDS_BY_MIME[mime]
    if filename and "." in filename:
        return _HINT_KINDS_BY_EXTENSION.get(filename.rsplit(".", 1)[1].strip().lower())
    return None


# --- PDF ---------------------------------------------------------------------------------------


def _sniff_pdf(data: bytes) -> Sniffed:
    """A PDF; encrypted when its trailer names an /Encrypt dictionary (confirmed by pypdf)."""
    version = _pdf_version(data)
    encrypted = _ENCRYPT_REF.search(data) is not None and _pypdf_says_encrypted(data)
    return Sniffed("pdf", encrypted=encrypted, detail=f"PDF {version}".strip())


def _pdf_version(data: bytes) -> str:
    match = re.search(rb"%PDF-(\d\.\d)", data[:1024])
    return match.group(1).decode("ascii") if match else ""


def _pypdf_says_encrypted(data: bytes) -> bool:
    """The byte search can be fooled by an uncompressed stream; pypdf reads the real trailer.

    A PDF pypdf cannot open (unsupported security handler, damage) while it refers to an
    /Encrypt dictionary is taken as encrypted.
    """
    try:
        return PdfReader(io.BytesIO(data)).is_encrypted
    except Exception as err:  # hostile input: any library error means "cannot confirm"
        logger.info("pypdf could not read a PDF that refers to /Encrypt: %s", err)
        return True


# --- ZIP-based formats -------------------------------------------------------------------------


def _sniff_zip(data: bytes) -> Sniffed:
    """OOXML, ODF or another zip, told apart by member names from the central directory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _classify_zip(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        logger.info("zip central directory unreadable (%s); guessing from local headers", err)
        return _classify_damaged_zip(data)


def _classify_zip(archive: zipfile.ZipFile) -> Sniffed:
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        return _classify_ooxml(names)
    if "mimetype" in names:
        return _classify_odf(archive, names)
    return Sniffed("zip", detail=f"zip archive of {len(names)} files")


def _classify_ooxml(names: set[str]) -> Sniffed:
    for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if any(name.startswith(prefix) for name in names):
            detail = "Word 2007+ document" if kind == "docx" else f"Office 2007+ {kind} file"
            if kind == "docx" and "word/document.xml" not in names:
                detail += " (main part not at word/document.xml)"
            return Sniffed(kind, detail=detail)
    return Sniffed("zip", detail="Office Open XML package of an unknown kind")


def _classify_odf(archive: zipfile.ZipFile, names: set[str]) -> Sniffed:
    mimetype = _small_member(archive, "mimetype", _MAX_MIMETYPE_MEMBER).decode("ascii", "replace").strip()
    if mimetype not in ODT_MIMETYPES:
        return Sniffed("zip", detail=f"OpenDocument file of type {mimetype or 'unknown'}")
    encrypted = b"encryption-data" in _small_member(archive, "META-INF/manifest.xml", _MAX_MANIFEST_MEMBER)
    return Sniffed("odt", encrypted=encrypted, detail="OpenDocument text")


def _small_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, or b"" when it is missing or claims to be larger than `limit`."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return b""
    if info.file_size > limit:
        return b""
    try:
        with archive.open(info) as member:
            return member.read(limit)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as err:
        logger.info("zip member %s unreadable: %s", name, err)
        return b""


def _classify_damaged_zip(data: bytes) -> Sniffed:
    """A zip whose central directory is missing (truncated mail); local headers still name parts."""
    if b"[Content_Types].xml" in data and b"word/" in data:
        return Sniffed("docx", detail="damaged Word 2007+ document (zip directory unreadable)")
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in data:
        return Sniffed("odt", detail="damaged OpenDocument text (zip directory unreadable)")
    return Sniffed("zip", detail="damaged zip archive")


# --- OLE2 (Office 97-2003, encrypted OOXML) ----------------------------------------------------


def _sniff_ole(data: bytes, hint: str | None) -> Sniffed:
    """Word 97-2003, a password-protected Office 2007+ file, or another OLE2 compound file."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(path).lower() for path in ole.listdir()}
            damaged = bool(ole.parsing_issues)
    except Exception as err:  # hostile input: olefile may fail in many ways
        logger.info("OLE2 file unreadable: %s", err)
        return _classify_damaged_ole(data)
    if "encryptioninfo" in streams or "encryptedpackage" in streams:
        return _encrypted_ooxml(hint)
    if "worddocument" in streams:
        return Sniffed("doc", encrypted=_doc_encrypted(data), detail="Word 97-2003 document")
    if damaged:  # a truncated file may have lost part of its directory
        return _classify_damaged_ole(data)
    return Sniffed("ole", detail=_ole_detail(streams))


def _classify_damaged_ole(data: bytes) -> Sniffed:
    """An OLE2 file olefile cannot open: a Word FIB or the directory's stream names may still show."""
    if "WordDocument".encode("utf-16-le") in data or _has_word_fib(data):
        return Sniffed("doc", detail="damaged Word 97-2003 document")
    if "EncryptedPackage".encode("utf-16-le") in data:
        return Sniffed("ole", encrypted=True, detail="damaged password-protected Office 2007+ file")
    return Sniffed("ole", detail="damaged OLE2 compound file")


def _has_word_fib(data: bytes) -> bool:
    """Whether a sector starts with a Word FIB (wIdent 0xA5EC and a Word 6-2003 nFib).

    The WordDocument stream is large, so it lives in ordinary 512-byte sectors; its first one
    survives even when the directory at the end of a truncated file is lost.
    """
    for offset in range(512, len(data) - 4, 512):
        ident, nfib = struct.unpack_from("<HH", data, offset)
        if ident == 0xA5EC and nfib in _WORD_NFIBS:
            return True
    return False


def _encrypted_ooxml(hint: str | None) -> Sniffed:
    """The package inside is encrypted, so only the sender's name or type can say it is a docx."""
    if hint in ("docx", "xlsx", "pptx"):
        return Sniffed(hint, encrypted=True, detail="password-protected Office 2007+ file")
    return Sniffed("ole", encrypted=True, detail="password-protected Office 2007+ file of unknown kind")


def _doc_encrypted(data: bytes) -> bool:
    """The FIB's fEncrypted bit, read by msoffcrypto; an unreadable FIB counts as not encrypted."""
    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception as err:  # hostile input: msoffcrypto may fail in many ways
        logger.info("Word 97-2003 FIB unreadable: %s", err)
        return False


def _ole_detail(streams: set[str]) -> str:
    if "workbook" in streams or "book" in streams:
        return "Excel 97-2003 workbook"
    if "powerpoint document" in streams:
        return "PowerPoint 97-2003 presentation"
    if any(name.startswith("__substg1.0_") for name in streams):
        return "Outlook message (.msg)"
    return "OLE2 compound file"


# --- images and text ---------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height in pixels read from a PNG, GIF or JPEG header (nothing is decoded), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size in a JPEG's start-of-frame segment, found by walking the segments (bounded)."""
    i = 2
    for _ in range(500):
        if i + 9 > len(data) or data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def _image_kind(data: bytes) -> str | None:
    for magic, name in _IMAGE_MAGICS:
        if data.startswith(magic):
            return name
    if _looks_like_bmp(data):
        return "BMP image"
    return None


def _looks_like_bmp(data: bytes) -> bool:
    """'BM' alone is too weak (text may start so); also require a known DIB header size."""
    if len(data) < 18 or not data.startswith(b"BM"):
        return False
    return struct.unpack_from("<I", data, 14)[0] in _BMP_DIB_HEADER_SIZES


def _sniff_text(data: bytes, hint: str | None) -> Sniffed:
    text = _decode_text(data[:_TEXT_SAMPLE])
    if text is None:
        return Sniffed("unknown", detail="binary data of an unknown format")
    encoded = text.encode("utf-8", "replace")
    if _HTML_START.search(encoded) or _HTML_ANYWHERE.search(encoded[:4096]):
        return Sniffed("html", detail="HTML document")
    if hint == "html" and re.search(rb"<(p|div|br|table|span)[\s/>]", encoded, re.I):
        return Sniffed("html", detail="HTML fragment (named as HTML)")
    return Sniffed("text", detail="plain text")


def _decode_text(sample: bytes) -> str | None:
    """Decode a sample as text, or None when it looks binary (NULs, many control characters)."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if sample.startswith(bom):
            return _decoded_if_textual(sample[2:], codec)
    if b"\x00" in sample:
        return None
    for codec in ("utf-8", "cp1252", "latin-1"):
        text = _decoded_if_textual(sample, codec)
        if text is not None:
            return text
    return None


def _decoded_if_textual(sample: bytes, codec: str) -> str | None:
    # The sample may end inside a multi-byte character; drop a few trailing bytes if needed.
    for cut in range(4):
        try:
            text = sample[: len(sample) - cut].decode(codec)
        except UnicodeDecodeError:
            continue
        return text if _control_ratio(text) < 0.05 else None
    return None


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\x0b")
    return controls / len(text)
