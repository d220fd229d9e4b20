"""Staff accounts, browser sessions and the slowing-down of failed sign-ins.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed on sign-in when those change).
A browser session is a random token in the signed cookie; the database keeps only its SHA-256, so
signing out, disabling a user or changing a password ends sessions on the server, not just in the
browser. Failed sign-ins are counted per name and per client over a window: past a few free
failures each further try must wait twice as long as the last (1 s, 2 s, 4 s ... up to 15 min).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, select

from store.models import Role, SignInAttempt, User, WebSession, utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
RANK = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}
FAILURE_WINDOW = dt.timedelta(minutes=15)
FREE_FAILURES_PER_NAME = 3
FREE_FAILURES_PER_CLIENT = 10
MAX_WAIT_SECONDS = 900
IDLE_TIMEOUT = dt.timedelta(hours=1)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # verified for unknown names, so timing tells nothing


class AccountError(ValueError):
    """A user name, role or password that cannot be accepted, or an unknown user."""


# ---- accounts ----------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise AccountError(f"{name!r}: a user name is 1-63 lower-case letters, digits, dots, dashes or underscores")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if password != password.strip() or "\n" in password:
        raise AccountError("a password cannot start or end with a space or hold a line break")
    return password


def add_user(session: Session, name: str, role: str, password: str, *, must_change: bool = False) -> User:
    check_name(name)
    if role not in Role.ALL:
        raise AccountError(f"role {role!r} is not one of {', '.join(Role.ALL)}")
    check_password(password)
    if session.exec(select(User).where(User.name == name)).first():
        raise AccountError(f"a user called {name!r} already exists")
    user = User(name=name, role=role, password_hash=_hasher.hash(password), must_change_password=must_change)
    session.add(user)
    session.commit()
    session.refresh(user)
    log.info("user %s added with role %s", name, role)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.name))).all())


def find_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise AccountError(f"no user called {name!r}")
    return user


def disable_user(session: Session, name: str) -> User:
    """Disable a user and end every session of theirs."""
    user = find_user(session, name)
    user.disabled = True
    session.add(user)
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id))  # type: ignore[call-overload]
    session.commit()
    log.info("user %s disabled", name)
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """A new password; the user's other sessions end."""
    check_password(password)
    user.password_hash = _hasher.hash(password)
    user.must_change_password = False
    session.add(user)
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id))  # type: ignore[call-overload]
    session.commit()


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def may(user: User, role: str) -> bool:
    """Whether the user's role includes what `role` may do (viewer < reviewer < admin)."""
    return RANK.get(user.role, -1) >= RANK[role]


# ---- signing in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    user: User | None
    wait_seconds: int = 0  # > 0: refused without looking at the password; try again after this


def sign_in(session: Session, name: str, password: str, client: str, now: dt.datetime | None = None) -> SignIn:
    """Check a name and password, unless this name or client must wait; a failure is recorded."""
    now = now or utcnow()
    name, client = name.strip().lower()[:100], client[:100]
    wait = seconds_to_wait(session, name, client, now)
    if wait:
        log.warning("sign-in for %r from %s refused: %d s to wait", name, client, wait)
        return SignIn(None, wait)
    user = session.exec(select(User).where(User.name == name)).first()
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None or user.disabled:
        _forget_old(session, now)
        session.add(SignInAttempt(at=now, name=name, client=client))
        session.commit()
        log.warning("failed sign-in for %r from %s", name, client)
        return SignIn(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_sign_in_at = now
    session.add(user)
    session.exec(delete(SignInAttempt).where(col(SignInAttempt.name) == name))  # type: ignore[call-overload]
    _forget_old(session, now)
    session.commit()
    log.info("%s signed in from %s", name, client)
    return SignIn(user)


def _forget_old(session: Session, now: dt.datetime) -> None:
    """Drop failures that no longer count and sessions past their absolute lifetime, so neither table grows."""
    session.exec(delete(SignInAttempt).where(col(SignInAttempt.at) < now - FAILURE_WINDOW))  # type: ignore[call-overload]
    session.exec(delete(WebSession).where(col(WebSession.created_at) < now - ABSOLUTE_TIMEOUT))  # type: ignore[call-overload]


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def seconds_to_wait(session: Session, name: str, client: str, now: dt.datetime) -> int:
    since = now - FAILURE_WINDOW
    by_name = _failures(session, col(SignInAttempt.name) == name, since)
    by_client = _failures(session, col(SignInAttempt.client) == client, since)
    return max(_wait(by_name, FREE_FAILURES_PER_NAME, now), _wait(by_client, FREE_FAILURES_PER_CLIENT, now))


def _failures(session: Session, where, since: dt.datetime) -> list[dt.datetime]:  # type: ignore[no-untyped-def]
    rows = session.exec(select(SignInAttempt.at).where(where, col(SignInAttempt.at) >= since)).all()
    return sorted(_aware(at) for at in rows)


def _wait(failures: list[dt.datetime], free: int, now: dt.datetime) -> int:
    """Seconds still to wait: none for the first `free` failures, then 1, 2, 4 ... after the last one."""
    if len(failures) < free:
        return 0
    delay = min(2 ** (len(failures) - free), MAX_WAIT_SECONDS)
    remaining = (failures[-1] + dt.timedelta(seconds=delay) - now).total_seconds()
    return max(0, int(remaining + 0.999))


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


# ---- browser sessions --------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new session for the user; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    session.add(WebSession(token_hash=_digest(token), user_id=user.id))
    session.commit()
    return token


def session_user(session: Session, token: str, now: dt.datetime | None = None) -> User | None:
    """The signed-in user of a token, or None when it is unknown, expired, or the user is disabled."""
    now = now or utcnow()
    row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    expired = now - _aware(row.last_seen_at) > IDLE_TIMEOUT or now - _aware(row.created_at) > ABSOLUTE_TIMEOUT
    if user is None or user.disabled or expired:
        session.delete(row)
        session.commit()
        return None
    if now - _aware(row.last_seen_at) > dt.timedelta(minutes=1):
        row.last_seen_at = now
        session.add(row)
        session.commit()
    return user


def end_session(session: Session, token: str) -> None:
    session.exec(delete(WebSession).where(col(WebSession.token_hash) == _digest(token)))  # type: ignore[call-overload]
    session.commit()
