"""The staff web pages on a populated database (builders.store_rows), with one user of each role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from builders.store_rows import populate
from flask import Flask
from flask.testing import FlaskClient
from intake_env import write_config
from sqlalchemy import Engine
from sqlmodel import Session, select

from ingest.config import Config, load_config
from ingest.web import auth
from ingest.web.app import create_app
from store.db import make_engine, upgrade
from store.models import Response as ResponseRow

# The tests hash with argon2id's cheapest parameters: the defaults cost about half a second a hash
# on a busy 2-core machine, and every test adds three users and signs in.
auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
auth._DUMMY_HASH = auth._hasher.hash("not anyone's password")

PASSWORD = "correct horse battery staple"
USERS = {"vera": "viewer", "rev": "reviewer", "ada": "admin"}
QUEUED = "CT08-00020"  # the response of the populated database that needs review
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Web:
    app: Flask
    config: Config
    engine: Engine
    config_path: Path

    def session(self) -> Session:
        return Session(self.engine)


def make_web(tmp_path: Path, *, extra: str = "") -> Web:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        populate(s)
        for name, role in USERS.items():
            auth.add_user(s, name, role, PASSWORD)
    path = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=url,
        extra=extra,
    )
    config = load_config(path)
    return Web(create_app(config, engine), config, engine, path)


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, next_page: str = "") -> object:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "name": name, "password": password, "next": next_page})


def stored(web: Web, reference: str = QUEUED) -> ResponseRow:
    """The response row as the database holds it now."""
    with web.session() as s:
        return s.exec(select(ResponseRow).where(ResponseRow.reference == reference)).one()


def rewrite(web: Web, reference: str = QUEUED, **fields: object) -> None:
    """Change stored fields of a response directly, as a hostile or unusual message would have filed them."""
    with web.session() as s:
        row = s.exec(select(ResponseRow).where(ResponseRow.reference == reference)).one()
        for key, value in fields.items():
            setattr(row, key, value)
        s.add(row)
        s.commit()
