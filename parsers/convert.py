"""Convert Word 97-2003 (.doc), RTF, OpenDocument text and HTML to .docx with headless LibreOffice.

The docx reader then reads every Word-like format. Two LibreOffice habits shape this module:
- soffice exits 0 even when it could not read its input (it imports unknown bytes as plain text,
  or writes nothing), so the input is checked to be what it claims before the run and the output
  is checked to be a real docx after it;
- two soffice processes sharing a user profile collide (one fails with exit 1 and no output), so
  every conversion gets its own profile. The first conversion's profile is kept as a template and
  copied for later ones: measured on the project machine, a copied profile converts in ~1.6 s
  against ~2.1 s for a fresh one.
A timeout kills soffice's whole process group, and the temporary directory is always removed.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import zipfile
from pathlib import Path

from parsers.sniff import sniff

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
SOFFICE = "soffice"
# Naming the export filter matters for HTML, which LibreOffice opens in Writer/Web: "docx" alone
# finds no export filter there. "MS Word 2007 XML" is the filter of LibreOffice's "Word 2007-365".
EXPORT_FILTER = "docx:MS Word 2007 XML"
EXTENSIONS = {"doc": "doc", "rtf": "rtf", "odt": "odt", "docx": "docx", "html": "html"}
_KIND_NAMES = {
    "doc": "a Word 97-2003 document",
    "rtf": "an RTF document",
    "odt": "an OpenDocument text",
    "docx": "a Word 2007+ document",
    "html": "an HTML document",
}

_template_lock = threading.Lock()
_template_profile: Path | None = None


class ConversionError(Exception):
    """LibreOffice could not turn the attachment into a docx; `reason` is a sentence for staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConversionTimeout(ConversionError):
    """LibreOffice ran past the time limit and was killed."""


def soffice_available() -> bool:
    """Whether the LibreOffice command is on PATH."""
    return shutil.which(SOFFICE) is not None


def convert_to_docx(data: bytes, source_kind: str, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Return `data` (a doc, rtf, odt, html or docx, as `source_kind` says) re-saved as docx bytes.

    A docx is accepted too, to re-save one the docx reader cannot open (e.g. Strict OOXML).

    Raises ConversionError when the bytes are not of that kind, soffice is missing, fails, runs
    past `timeout` seconds (ConversionTimeout) or writes no valid docx.
    """
    _check_input(data, source_kind)
    if not soffice_available():
        raise ConversionError("LibreOffice (soffice) is not installed, so the attachment could not be converted")
    with tempfile.TemporaryDirectory(prefix="convert-") as tmp:
        work = Path(tmp)
        source = work / f"input.{EXTENSIONS[source_kind]}"
        source.write_bytes(data)
        profile = _prepare_profile(work)
        _run_soffice(_soffice_command(source, work / "out", profile), timeout)
        output = _read_output(work / "out" / "input.docx")
        _keep_as_template(profile)
    return output


def convert_many(files: list[tuple[str, bytes]], *, timeout: float = DEFAULT_TIMEOUT) -> dict[int, bytes]:
    """Convert several documents with one LibreOffice start; {index in `files`: docx bytes}.

    One soffice start costs ~1.6-2.3 s, converting a form then costs ~0.1 s, so a batch saves
    the start for every file but one. The batch gets a private profile of its own. What is not
    in the answer (a file that is not what it claims, a file soffice could not convert, or every
    file when soffice crashed or ran past `timeout`) is for the caller to convert alone with
    `convert_to_docx`, which gives the reason: so one bad file costs only itself.
    """
    wanted = [(i, kind, data) for i, (kind, data) in enumerate(files) if _convertible(data, kind)]
    if not wanted or not soffice_available():
        return {}
    with tempfile.TemporaryDirectory(prefix="convert-batch-") as tmp:
        work = Path(tmp)
        sources = []
        for i, kind, data in wanted:
            source = work / f"file{i}.{EXTENSIONS[kind]}"
            source.write_bytes(data)
            sources.append(source)
        profile = _prepare_profile(work)
        try:
            _run_soffice(_soffice_command(sources, work / "out", profile), timeout)
        except ConversionError as err:
            logger.info("a batch of %d conversions failed (%s); each file is converted alone", len(sources), err)
        converted = {}
        for i, _kind, _data in wanted:
            try:
                converted[i] = _read_output(work / "out" / f"file{i}.docx")
            except ConversionError:
                continue
        if converted:
            _keep_as_template(profile)
    return converted


def _convertible(data: bytes, source_kind: str) -> bool:
    try:
        _check_input(data, source_kind)
    except ConversionError:
        return False
    return True


def _check_input(data: bytes, source_kind: str) -> None:
    """Refuse bytes that are not what they claim: soffice would import them as plain text."""
    if source_kind not in EXTENSIONS:
        raise ValueError(f"cannot convert source kind {source_kind!r}; expected one of {sorted(EXTENSIONS)}")
    found = sniff(data)
    if found.kind != source_kind:
        raise ConversionError(f"the attachment is not {_KIND_NAMES[source_kind]} ({found.detail})")
    if found.encrypted:
        raise ConversionError(f"the attachment is {_KIND_NAMES[source_kind]} protected by a password")


def _soffice_command(sources: Path | list[Path], outdir: Path, profile: Path) -> list[str]:
    return [
        SOFFICE,
        "--headless",
        "--norestore",
        "--nolockcheck",
        f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to",
        EXPORT_FILTER,
        "--outdir",
        str(outdir),
        *(str(source) for source in (sources if isinstance(sources, list) else [sources])),
    ]


def _run_soffice(command: list[str], timeout: float) -> None:
    """Run soffice in its own process group; on timeout kill the group (soffice forks soffice.bin)."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        _kill_group(process)
        raise ConversionTimeout(f"converting the attachment took longer than {timeout:g} s") from err
    except BaseException:
        _kill_group(process)
        raise
    finally:
        _signal_group(process.pid)  # soffice.bin may outlive the launcher; nothing may linger
    logger.debug("soffice exited %s: %s", process.returncode, output.decode("utf-8", "replace").strip())
    if process.returncode != 0:
        raise ConversionError(f"LibreOffice could not convert the attachment (exit status {process.returncode})")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole group and reap the leader."""
    _signal_group(process.pid)
    process.kill()
    process.communicate()


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_output(path: Path) -> bytes:
    """The docx soffice wrote, after checking that it wrote one (it exits 0 even when it did not)."""
    if not path.is_file():
        raise ConversionError("LibreOffice could not read the attachment (it produced no output)")
    output = path.read_bytes()
    if not output:
        raise ConversionError("LibreOffice produced an empty file from the attachment")
    if not _is_docx(output):
        raise ConversionError("LibreOffice did not produce a valid Word document from the attachment")
    return output


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "[Content_Types].xml" in names and "word/document.xml" in names


# --- user profiles -----------------------------------------------------------------------------


def _prepare_profile(work: Path) -> Path:
    """A private profile for this run: a copy of the template when there is one, else fresh."""
    profile = work / "profile"
    template = _template_profile
    if template is not None:
        try:
            shutil.copytree(template, profile, symlinks=True)
        except OSError as err:
            logger.info("could not copy the LibreOffice profile template (%s); using a fresh one", err)
            shutil.rmtree(profile, ignore_errors=True)
    return profile


def _keep_as_template(profile: Path) -> None:
    """Keep the first successful run's profile so later runs skip LibreOffice's first-start setup."""
    global _template_profile
    if _template_profile is not None or not profile.is_dir():
        return
    with _template_lock:
        if _template_profile is not None:
            return
        home = Path(tempfile.mkdtemp(prefix="soffice-template-"))
        atexit.register(shutil.rmtree, home, True)
        try:
            shutil.copytree(profile, home / "profile", symlinks=True)
        except OSError as err:
            logger.info("could not keep a LibreOffice profile template: %s", err)
            return
        _template_profile = home / "profile"
