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
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from parsers.formdef import DEFAULT_FORM_PATH, FormDefinition, load_form


@pytest.fixture(scope="session")
def form() -> FormDefinition:
    """The consultation's form definition, as the product ships it."""
    return load_form(DEFAULT_FORM_PATH)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the test runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A database holding every disposition, status and acknowledgement state (builders.store_rows)."""
    yield from populated_session(tmp_path)
