"""pdfplumber's conversion of each character, without its generic walk over every attribute.

pdfplumber turns every object pdfminer lays out into a dict (`Page.process_object`): for each
attribute it checks a set, then resolves the value recursively (`resolve_all`), building a new
tuple through a generator for each coordinate tuple. A form's PDF has thousands of characters, and
this was about a tenth of all the reading a backlog's messages cost (bench/README.md).
`fast_process_object` makes the same dict for a character (the same keys in the same order, equal
values): values that cannot hold a PDF reference (numbers, strings, tuples of numbers) are taken
as they are, anything else still goes through `resolve_all`, a colour space's name is decoded once
(not once per character), and every other kind of object goes to pdfplumber itself.

It replaces `Page.process_object` only on the pdfplumber release it was checked against
(`CHECKED_RELEASE`); tests/test_pdf_chars.py compares the two on PDFs made several ways.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from unicodedata import normalize as normalize_unicode

import pdfplumber
from pdfminer.layout import LTChar, LTItem
from pdfplumber.page import ALL_ATTRS, Page
from pdfplumber.utils import resolve_all, resolve_and_decode

CHECKED_RELEASE = re.compile(r"0\.11\.\d+$")
_PLAIN = (int, float, str, bool, type(None))
library_process_object = Page.process_object


def fast_process_object(page: Page, obj: LTItem) -> dict[str, Any]:
    """`Page.process_object`, the same dict, for a character; pdfplumber's own for anything else."""
    if type(obj) is not LTChar:
        return library_process_object(page, obj)
    attr: dict[str, Any] = {}
    for key, value in obj.__dict__.items():
        if key in ALL_ATTRS:
            plain = isinstance(value, _PLAIN) or (
                type(value) is tuple and all(isinstance(v, (int, float)) for v in value)
            )
            attr[key] = value if plain else resolve_all(value)
    attr["object_type"] = "char"
    attr["page_number"] = page.page_number
    for space in ("ncs", "scs"):
        if hasattr(obj, space):
            name = getattr(obj, space).name
            attr[space] = _decoded_name(name) if type(name) is str else resolve_and_decode(name)
    text = obj.get_text()
    norm = page.pdf.unicode_norm
    attr["text"] = normalize_unicode(norm, text) if norm is not None else text
    state = obj.graphicstate
    attr["stroking_color"] = state.scolor if isinstance(state.scolor, tuple) else (state.scolor,)
    attr["non_stroking_color"] = state.ncolor if isinstance(state.ncolor, tuple) else (state.ncolor,)
    if isinstance(attr["fontname"], bytes):
        return library_process_object(page, obj)  # rare; pdfplumber repairs the name its own way
    mb_x0, mb_top = page.mediabox[:2]
    if "y0" in attr:
        attr["top"] = (page.height - attr["y1"]) + mb_top
        attr["bottom"] = (page.height - attr["y0"]) + mb_top
        attr["doctop"] = page.initial_doctop + attr["top"]
    if "x0" in attr and mb_x0 != 0:
        attr["x0"] = attr["x0"] + mb_x0
        attr["x1"] = attr["x1"] + mb_x0
    return attr


@functools.lru_cache(maxsize=256)
def _decoded_name(name: str) -> str:
    """A colour space's name, decoded as pdfplumber decodes it (a character at a time, for every
    character of the page): a document has a few of them."""
    return resolve_and_decode(name)


def install() -> bool:
    """Use `fast_process_object` for every page, on the checked release only; whether it is in use."""
    if not CHECKED_RELEASE.match(pdfplumber.__version__):
        return False
    Page.process_object = fast_process_object  # type: ignore[method-assign]
    return True
