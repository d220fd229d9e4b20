"""The Flask application: configuration, the sign-in gate, CSRF, security headers, and serving.

Why Flask (through waitress): the service and its database layer are synchronous (SQLModel
sessions), so a WSGI framework fits without threads-in-async adapters; Flask brings Jinja2 (the
project's template engine), signed cookie sessions and a test client, and waitress is a maintained
pure-Python production server with no C build and no reverse-proxy requirement for loopback use.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, redirect, request, session, url_for
from sqlalchemy import Engine
from sqlmodel import Session
from werkzeug.wrappers import Response as WsgiResponse

from ingest.config import WEB_SECRET_ENV, Config
from ingest.errors import ConfigError
from ingest.web import auth
from store.report_html import environment as report_environment

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ASSET_ENDPOINTS = {"static", "views.assets", "views.favicon"}
PUBLIC_ENDPOINTS = {"views.login", *ASSET_ENDPOINTS}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
MIN_SECRET = 32


def secret_key(config: Config) -> str:
    """The cookie-signing key: INTAKE_WEB_SECRET_KEY, else [web] secret_key_file, else random per start."""
    from_env = os.environ.get(WEB_SECRET_ENV, "")
    if from_env:
        if len(from_env) < MIN_SECRET:
            raise ConfigError(f"{WEB_SECRET_ENV}: needs at least {MIN_SECRET} characters")
        return from_env
    name = config.settings.web.secret_key_file
    if not name:
        log.warning("no [web] secret_key_file or %s: sessions end when the server restarts", WEB_SECRET_ENV)
        return secrets.token_urlsafe(48)
    try:
        key = config.path(name).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"[web] secret_key_file: {config.path(name)}: {err.strerror}") from err
    if len(key) < MIN_SECRET:
        raise ConfigError(f"[web] secret_key_file: {config.path(name)} needs at least {MIN_SECRET} characters")
    return key


def base_url(config: Config) -> str:
    web = config.settings.web
    return web.base_url or f"http://{web.host}:{web.port}"


def create_app(config: Config, engine: Engine) -> Flask:
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    https = base_url(config).startswith("https://")
    app.config.update(
        SECRET_KEY=secret_key(config),
        SESSION_COOKIE_NAME="intake_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=https,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.extensions["intake"] = {"config": config, "engine": engine, "https": https}
    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    shipped = report_environment().filters  # the report's own formatting of dates and labels
    app.jinja_env.filters.update(when=shipped["when"], label=shipped["label"])
    from ingest.web.views import register

    register(app)
    app.before_request(_open_db)
    app.before_request(_require_sign_in)
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.teardown_request(_close_db)
    app.context_processor(lambda: {"csrf_token": csrf_token(), "user": g.get("user"), "may": auth.may})
    return app


def config_of(app: Flask | None = None) -> Config:
    from flask import current_app

    return (app or current_app).extensions["intake"]["config"]


def _open_db() -> None:
    from flask import current_app

    g.db = Session(current_app.extensions["intake"]["engine"])
    g.user = None
    if request.endpoint in ASSET_ENDPOINTS:
        return
    token = session.get("sid")
    if isinstance(token, str):
        g.user = auth.session_user(g.db, token)
        if g.user is None:
            session.pop("sid", None)


def _close_db(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def _require_sign_in() -> WsgiResponse | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if g.user is None:
        return redirect(url_for("views.login", next=request.full_path.rstrip("?")))
    if g.user.must_change_password and request.endpoint not in ("views.password", "views.logout"):
        return redirect(url_for("views.password"))
    return None


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not (isinstance(expected, str) and sent and hmac.compare_digest(sent, expected)):
        log.warning("%s %s refused: missing or wrong CSRF token", request.method, request.path)
        abort(400, description="csrf")


def _security_headers(response: WsgiResponse) -> WsgiResponse:
    from flask import current_app

    headers: dict[str, Any] = {
        "Content-Security-Policy": response.headers.get("Content-Security-Policy", CSP),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if current_app.extensions["intake"]["https"]:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint not in ASSET_ENDPOINTS:
        headers["Cache-Control"] = "no-store"  # every page but the shipped assets can hold personal data
        headers["Pragma"] = "no-cache"
    response.headers.update(headers)
    return response


def exposure_warning(config: Config) -> str | None:
    """A warning when passwords and personal data would cross the network unencrypted."""
    web = config.settings.web
    loopback = web.host in ("127.0.0.1", "::1", "localhost")
    if loopback or base_url(config).startswith("https://"):
        return None
    return (
        f"[web] host {web.host} is reachable from other machines but base_url is not https: "
        "put a TLS-terminating proxy in front and set base_url to its https:// address"
    )


def serve(config: Config, engine: Engine) -> int:
    """Serve the staff pages with waitress until SIGINT/SIGTERM."""
    from waitress import serve as waitress_serve

    web = config.settings.web
    app = create_app(config, engine)
    if warning := exposure_warning(config):
        log.warning("%s", warning)
    log.info("staff pages at %s (listening on %s:%d)", base_url(config), web.host, web.port)
    waitress_serve(app, host=web.host, port=web.port, threads=web.threads, ident="intake")
    return 0
