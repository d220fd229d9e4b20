"""The pages. Each view reads through store/ (the same functions as the CLI) and renders a template.

Who sees what: viewers the report; reviewers also the queue, the responses, their originals,
corrections and the exports; admins also the users page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    session,
    url_for,
)
from sqlmodel import col, select

from ingest.web import auth, present
from ingest.web.app import HERE, config_of
from store.export import iter_responses, response_record
from store.figures import answer_counts, headline_counts
from store.models import Acknowledgement, AuditEntry, Message, Role
from store.models import Response as ResponseRow
from store.report_html import gather, render_report
from store.review import ReviewError, apply_corrections, audit_trail, find_response, found_fields, original_files
from store.tabular import write_csv, write_xlsx

bp = Blueprint("views", __name__)
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, _error_page)


def requires(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not auth.may(g.user, role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _error_page(err: Any) -> tuple[str, int]:
    code = getattr(err, "code", 500)
    return render_template("error.html", code=code, csrf=getattr(err, "description", "") == "csrf"), code


@bp.route("/assets/<path:name>")
def assets(name: str) -> Response:
    """govuk-frontend's CSS refers to its fonts and images at /assets/."""
    return send_from_directory(HERE / "static" / "assets", name, max_age=86400)


@bp.route("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on pages that name none (the full report)."""
    return send_from_directory(HERE / "static" / "assets" / "images", "favicon.ico", max_age=86400)


# ---- signing in and out ------------------------------------------------------------------------


@bp.route("/")
def home() -> Response:
    return redirect(url_for("views.queue" if auth.may(g.user, Role.REVIEWER) else "views.report"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = _safe_next(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("login.html", next=target, errors={}, name="")
    name = request.form.get("name", "")
    password = request.form.get("password", "")
    errors = {}
    if not name.strip():
        errors["name"] = "Enter your user name"
    if not password:
        errors["password"] = "Enter your password"
    if errors:
        return render_template("login.html", next=target, errors=errors, name=name), 400
    result = auth.sign_in(g.db, name, password, request.remote_addr or "?")
    if result.wait_seconds:
        msg = f"Too many failed sign-ins. Wait {result.wait_seconds} seconds, then try again"
        return render_template("login.html", next=target, errors={"name": msg}, name=name), 429
    if result.user is None:
        msg = "The user name or password is not right, or the account is disabled"
        return render_template("login.html", next=target, errors={"name": msg}, name=name), 400
    session.clear()  # a fresh cookie and CSRF token: nothing set before sign-in carries over
    session["sid"] = auth.start_session(g.db, result.user)
    return redirect(target or url_for("views.home"))


def _safe_next(target: str) -> str:
    """Only a path on this site: never another host (`//evil`, `https://evil`, `/\\evil`)."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith(("//", "/\\")) or parts.scheme or parts.netloc:
        return ""
    return target


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    token = session.get("sid")
    if isinstance(token, str):
        auth.end_session(g.db, token)
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("views.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Any:
    if request.method == "GET":
        return render_template("password.html", errors={})
    errors = {}
    if not auth.sign_in(g.db, g.user.name, request.form.get("current", ""), request.remote_addr or "?").user:
        errors["current"] = "Your current password is not right"
    new, again = request.form.get("new", ""), request.form.get("again", "")
    try:
        auth.check_password(new)
    except auth.AccountError as err:
        errors["new"] = str(err)[:1].upper() + str(err)[1:]
    if not errors.get("new") and new != again:
        errors["again"] = "The two new passwords are not the same"
    if errors:
        return render_template("password.html", errors=errors), 400
    auth.set_password(g.db, g.user, new)
    session.clear()
    session["sid"] = auth.start_session(g.db, g.user)
    flash("Your password has been changed.")
    return redirect(url_for("views.home"))


# ---- the report --------------------------------------------------------------------------------


@bp.route("/report")
@requires(Role.VIEWER)
def report() -> str:
    config = config_of()
    data = gather(g.db, config.form, interval_seconds=config.settings.schedule.interval_seconds)
    return render_template("report.html", d=data)


@bp.route("/report/full")
@requires(Role.VIEWER)
def report_full() -> Response:
    """The report exactly as `intake report --html` writes it; its one inline style block is allowed by hash."""
    config = config_of()
    html = render_report(g.db, config.form, interval_seconds=config.settings.schedule.interval_seconds)
    hashes = " ".join(f"'sha256-{_sha256(m)}'" for m in _STYLE.findall(html))
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {hashes}; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return response


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


# ---- the queue ---------------------------------------------------------------------------------


@bp.route("/review")
@requires(Role.REVIEWER)
def queue() -> str:
    form = config_of().form
    queued = [r for r in iter_responses(g.db, form) if r["status"] == "needs_review"]
    reason = request.args.get("reason", "")
    query = request.args.get("q", "")
    shown = [r for r in queued if present.matches(r, reason, query)]
    return render_template(
        "queue.html",
        shown=shown,
        total=len(queued),
        kinds=present.reason_kinds(queued),
        reason=reason,
        q=query,
        kind_of=present.reason_kind,
    )


# ---- one response ------------------------------------------------------------------------------


@bp.route("/responses/<reference>", methods=["GET", "POST"])
@requires(Role.REVIEWER)
def response(reference: str) -> Any:
    form = config_of().form
    row, msg = _response_and_message(reference)
    record = response_record(row, msg, form)
    current = present.editable_values(record, form, row.acknowledge_email)
    if request.method == "GET":
        return _response_page(row, msg, record, errors=[], values=current)
    if request.form.get("version", "") != _version(row):
        error = ("", "Someone else changed this response after you opened it. Your changes were not saved: "
                 "look at its history below, then make them again.")  # fmt: skip
        return _response_page(row, msg, record, errors=[error], values=current), 409
    settings = present.correction_settings(record, form, request.form, row.acknowledge_email)
    done = request.form.get("action") == "done"
    try:
        apply_corrections(g.db, form, reference, settings, who=g.user.name, done=done)
    except ReviewError as err:
        g.db.rollback()
        field = str(err).split(":", 1)[0]
        posted = {key: request.form.get(key, value) for key, value in current.items()}
        return _response_page(row, msg, record, errors=[(field, str(err))], values=posted), 400
    changed = f"{len(settings)} change{'s' if len(settings) != 1 else ''} saved"
    flash(f"{reference}: {changed}" + (" and marked done: it has left the review queue." if done else "."))
    return redirect(url_for("views.queue") if done else url_for("views.response", reference=reference))


def _response_and_message(reference: str) -> tuple[ResponseRow, Message]:
    try:
        row = find_response(g.db, reference)
    except ReviewError:
        abort(404)
    msg = g.db.get(Message, row.message_pk)
    assert msg is not None
    return row, msg


def _version(row: ResponseRow) -> str:
    """What the form was made from: the newest audit entry (a correction by anyone changes it)."""
    query = select(col(AuditEntry.id)).where(AuditEntry.response_pk == row.id).order_by(col(AuditEntry.id).desc())
    last = g.db.exec(query).first()
    return str(last or 0)


def _response_page(
    row: ResponseRow, msg: Message, record: dict[str, Any], *, errors: list[tuple[str, str]], values: dict[str, str]
) -> str:
    form = config_of().form
    ack = g.db.exec(select(Acknowledgement).where(Acknowledgement.message_pk == msg.id)).first()
    files = original_files(g.db, record["reference"])
    history = audit_trail(g.db, row)
    return render_template(
        "response.html",
        r=record,
        row=row,
        msg=msg,
        ack=ack,
        form=form,
        placed=present.place_reasons(record["review_reasons"], form),
        choices=present.choice_lists(form),
        files=[(n, name, len(data)) for n, (name, data) in enumerate(files)],
        text=present.message_text(msg.raw),
        history=history,
        hints=present.read_from_hints(found_fields(row), history),
        errors=errors,
        values=values,
        version=_version(row),
    )


@bp.route("/responses/<reference>/files/<int:n>")
@requires(Role.REVIEWER)
def original_file(reference: str, n: int) -> Response:
    """One file of the stored original, always as a download, never shown in the browser."""
    _response_and_message(reference)
    files = original_files(g.db, reference)
    if not 0 <= n < len(files):
        abort(404)
    name, data = files[n]
    response = send_file(
        io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True, download_name=name, max_age=0
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ---- exports -----------------------------------------------------------------------------------


@bp.route("/exports")
@requires(Role.REVIEWER)
def exports() -> str:
    counts = headline_counts(g.db)
    return render_template("exports.html", total=counts["respondents"], confidential=counts["confidential"])


@bp.route("/exports/responses.<fmt>")
@requires(Role.REVIEWER)
def export_file(fmt: str) -> Response:
    form = config_of().form
    exclude = request.args.get("confidential") == "exclude"
    records = iter_responses(g.db, form, exclude_confidential=exclude)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    suffix = "-without-confidential" if exclude else ""
    if fmt == "csv":
        out = io.StringIO(newline="")
        write_csv(records, form, out)
        data, mimetype = out.getvalue().encode("utf-8"), "text/csv"
    elif fmt == "xlsx":
        buf = io.BytesIO()
        write_xlsx(records, form, buf, answer_counts(g.db, published=exclude))
        data, mimetype = buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    name = f"responses-{stamp}{suffix}.{fmt}"
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)


# ---- users -------------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@requires(Role.ADMIN)
def users() -> Any:
    if request.method == "GET":
        return render_template("users.html", users=auth.list_users(g.db), errors={}, added=None, roles=Role.ALL)
    name = request.form.get("name", "").strip().lower()
    role = request.form.get("role", "")
    one_time = auth.one_time_password()
    try:
        auth.add_user(g.db, name, role, one_time, must_change=True)
    except auth.AccountError as err:
        g.db.rollback()
        field = "role" if "role" in str(err) else "name"
        errors = {field: str(err)}
        page = render_template("users.html", users=auth.list_users(g.db), errors=errors, added=None, roles=Role.ALL)
        return page, 400
    added = (name, role, one_time)
    return render_template("users.html", users=auth.list_users(g.db), errors={}, added=added, roles=Role.ALL)


@bp.route("/users/<name>/disable", methods=["POST"])
@requires(Role.ADMIN)
def disable(name: str) -> Response:
    if name == g.user.name:
        flash("You cannot disable your own account.")
        return redirect(url_for("views.users"))
    try:
        auth.disable_user(g.db, name)
    except auth.AccountError:
        abort(404)
    flash(f"{name} is disabled and signed out everywhere.")
    return redirect(url_for("views.users"))
