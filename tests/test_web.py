"""The staff web pages over HTTP (Flask's test client): sign-in, roles, CSRF, headers, downloads,
corrections with their audit trail, and the figures agreeing with the CLI's report."""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import re
import subprocess
import sys
import time
import urllib.request

import openpyxl
import pytest
from builders.store_rows import CONFIDENTIAL_EMAIL, HOSTILE
from intake_env import REPO, run_intake
from servers import free_port
from sqlmodel import Session, select
from web_env import PASSWORD, QUEUED, Web, csrf_of, make_web, rewrite, sign_in, stored

from ingest.config import load_config
from ingest.errors import ConfigError
from ingest.web import auth
from ingest.web.app import create_app, exposure_warning
from store.db import make_engine, upgrade
from store.models import AuditEntry, Response, SignInAttempt, User
from store.summary import summarise

PAGES = ["/", "/report", "/report/full", "/review", f"/responses/{QUEUED}", f"/responses/{QUEUED}/files/0",
         "/exports", "/exports/responses.csv", "/exports/responses.xlsx", "/users", "/account/password"]  # fmt: skip


@pytest.fixture
def web(tmp_path) -> Web:
    return make_web(tmp_path)


def client_as(web: Web, name: str):  # type: ignore[no-untyped-def]
    client = web.app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


# ---- sign-in -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_but_login_needs_a_session(web: Web, path: str) -> None:
    response = web.app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sign_in_goes_to_the_page_asked_for_and_never_off_site(web: Web) -> None:
    client = web.app.test_client()
    assert sign_in(client, "rev", next_page="/exports").headers["Location"] == "/exports"
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        other = web.app.test_client()
        assert sign_in(other, "rev", next_page=evil).headers["Location"] == "/"


def test_session_cookie_is_signed_httponly_and_strict(web: Web) -> None:
    cookie = sign_in(web.app.test_client(), "rev").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert re.search(r"intake_session=[^;]+\.[^;]+\.[^;]+", cookie)  # itsdangerous: payload.time.signature


def test_cookie_is_secure_and_hsts_sent_behind_https(tmp_path) -> None:
    web = make_web(tmp_path, extra='[web]\nbase_url = "https://intake.example.gov.uk"\n')
    response = sign_in(web.app.test_client(), "rev")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_wrong_password_and_disabled_user_are_refused_alike(web: Web) -> None:
    client = web.app.test_client()
    wrong = sign_in(client, "rev", "not the password")
    assert wrong.status_code == 400 and "not right" in wrong.text
    with web.session() as s:
        auth.disable_user(s, "vera")
    assert sign_in(client, "vera").status_code == 400
    assert sign_in(client, "nobody").status_code == 400


def test_repeated_failures_slow_down_that_name_even_with_the_right_password(web: Web) -> None:
    client = web.app.test_client()
    for _ in range(auth.FREE_FAILURES_PER_NAME):
        assert sign_in(client, "rev", "guess").status_code == 400
    refused = sign_in(client, "rev")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert sign_in(client, "ada").status_code == 302  # another name from the same client still may


def test_repeated_failures_from_one_client_slow_down_every_name(web: Web) -> None:
    client = web.app.test_client()
    for n in range(auth.FREE_FAILURES_PER_CLIENT):
        assert sign_in(client, f"guess{n}", "guess").status_code == 400
    assert sign_in(client, "rev").status_code == 429


def test_wait_doubles_and_ends(web: Web) -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    with web.session() as s:
        for i in range(5):
            s.add(SignInAttempt(at=now - dt.timedelta(seconds=10 - i), name="rev", client="10.0.0.1"))
        s.commit()
        # five failures, three free: the last must be followed by 2**2 = 4 s of quiet
        assert auth.seconds_to_wait(s, "rev", "10.0.0.9", now) == 0  # the last failure was 6 s ago
        assert auth.seconds_to_wait(s, "rev", "10.0.0.9", now - dt.timedelta(seconds=4)) == 2
        assert auth.sign_in(s, "rev", PASSWORD, "10.0.0.9", now=now).user is not None
        assert not s.exec(select(SignInAttempt).where(SignInAttempt.name == "rev")).all()
        later = now + auth.FAILURE_WINDOW + dt.timedelta(seconds=1)
        assert auth.sign_in(s, "ada", "guess", "10.0.0.1", now=now).user is None
        assert auth.sign_in(s, "ada", "guess again", "10.0.0.1", now=later).user is None
        assert s.exec(select(SignInAttempt.at)).all() == [later]  # the old one forgotten


def test_sign_out_and_disabling_end_the_session_on_the_server(web: Web) -> None:
    client = client_as(web, "rev")
    stolen = client.get_cookie("intake_session").value
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/review").text)})
    thief = web.app.test_client()
    thief.set_cookie("intake_session", stolen)
    assert thief.get("/review").status_code == 302

    client = client_as(web, "rev")
    with web.session() as s:
        auth.disable_user(s, "rev")
    assert client.get("/review").status_code == 302


def test_a_one_time_password_must_be_changed_first(web: Web) -> None:
    admin = client_as(web, "ada")
    page = admin.post(
        "/users", data={"csrf_token": csrf_of(admin.get("/users").text), "name": "newbie", "role": "reviewer"}
    )
    one_time = re.search(r'id="one-time-password">([^<]+)<', page.text).group(1)
    newbie = web.app.test_client()
    assert sign_in(newbie, "newbie", one_time).status_code == 302
    assert newbie.get("/review").headers["Location"] == "/account/password"
    token = csrf_of(newbie.get("/account/password").text)
    short = newbie.post(
        "/account/password", data={"csrf_token": token, "current": one_time, "new": "short", "again": "short"}
    )
    assert short.status_code == 400 and "govuk-error-summary" in short.text
    new = "a much longer passphrase"
    changed = newbie.post(
        "/account/password", data={"csrf_token": token, "current": one_time, "new": new, "again": new}
    )
    assert changed.status_code == 302
    assert newbie.get("/review").status_code == 200
    assert sign_in(web.app.test_client(), "newbie", new).status_code == 302


# ---- roles -------------------------------------------------------------------------------------


REVIEWING = ["/review", f"/responses/{QUEUED}", f"/responses/{QUEUED}/files/0", "/exports", "/exports/responses.csv"]


@pytest.mark.parametrize(
    ("name", "allowed", "refused"),
    [
        ("vera", ["/report", "/report/full"], [*REVIEWING, "/users"]),
        ("rev", ["/report", *REVIEWING], ["/users"]),
        ("ada", ["/report", *REVIEWING, "/users"], []),
    ],
)
def test_roles(web: Web, name: str, allowed: list[str], refused: list[str]) -> None:
    client = client_as(web, name)
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        assert client.get(path).status_code == 403, path


def test_a_viewer_cannot_correct(web: Web) -> None:
    client = client_as(web, "vera")
    token = csrf_of(client.get("/report").text)
    assert client.post(f"/responses/{QUEUED}", data={"csrf_token": token, "q3.choice": "agree"}).status_code == 403


def test_admin_adds_and_disables_users(web: Web) -> None:
    admin = client_as(web, "ada")
    token = csrf_of(admin.get("/users").text)
    bad = admin.post("/users", data={"csrf_token": token, "name": "Bad Name!", "role": "reviewer"})
    assert bad.status_code == 400 and "govuk-error-summary" in bad.text
    assert admin.post("/users/vera/disable", data={"csrf_token": token}).status_code == 302
    with web.session() as s:
        assert s.exec(select(User).where(User.name == "vera")).one().disabled
    assert admin.post("/users/ada/disable", data={"csrf_token": token}).status_code == 302  # refused politely
    with web.session() as s:
        assert not s.exec(select(User).where(User.name == "ada")).one().disabled


# ---- CSRF and headers --------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_post_without_the_right_csrf_token_is_refused(web: Web, token: str | None) -> None:
    client = client_as(web, "rev")
    data = {"q3.choice": "agree", "action": "done"} | ({"csrf_token": token} if token else {})
    response = client.post(f"/responses/{QUEUED}", data=data)
    assert response.status_code == 400 and 'id="csrf-refused"' in response.text
    assert stored(web).status == "needs_review"
    assert web.app.test_client().post("/login", data={"name": "rev", "password": PASSWORD}).status_code == 400


def test_security_headers_and_no_store(web: Web) -> None:
    client = client_as(web, "rev")
    for path in ("/review", f"/responses/{QUEUED}", "/report", "/exports/responses.csv"):
        h = client.get(path).headers
        assert h["Cache-Control"] == "no-store", path
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    csp = client.get("/review").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    static = client.get("/static/govuk-frontend.min.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")


def test_pages_carry_no_inline_script(web: Web) -> None:
    client = client_as(web, "ada")
    for path in ("/login", "/review", f"/responses/{QUEUED}", "/report", "/exports", "/users"):
        html = client.get(path).text
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert all('src="/static/' in s for s in scripts), (path, scripts)
        assert " style=" not in html and "<style" not in html and " on" + "click=" not in html


def test_full_report_allows_only_its_own_style_block(web: Web) -> None:
    response = client_as(web, "vera").get("/report/full")
    csp = response.headers["Content-Security-Policy"]
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp) and "script-src" not in csp
    assert "default-src 'none'" in csp


# ---- what a respondent wrote -------------------------------------------------------------------


def test_everything_a_respondent_wrote_is_escaped(web: Web) -> None:
    rewrite(web, name=HOSTILE)
    client = client_as(web, "rev")
    for path in ("/review", f"/responses/{QUEUED}", "/report"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/responses/{QUEUED}").text


# ---- the queue ---------------------------------------------------------------------------------


def test_queue_filters_by_reason_and_searches(web: Web) -> None:
    client = client_as(web, "rev")
    assert QUEUED in client.get("/review").text
    assert 'value="Two boxes are marked"' in client.get("/review").text  # "Question 3: " left out
    assert QUEUED in client.get("/review", query_string={"reason": "Two boxes are marked"}).text
    assert QUEUED not in client.get("/review", query_string={"reason": "Something else"}).text
    for q in ("ct08-0002", "head teacher", "HEAD@school"):
        assert QUEUED in client.get("/review", query_string={"q": q}).text, q
    assert 'id="queue-empty"' in client.get("/review", query_string={"q": "nobody-at-all"}).text


def test_queue_marks_confidential_responses(web: Web) -> None:
    rewrite(web, confidential=True)
    client = client_as(web, "rev")
    assert "Confidential" in client.get("/review").text
    page = client.get(f"/responses/{QUEUED}").text
    assert 'id="confidential-tag"' in page and 'id="confidential"' in page


# ---- a response, corrected ---------------------------------------------------------------------


def test_correct_a_choice_and_mark_done(web: Web) -> None:
    client = client_as(web, "rev")
    page = client.get(f"/responses/{QUEUED}").text
    assert "Question 3: two boxes are marked" in page and "Read from the e-mail&#39;s text" in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {
        "csrf_token": csrf_of(page),
        "version": version,
        "q3.choice": "agree",
        "q1.choice": "agree",
        "action": "done",
    }
    response = client.post(f"/responses/{QUEUED}", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    queue = client.get("/review").text
    assert f'data-reference="{QUEUED}"' not in queue and "it has left the review queue" in queue
    with web.session() as s:
        row = s.exec(select(Response).where(Response.reference == QUEUED)).one()
        trail = s.exec(select(AuditEntry).where(AuditEntry.response_pk == row.id)).all()
    assert row.status == "filed" and row.answers["q1"]["choice"] == "agree"
    assert [(e.who, e.field, e.old, e.new) for e in trail][:1] == [("rev", "q1.choice", "not_sure", "agree")]
    assert {e.field for e in trail} == {"q1.choice", "status", "review_reasons"}  # q3 was already "agree"
    history = client.get(f"/responses/{QUEUED}").text
    assert 'id="history"' in history and "q1.choice" in history


def test_only_changed_fields_are_saved_and_text_keeps_its_lines(web: Web) -> None:
    client = client_as(web, "rev")
    page = client.get(f"/responses/{QUEUED}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {"csrf_token": csrf_of(page), "version": version, "q8.comment": "Line one\r\nLine two", "action": "save",
            "respondent.name": "Head Teacher", "confidential": "false"}  # fmt: skip
    assert client.post(f"/responses/{QUEUED}", data=form).status_code == 302
    with web.session() as s:
        row = s.exec(select(Response).where(Response.reference == QUEUED)).one()
        trail = s.exec(select(AuditEntry).where(AuditEntry.response_pk == row.id)).all()
    assert [(e.field, e.new) for e in trail] == [("q8.comment", "Line one\nLine two")]
    assert row.status == "needs_review"


def test_a_stale_form_is_refused(web: Web) -> None:
    client = client_as(web, "rev")
    page = client.get(f"/responses/{QUEUED}").text
    form = {"csrf_token": csrf_of(page), "version": "0", "q1.choice": "agree", "action": "save"}
    assert client.post(f"/responses/{QUEUED}", data=form).status_code == 302
    stale = client.post(f"/responses/{QUEUED}", data=form | {"q1.choice": "disagree"})
    assert stale.status_code == 409 and "Someone else changed this response" in stale.text


def test_an_invalid_value_is_reported_beside_its_field(web: Web) -> None:
    client = client_as(web, "rev")
    page = client.get(f"/responses/{QUEUED}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {"csrf_token": csrf_of(page), "version": version, "q1.choice": "strongly_agree", "action": "done"}
    response = client.post(f"/responses/{QUEUED}", data=form)
    assert response.status_code == 400
    assert 'href="#q1-choice"' in response.text and 'id="q1-choice-error"' in response.text
    assert stored(web).status == "needs_review"


def test_unknown_reference_is_not_found(web: Web) -> None:
    assert client_as(web, "rev").get("/responses/CT08-99999").status_code == 404


# ---- downloads ---------------------------------------------------------------------------------


def test_originals_download_as_attachments_with_safe_names(web: Web) -> None:
    client = client_as(web, "rev")
    eml = client.get(f"/responses/{QUEUED}/files/0")
    assert eml.headers["Content-Disposition"] == "attachment; filename=message.eml"
    assert eml.headers["Content-Type"] == "application/octet-stream" and eml.data.startswith(b"From:")
    attached = client.get(f"/responses/{QUEUED}/files/1")
    disposition = attached.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "/" not in disposition and ".." not in disposition
    assert attached.data == b"PK\x03\x04 fake docx"
    assert "sandbox" in attached.headers["Content-Security-Policy"]
    assert client.get(f"/responses/{QUEUED}/files/9").status_code == 404


def test_exports_match_the_cli(web: Web, tmp_path) -> None:
    client = client_as(web, "rev")
    page = client.get("/exports").text
    assert "1 of them is confidential" in page
    got = client.get("/exports/responses.csv")
    assert got.headers["Content-Disposition"].startswith("attachment; filename=responses-")
    rows = list(csv.DictReader(io.StringIO(got.data.decode("utf-8-sig"), newline="")))
    assert f"{len(rows)} responses." in page
    assert run_intake(web.config_path, "export", "--format", "csv", "--output", str(tmp_path / "cli.csv")) == 0
    with open(tmp_path / "cli.csv", encoding="utf-8-sig", newline="") as f:
        assert rows == list(csv.DictReader(f))
    without = client.get("/exports/responses.csv", query_string={"confidential": "exclude"}).data.decode("utf-8-sig")
    assert CONFIDENTIAL_EMAIL in got.data.decode("utf-8-sig") and CONFIDENTIAL_EMAIL not in without
    xlsx = client.get("/exports/responses.xlsx")
    assert xlsx.headers["Content-Disposition"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data))["Responses"]
    assert sheet.max_row == len(rows) + 1
    assert client.get("/exports/responses.pdf").status_code == 404


# ---- the report --------------------------------------------------------------------------------


def test_report_figures_match_intake_report(web: Web) -> None:
    html = client_as(web, "vera").get("/report").text
    figure = dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', html))
    with web.session() as s:
        summary = summarise(s, web.config.form)
    assert figure["all.messages"] == str(summary.messages)
    assert figure["all.responses"] == str(summary.responses)
    assert figure["all.filed"] == str(summary.filed)
    assert figure["all.needs_review"] == str(len(summary.needs_review))
    assert figure["all.late"] == str(summary.late)


# ---- the commands ------------------------------------------------------------------------------


def test_user_commands(web: Web, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert run_intake(web.config_path, "user", "add", "carol", "--role", "reviewer") == 0
    assert sign_in(web.app.test_client(), "carol", "a long enough password").status_code == 302
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run_intake(web.config_path, "user", "add", "dave", "--role", "viewer") == 2
    capsys.readouterr()
    assert run_intake(web.config_path, "user", "list") == 0
    listed = capsys.readouterr().out
    assert re.search(r"carol\s+reviewer\s+active", listed) and "dave" not in listed
    assert run_intake(web.config_path, "user", "disable", "carol") == 0
    assert run_intake(web.config_path, "user", "disable", "nobody") == 2
    with pytest.raises(SystemExit):
        run_intake(web.config_path, "user", "add", "eve", "--role", "viewer", "--password", "x")


def test_web_config_is_checked(tmp_path) -> None:
    web = make_web(tmp_path)
    for bad, key in (
        ("port = 0", "[web] port"),
        ('base_url = "ftp://x"', "[web] base_url"),
        ("colour = 1", "[web] colour"),
    ):
        web.config_path.write_text(web.config_path.read_text() + f"\n[web]\n{bad}\n")
        with pytest.raises(ConfigError, match=re.escape(key)):
            load_config(web.config_path)
        web.config_path.write_text(web.config_path.read_text().rsplit("\n[web]", 1)[0])


@pytest.mark.parametrize(
    ("web_section", "warned"),
    [("", False), ('host = "0.0.0.0"', True), ('host = "0.0.0.0"\nbase_url = "https://intake.example.gov.uk"', False)],
)
def test_serving_beyond_loopback_without_https_is_warned_about(tmp_path, web_section: str, warned: bool) -> None:
    web = make_web(tmp_path, extra=f"[web]\n{web_section}\n")
    assert (exposure_warning(web.config) is not None) == warned


def test_secret_key_from_file_or_environment(tmp_path, monkeypatch) -> None:
    web = make_web(tmp_path)
    (tmp_path / "secret").write_text("too short")
    web.config_path.write_text(web.config_path.read_text() + '\n[web]\nsecret_key_file = "secret"\n')
    config = load_config(web.config_path)
    with pytest.raises(ConfigError, match="secret_key_file"):
        create_app(config, web.engine)
    (tmp_path / "secret").write_text("k" * 40)
    assert create_app(config, web.engine).secret_key == "k" * 40
    monkeypatch.setenv("INTAKE_WEB_SECRET_KEY", "e" * 40)
    assert create_app(config, web.engine).secret_key == "e" * 40


# ---- the real process and PostgreSQL -----------------------------------------------------------


def test_intake_web_serves_from_a_real_process(web: Web) -> None:
    port = free_port()
    web.config_path.write_text(web.config_path.read_text() + f"\n[web]\nport = {port}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "--config", str(web.config_path), "web"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/review", proc)
        assert page.url.endswith("/login?next=/review")
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"127.0.0.1:{port}" in err.decode()


def _get_when_up(url: str, proc: subprocess.Popen) -> http.client.HTTPResponse:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_users_and_sessions_on_postgresql(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        with Session(engine) as s:
            auth.add_user(s, "pat", "reviewer", PASSWORD)
            assert auth.sign_in(s, "pat", "wrong password", "10.0.0.1").user is None
            user = auth.sign_in(s, "pat", PASSWORD, "10.0.0.1").user
            assert user is not None
            token = auth.start_session(s, user)
            assert auth.session_user(s, token).name == "pat"
            auth.disable_user(s, "pat")
            assert auth.session_user(s, token) is None
    finally:
        engine.dispose()
