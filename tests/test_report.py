"""The HTML staff report: figures agree with the export records, hostile text stays text, the
published view hides confidential responses and personal data, and Chromium renders it cleanly.

The populated database here (`populate`) is shared with tests/test_tabular.py and tests/test_review.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from builders.store_rows import CAMPAIGN_TEXT, CONFIDENTIAL_EMAIL, CONFIDENTIAL_MARK, HOSTILE, NOW
from lxml import html as lxml_html
from rapidfuzz import fuzz
from sqlmodel import Session

from parsers.formdef import FormDefinition
from store.campaigns import CONTAINMENT, THRESHOLD, find_campaigns, normalise
from store.db import make_engine, upgrade
from store.export import iter_messages, iter_responses
from store.models import Cycle
from store.report_html import assess_health, daily_chart, percent, render_report


def figures(page: str) -> dict[str, str]:
    """Every element marked data-figure, by its key (qualified by the row id inside the row tables)."""
    tree = lxml_html.fromstring(page)
    out = {}
    for el in tree.xpath("//*[@data-figure]"):
        key = el.get("data-figure")
        row = el.xpath("ancestor::tr[@data-id][1]")
        table = el.xpath("ancestor::table[@id][1]")
        if row and table:
            key = f"{table[0].get('id')}.{row[0].get('data-id')}.{key}"
        out[key] = el.text_content().strip()
    return out


def expected_question_figures(records: list[dict], form: FormDefinition) -> dict[str, str]:
    out = {}
    for q in form.questions:
        choices = [r["answers"][q.id]["choice"] for r in records]
        if q.scale:
            out[f"{q.id}.answered"] = str(sum(c is not None for c in choices))
            for c in form.scale:
                out[f"{q.id}.{c.id}"] = str(choices.count(c.id))
        out[f"{q.id}.commented"] = str(sum(bool(r["answers"][q.id]["comment"]) for r in records))
    return out


# ---- the tests ---------------------------------------------------------------------------------


def test_intake_figures_match_the_message_export(session: Session, form: FormDefinition) -> None:
    page = render_report(session, form, now=NOW)
    shown = figures(page)
    messages = list(iter_messages(session))
    responses = list(iter_responses(session, form))
    assert shown["all.messages"] == str(len(messages))
    for d in ("duplicate", "auto_reply", "bounce", "junk", "correspondence", "failed"):
        assert shown[f"all.{d}"] == str(sum(m["disposition"] == d for m in messages)), d
    for a in ("sent", "pending", "failed", "suppressed"):
        assert shown[f"all.ack_{a}"] == str(sum(m["acknowledgement"]["status"] == a for m in messages)), a
    assert shown["all.responses"] == str(len(responses))
    assert shown["all.filed"] == str(sum(r["status"] == "filed" for r in responses))
    assert shown["all.needs_review"] == "1"
    assert shown["all.late"] == "2"
    assert (shown["last.messages"], shown["last.responses"], shown["last.late"]) == ("5", "2", "2")
    assert (shown["last.duplicate"], shown["last.failed"], shown["last.junk"]) == ("1", "1", "0")


def test_results_figures_match_the_response_export(session: Session, form: FormDefinition) -> None:
    shown = figures(render_report(session, form, now=NOW))
    records = list(iter_responses(session, form))
    for key, value in expected_question_figures(records, form).items():
        assert shown[key] == value, key
    assert shown["respondents"] == str(len(records))
    assert shown["confidential"] == "1"
    assert (shown["ack_requested"], shown["ack_requested_sent"]) == ("3", "2")
    assert (shown["contact_yes"], shown["contact_no"]) == ("2", "1")
    assert shown["categories-table.parent.count"] == "3"
    assert shown["categories-table.none.count"] == "1"
    assert shown["channels-table.body.count"] == "4"
    assert shown["campaign.size"] == "3"


def test_percentages_follow_the_dcsf_layout(session: Session, form: FormDefinition) -> None:
    tree = lxml_html.fromstring(render_report(session, form, now=NOW))
    row = tree.xpath("//div[@data-question='q1']//tr[@data-choice='agree']")[0]
    cells = [td.text_content() for td in row.xpath("td")]
    # q1: 4 answering (agree 2, disagree 1, not sure 1) of 8 respondents
    assert cells == ["Agree", "2", f"{percent(2, 4)}%", f"{percent(2, 8)}%"]
    assert "There were 4 responses to this question" in tree.text_content()


def test_hostile_text_is_shown_as_text(session: Session, form: FormDefinition) -> None:
    page = render_report(session, form, now=NOW)
    tree = lxml_html.fromstring(page)
    assert not tree.xpath("//script") and not tree.xpath("//img") and not tree.xpath("//@onerror")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert HOSTILE in tree.text_content()


def test_review_list_links_to_the_original(session: Session, form: FormDefinition) -> None:
    tree = lxml_html.fromstring(render_report(session, form, now=NOW))
    row = tree.xpath("//table[@id='review-table']//tr[@data-reference]")[0]
    assert row.xpath(".//a/@href") == ["originals/CT08-00020/"]
    assert "two boxes are marked" in row.text_content() and "head@school.example.org" in row.text_content()
    assert "intake original REF --out DIR" in tree.text_content()
    assert "attachment is encrypted" in tree.xpath("//table[@id='failed-table']")[0].text_content()


def test_published_view_leaves_out_confidential_and_personal_data(session: Session, form: FormDefinition) -> None:
    page = render_report(session, form, published=True, now=NOW)
    assert CONFIDENTIAL_MARK not in page and CONFIDENTIAL_EMAIL not in page
    assert "@example.org" not in page and "Jane Smith" not in page and "Hidden Person" not in page
    shown = figures(page)
    public = list(iter_responses(session, form, exclude_confidential=True))
    for key, value in expected_question_figures(public, form).items():
        assert shown[key] == value, key
    assert shown["respondents"] == str(len(public)) == "7"
    assert "confidential" not in shown
    assert shown["all.responses"] == "7" and shown["all.messages"] == "12"


def test_health_names_what_is_wrong(form: FormDefinition) -> None:
    done = Cycle(id=3, started_at=NOW, finished_at=NOW - dt.timedelta(minutes=30), status="completed")
    assert assess_health(done, 0, NOW, 300).reasons == ("no cycle has finished since 2008-05-20 11:30 UTC",)
    broken = Cycle(id=4, started_at=NOW, finished_at=NOW, status="failed", error="mailbox unreachable")
    health = assess_health(broken, 2, NOW, 300)
    assert not health.healthy
    assert health.reasons == (
        "the last cycle did not complete (failed: mailbox unreachable)",
        "2 acknowledgement(s) failed in the last 24 hours",
    )
    assert assess_health(None, 0, NOW, 300).reasons == ("no intake cycle has run yet",)


def test_page_says_when_the_service_is_unhealthy(session: Session, form: FormDefinition) -> None:
    healthy = lxml_html.fromstring(render_report(session, form, now=NOW))
    assert healthy.get_element_by_id("health").text_content() == "Service healthy"
    later = lxml_html.fromstring(render_report(session, form, now=NOW + dt.timedelta(hours=2)))
    assert later.get_element_by_id("health").text_content() == "Service needs attention"
    assert "no cycle has finished since" in later.get_element_by_id("health-reasons").text_content()


def test_daily_chart_marks_the_closing_date(form: FormDefinition) -> None:
    chart = daily_chart({dt.date(2008, 5, 16): 1, dt.date(2008, 5, 17): 1}, form)
    assert chart.first == form.opens.isoformat() and chart.last == "2008-05-17"
    before, after = chart.bars
    assert before.x + before.width <= chart.closing_x <= after.x


def test_empty_database_renders(tmp_path: Path, form: FormDefinition) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        page = render_report(s, form, now=NOW)
    engine.dispose()
    assert "No intake cycle has run yet" in page and "Service needs attention" in page


def campaign_record(reference: str, comment: str) -> dict[str, Any]:
    return {"reference": reference, "answers": {"q1": {"choice": "agree", "comment": comment}}, "text": None}


def test_campaigns_group_identical_and_near_identical_texts() -> None:
    edited = CAMPAIGN_TEXT.replace("afterthought", "after-thought") + " Yours, A. Parent"
    other = "Our school welcomes the guidance but asks for clearer advice on pooled budgets. " * 4
    records = [
        campaign_record("R1", CAMPAIGN_TEXT),
        campaign_record("R2", other),
        campaign_record("R3", "  " + CAMPAIGN_TEXT.lower().replace(".", "!")),
        campaign_record("R4", edited),
        campaign_record("R5", "I agree."),
        campaign_record("R6", "I agree."),
    ]
    (group,) = find_campaigns(records)
    assert group.references == ("R1", "R3", "R4") and group.size == 3
    assert group.opening.startswith("We are parents in Exampleton") and group.opening.endswith("…")


def test_campaigns_need_most_words_in_common() -> None:
    half = CAMPAIGN_TEXT[: len(CAMPAIGN_TEXT) // 2]
    records = [campaign_record("R1", CAMPAIGN_TEXT), campaign_record("R2", half + " " + "different words " * 12)]
    assert find_campaigns(records) == []


BOARD = (
    "Every Children's Trust Board should publish its minutes, name the parent governors who sit on it, "
    "and report each year on how the views of local families changed what it decided to fund in the area it serves."
)
BUS = (
    "Our village school has no bus after four o'clock, so children who stay for clubs must walk home "
    "along an unlit lane; the guidance should ask the partners to plan their transport with schools and parents."
)


def test_campaigns_are_joined_through_a_text_like_both_in_the_order_they_came() -> None:
    # BOARD and BUS share almost nothing; each is a part of both (a subset scores 100), so the three
    # are one group although the first two are not alike: a text is compared with only some of its
    # group, and the group is still whole, in arrival order, opening with the first text's words.
    both = BOARD + " " + BUS
    assert fuzz.token_set_ratio(normalise(BOARD), normalise(BUS)) < THRESHOLD
    records = [
        campaign_record("R1", BOARD),
        campaign_record("R2", "Not the same at all, and too short."),
        campaign_record("R3", BUS),
        campaign_record("R4", both),
        campaign_record("R5", BOARD.lower()),
        campaign_record("R6", BUS.upper()),
    ]
    (group,) = find_campaigns(records)
    assert group.references == ("R1", "R5", "R3", "R6", "R4")  # by first text, then its copies
    assert group.opening.startswith("Every Children's Trust Board") and group.opening.endswith("…")
    (group,) = find_campaigns(records[::-1])  # the longest text first now: the order is still the arrival's
    assert group.references == ("R6", "R3", "R5", "R1", "R4")
    assert group.opening.startswith("OUR VILLAGE SCHOOL")


def test_campaigns_need_most_of_the_shorter_texts_words_not_only_a_high_ratio() -> None:
    # The definition the search relies on: two texts are compared only when one holds at least
    # CONTAINMENT of the other's distinct words. Spelt the American way, 30 % of the words differ by
    # a letter: token_set_ratio still scores the two above THRESHOLD, but they are not one campaign.
    british = (
        "The organisation must prioritise a children's centre programme in every town, recognise good "
        "behaviour in favour of prevention, and fund labour for outreach across colour lines; parents need "
        "a centre they trust and a programme that lasts."
    )
    american = british
    for uk, us in (("isation", "ization"), ("ise", "ize"), ("centre", "center"), ("programme", "program")):
        american = american.replace(uk, us)
    for uk in ("behaviour", "favour", "labour", "colour"):
        american = american.replace(uk, uk.replace("our", "or"))
    words, other = set(normalise(british).split()), set(normalise(american).split())
    assert len(words & other) < CONTAINMENT * min(len(words), len(other))
    assert fuzz.token_set_ratio(normalise(british), normalise(american)) >= THRESHOLD
    assert find_campaigns([campaign_record("R1", british), campaign_record("R2", american)]) == []
    assert [c.size for c in find_campaigns([campaign_record("R1", british)] * 2)] == [2]  # long enough to count


# ---- in a real browser -------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-deps.sh")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_chromium_renders_the_report(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    page = render_report(session, form, now=NOW)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    assert not lxml_html.fromstring(page).xpath("//script")

    dom = chromium(tmp_path, "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    shown = figures(dom.stdout)
    assert shown["all.messages"] == "13" and shown["q1.answered"] == "4"
    assert HOSTILE in lxml_html.fromstring(dom.stdout).text_content()
    assert "Uncaught" not in dom.stderr

    png = tmp_path / "report.png"
    shot = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,3000", path.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Uncaught" not in shot.stderr
