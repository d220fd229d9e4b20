"""Shared fixtures. The real-server fixtures live in tests/servers.py and are registered here."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders.store_rows import populated_session
from servers import (  # noqa: F401  (pytest finds fixtures by name)
    clean_dovecot,
    clean_dovecot_dotted,
    dovecot,
    dovecot_dotted,
    pg_url,
    smtp_auth_server,
    smtp_server,
)
from sqlmodel import Session

from parsers.formdef import DEFAULT_FORM_PATH, FormDefinition, load_form


@pytest.fixture(scope="session")
def form() -> FormDefinition:
    """The consultation's form definition, as the product ships it."""
    return load_form(DEFAULT_FORM_PATH)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A database holding every disposition, status and acknowledgement state (builders.store_rows)."""
    yield from populated_session(tmp_path)
