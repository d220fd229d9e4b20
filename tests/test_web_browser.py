"""The staff pages in a real browser: Debian's Chromium, driven through chromium-driver by Selenium.

The server is waitress on a free loopback port, in a thread of this process, over the populated
database of builders.store_rows. A full-page screenshot of the response page is written to
var/screenshots/ and its path printed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders.store_rows import HOSTILE
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from waitress.server import create_server
from web_env import PASSWORD, QUEUED, Web, make_web, rewrite, stored

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "var" / "screenshots"
ANONYMOUS_PAGES = ["/", "/report", "/review", f"/responses/{QUEUED}", "/exports", "/users", "/account/password"]


@pytest.fixture
def hostile_web(tmp_path: Path) -> Web:
    """The populated database, with the queued response's name and a comment written by an attacker."""
    web = make_web(tmp_path)
    hostile_comment = {"choice": None, "comment": "<script>document.title='owned'</script>"}
    rewrite(web, name=HOSTILE, answers={**stored(web).answers, "q2": hostile_comment})
    return web


@pytest.fixture
def server(hostile_web: Web) -> Iterator[str]:
    """The app served by waitress on 127.0.0.1 and a port the system picked; yields its base URL."""
    httpd = create_server(hostile_web.app, host="127.0.0.1", port=0, threads=2, ident="intake-test")
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.effective_port}"  # type: ignore[union-attr]
    httpd.close()
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver_path, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    assert driver_path and chromium, "the browser tests need Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def sign_in(browser: webdriver.Chrome, base: str, name: str = "rev") -> None:
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-in").click()
    browser.find_element(By.ID, "navigation")


def arrived_at(browser: webdriver.Chrome, url: str) -> None:
    """Wait until the browser has followed the form or link to `url` (a submit returns before the next page)."""
    WebDriverWait(browser, 15).until(expected_conditions.url_to_be(url))


def no_alert(browser: webdriver.Chrome) -> bool:
    try:
        browser.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def full_page_screenshot(browser: webdriver.Chrome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 16000))
    browser.save_screenshot(str(path))
    browser.set_window_size(1280, 900)


def test_review_a_response_in_the_browser(server: str, browser: webdriver.Chrome, hostile_web: Web, capsys) -> None:
    sign_in(browser, server)
    arrived_at(browser, f"{server}/review")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-reference="{QUEUED}"]')
    assert "Question 3: two boxes are marked" in row.text
    full_page_screenshot(browser, SCREENSHOTS / "review-queue.png")
    assert "<script>alert(1)</script>" in row.text  # the hostile name, shown as text

    row.find_element(By.LINK_TEXT, QUEUED).click()
    arrived_at(browser, f"{server}/responses/{QUEUED}")
    assert browser.title.startswith(QUEUED) and no_alert(browser)
    assert browser.find_element(By.ID, "respondent-name").get_attribute("value") == HOSTILE
    assert "<script>document.title='owned'</script>" in browser.find_element(By.ID, "q2-comment").get_attribute("value")
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "q1-comment").get_attribute("value")
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    assert browser.execute_script("return document.body.classList.contains('govuk-frontend-supported')")
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems  # no CSP violation, no missing asset, no script error
    question3 = browser.find_element(By.ID, "question-q3")
    assert "Question 3: two boxes are marked" in question3.find_element(By.CLASS_NAME, "govuk-warning-text").text
    assert "message.eml" in browser.find_element(By.ID, "files").text

    shot = SCREENSHOTS / "response-page.png"
    full_page_screenshot(browser, shot)
    with capsys.disabled():
        print(f"\nscreenshot of the response page: {shot} (and review-queue.png, response-page-after-review.png)")

    browser.find_element(By.CSS_SELECTOR, "label[for='q1-choice-2']").click()  # Agree (item 2, after "Not marked")
    assert browser.find_element(By.ID, "q1-choice-2").is_selected()
    browser.find_element(By.ID, "save-done").click()

    arrived_at(browser, f"{server}/review")
    assert "it has left the review queue" in browser.find_element(By.ID, "flash").text
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-reference="{QUEUED}"]')
    assert "Nothing needs review" in browser.find_element(By.ID, "queue-empty").text

    browser.get(f"{server}/responses/{QUEUED}")
    assert browser.find_element(By.ID, "status").text == "Filed"
    history = browser.find_element(By.ID, "history").text
    assert "rev q1.choice not_sure agree" in history
    full_page_screenshot(browser, SCREENSHOTS / "response-page-after-review.png")


def test_a_post_without_the_csrf_token_is_refused(server: str, browser: webdriver.Chrome, hostile_web: Web) -> None:
    sign_in(browser, server)
    browser.get(f"{server}/responses/{QUEUED}")
    browser.execute_script("document.querySelector('#corrections input[name=csrf_token]').remove()")
    browser.find_element(By.CSS_SELECTOR, "label[for='q1-choice-2']").click()
    browser.find_element(By.ID, "save-done").click()
    assert "without this page's security token" in browser.find_element(By.ID, "csrf-refused").text
    assert stored(hostile_web).status == "needs_review"


def test_anonymous_visits_go_to_sign_in(server: str, browser: webdriver.Chrome) -> None:
    for path in ANONYMOUS_PAGES:
        browser.get(server + path)
        assert browser.current_url.startswith(f"{server}/login?next="), path
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"


def test_keyboard_skip_link_and_error_summary(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/login")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to main content"
    browser.find_element(By.ID, "password").send_keys(Keys.ENTER)  # an empty form, sent from the keyboard
    summary = browser.find_element(By.ID, "error-summary")
    assert "Enter your user name" in summary.text
    assert browser.switch_to.active_element.get_attribute("id") == "error-summary"  # govuk-frontend moved focus
    summary.find_element(By.LINK_TEXT, "Enter your user name").click()
    assert browser.switch_to.active_element.get_attribute("id") == "name"


def test_a_viewer_sees_the_report_and_its_styles_pass_the_csp(server: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, server, "vera")
    arrived_at(browser, f"{server}/report")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#navigation a")] == ["Report"]
    full_page_screenshot(browser, SCREENSHOTS / "report.png")
    browser.find_element(By.ID, "full-report").click()
    heading = browser.find_element(By.CSS_SELECTOR, "section#intake h2")
    assert heading.value_of_css_property("border-bottom-style") == "solid"  # the report's own <style> applied
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems
