"""Shared fixtures. The real-server fixtures live in tests/servers.py and are registered here."""

from servers import (  # noqa: F401  (pytest finds fixtures by name)
    clean_dovecot,
    clean_dovecot_dotted,
    dovecot,
    dovecot_dotted,
    pg_url,
    smtp_auth_server,
    smtp_server,
)
