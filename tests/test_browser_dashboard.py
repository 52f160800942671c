"""The teacher's dashboard in real Chromium against a real hub (issue 16): a wrong PIN says the
tries left, a running class shows its join address, code and a QR code that a camera reads, "Show
it big", the feed marks right and wrong, Details for IT closed, Eyes on me and Carry on, all by
keyboard, and axe-core with the layout check at 360, 768 and 1280 px. A pupil is a real Socket.IO
client (python-socketio), as in tests/test_classroom_live.py."""
from __future__ import annotations

import pytest
import socketio

from tests.conftest import BUNDLED, CHROMIUM, TEACHER_PIN, check_join_url, copy_model, wait_for
from tests.test_browser import (
    AXE,
    WIDTHS,
    audit,
    doc_shot,
    keep_findings,
    new_page,
    read_qr,
    serious_findings,
)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")
ATTEMPTS = 3  # [teacher] login_attempts on this module's hub
LOCKOUT_S = 2  # [teacher] lockout_s: short, so the lock is seen ending


@pytest.fixture(scope="module")
def hub(tmp_path_factory, module_hubs):
    """One hub for the module (digits only: the times tables, and a model for Details)."""
    models = tmp_path_factory.mktemp("dashboard-models")
    copy_model(BUNDLED / "digits", models)
    return module_hubs(models, teacher={"login_attempts": ATTEMPTS, "lockout_s": LOCKOUT_S},
                       server={"connections_per_address": 0, "tls": "off"})  # plain HTTP: no second port


def log_in(browser, hub, width: int = 1280, wrong_first: bool = False):
    page = new_page(browser, [], viewport={"width": width, "height": 900})
    page.goto(hub.url + "/teacher")
    if wrong_first:
        page.fill("#pin", "0000")
        page.click("#login-button")
        page.wait_for_function("document.getElementById('login-error').textContent.startsWith('Wrong PIN')")
    page.fill("#pin", TEACHER_PIN)
    page.click("#login-button")
    page.locator("#dashboard").wait_for()
    page.wait_for_function("!document.getElementById('start').disabled || !document.getElementById('join-card')"
                           ".classList.contains('hidden')")  # the hub's snapshot is in
    return page


class Pupil:
    """A tablet: a real Socket.IO client on /class that joins and answers the times tables by typing."""

    def __init__(self, hub, code: str, nickname: str) -> None:
        self.events: list = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data=None: self.events.append((event, data)), namespace="/class")
        self.client.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
        joined = self.call("join", {"code": code, "nickname": nickname})
        assert joined.get("ok"), joined
        self.question = joined["question"]

    def call(self, event: str, data) -> dict:
        return self.client.call(event, data, namespace="/class", timeout=15)

    def answer(self, right: bool) -> dict:
        q = self.question
        given = str(q["a"] * q["b"] + (0 if right else 1))
        reply = self.call("answer", {"a": q["a"], "b": q["b"], "given": given, "mode": "typed"})
        assert reply.get("ok") and reply["correct"] == right, reply
        self.question = reply["question"]
        return {**q, "given": given, "expected": reply["expected"]}

    def close(self) -> None:
        self.client.disconnect()




def check(page, name: str, found: dict) -> None:
    """axe-core and the layout, 48 px targets included (tests/test_browser.py's audit), and a screenshot kept."""
    audit(page, name, found)
    doc_shot(page, name, full_page="-big-" not in name)


def tab_to(page, element_id: str, presses: int = 60) -> None:
    """Press Tab until the element has the focus, as a keyboard user would."""
    for _ in range(presses):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} never got the focus by Tab")


def test_a_wrong_pin_says_how_many_tries_are_left_and_a_lock_how_long_to_wait(hub, browser):
    page = new_page(browser, [], viewport={"width": 1280, "height": 900})
    page.goto(hub.url + "/teacher")
    error = page.locator("#login-error")
    for left in range(ATTEMPTS - 1, 0, -1):
        page.fill("#pin", "0000")
        page.click("#login-button")
        times = "1 more time" if left == 1 else f"{left} more times"
        page.wait_for_function(f"document.getElementById('login-error').textContent.includes('{times}')")
        assert error.inner_text() == f"Wrong PIN. You can try {times} before this device must wait."
    page.fill("#pin", "0000")
    page.click("#login-button")
    page.wait_for_function("document.getElementById('login-button').disabled")
    # the hub locks this device for LOCKOUT_S (its retry_after_s, rounded up): the page says so and waits too
    assert error.inner_text() == f"Wrong PIN too many times: this device must wait {LOCKOUT_S + 1} seconds before trying again."
    assert page.inner_text("#login-button").startswith("Log in (wait 0:0")
    page.wait_for_function("!document.getElementById('login-button').disabled", timeout=(LOCKOUT_S + 5) * 1000)
    assert error.inner_text() == "You can try again now."
    page.fill("#pin", TEACHER_PIN)
    page.click("#login-button")
    page.locator("#dashboard").wait_for()
    assert page.locator("#login").is_hidden()


def test_a_running_class_shows_the_join_address_the_code_and_a_qr_code_and_shows_them_big(hub, browser, teacher):
    page = log_in(browser, hub)
    assert page.locator("#join-card").is_hidden() and page.inner_text("#state").startswith("No class running")
    assert page.get_attribute("#setup-link", "href") == "/setup" and page.locator("#setup-link").is_visible()
    page.click("#start")
    page.wait_for_function("document.getElementById('code').textContent.trim().length === 5")
    code = page.inner_text("#code").strip()
    page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    joining = hub.get("/api/classes/current/qr.svg").headers["X-Join-Url"]
    address = joining.split("?")[0]
    assert page.inner_text("#join-url") == address
    check_join_url(address, hub.url)
    assert read_qr(page.locator("#qr").screenshot()) == joining == f"{address}?code={code}"
    assert code in page.get_attribute("#qr", "alt") and address in page.get_attribute("#qr", "alt")

    page.click("#show-big")
    big = page.locator("#big")
    big.wait_for()
    assert page.inner_text("#big-code") == code and page.inner_text("#big-url") == address
    box = big.bounding_box()
    assert (box["width"], box["height"]) == (1280, 900)  # the whole screen
    page.wait_for_function("document.getElementById('big-qr').naturalWidth > 0")
    assert read_qr(page.locator("#big-qr").screenshot()) == joining
    for words in ("#big-code", "#big-url"):  # whole, and beside the QR code rather than under it
        assert page.eval_on_selector(words, "e => e.scrollWidth <= e.clientWidth"), words
        assert page.locator(words).bounding_box()["x"] + page.locator(words).bounding_box()["width"] \
            <= page.locator("#big-qr").bounding_box()["x"], words
    page.keyboard.press("Escape")
    big.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "show-big"  # the focus goes back where it was


def test_the_feed_marks_a_right_and_a_wrong_answer_and_the_figures_count_them(hub, browser, teacher):
    code = teacher.post(hub.url + "/api/classes", timeout=10).json()["code"]
    page = log_in(browser, hub)
    pupil = Pupil(hub, code, "Ada")
    try:
        page.locator("tr[data-student='Ada']").wait_for()
        right = pupil.answer(True)
        wrong = pupil.answer(False)
        page.wait_for_function("document.querySelectorAll('#feed li').length === 2")
        newest, oldest = page.locator("#feed li").all()
        assert oldest.get_attribute("class") == "right" and newest.get_attribute("class") == "wrong"
        assert oldest.locator(".mark [aria-hidden=true]").inner_text() == "✓"
        assert newest.locator(".mark [aria-hidden=true]").inner_text() == "✗"
        # not colour only, nor a sign only: a screen reader hears "Right:" and "Wrong:"
        assert oldest.locator(".mark .visually-hidden").text_content() == "Right:"
        assert newest.locator(".mark .visually-hidden").text_content() == "Wrong:"
        assert oldest.locator(".feed-text").inner_text().startswith(
            f"Ada: {right['a']} × {right['b']} = {right['given']} (typed, ")
        assert newest.locator(".feed-text").inner_text().startswith(
            f"Ada: {wrong['a']} × {wrong['b']} = {wrong['given']}, the answer is {wrong['expected']} (typed, ")
        page.wait_for_function("document.getElementById('fig-answers').textContent === '2'")
        assert page.inner_text("#fig-tablets") == "1" and page.inner_text("#fig-tablets-words") == "tablet connected"
        assert page.inner_text("#fig-right") == "1"
        row = page.locator("tr[data-student='Ada']")
        assert row.locator("td").nth(2).inner_text() == "2" and row.locator("td").nth(3).inner_text() == "1 (50%)"
        assert page.inner_text("#students-table thead").strip().split("\t")[1:6] == [
            "Pupil", "Answers", "Right", "Time to answer", "Progress"]
    finally:
        pupil.close()


def test_details_for_it_are_closed_and_hold_the_models(hub, browser, teacher):
    teacher.post(hub.url + "/api/classes", timeout=10)
    page = log_in(browser, hub)
    page.wait_for_function("document.querySelectorAll('#models tr').length > 0")
    assert page.get_attribute("#details", "open") is None and page.locator("#models").is_hidden()
    shown = page.inner_text("#dashboard")  # what a teacher reads without opening Details
    for engineering in ("p50", "p95", "Queue", "Fallbacks", "PortAudio", "apt install", "cpu", "ai_edge_litert"):
        assert engineering not in shown, engineering
    assert page.inner_text("#hub-health") == "The hub is ready."
    # an activity this hub cannot run (no pose model): a teacher's sentence; the hub's reason in Details
    reason = next(a for a in hub.get("/api/activities").json() if a["name"] == "move-like-me")["unavailable"]
    assert reason
    page.select_option("#activity", "move-like-me")
    page.wait_for_function("document.getElementById('activity-note').textContent.includes('ask IT')")
    assert page.inner_text("#activity-note strong") == \
        "Move like me needs something installed on the hub first: ask IT (see Details)."
    assert reason not in page.inner_text("#dashboard")
    page.click("#details summary")
    page.locator("#models").wait_for()
    assert page.get_attribute("#details", "open") is not None
    digits = page.locator("#models tr", has_text="digits")
    assert digits.locator("td").nth(1).inner_text() == "ready"
    assert page.inner_text("#details thead").strip().split("\t") == ["Model", "Status", "Runs on", "Queue", "p50 / p95", "Fallbacks"]
    assert page.inner_text("#microphone").startswith("Hub microphone")
    for figures in ("#microphone", "#accelerators"):  # the hub's own words, for IT only
        assert page.inner_text(figures) not in shown, figures
    assert f"Move like me: {reason}" in page.eval_on_selector_all("#activity-reasons li", "ls => ls.map(l => l.textContent)")


def test_eyes_on_me_pauses_every_tablet_and_carry_on_resumes(hub, browser, teacher):
    code = teacher.post(hub.url + "/api/classes", timeout=10).json()["code"]
    page = log_in(browser, hub)
    pupil = Pupil(hub, code, "Ben")
    try:
        assert page.inner_text("#pause") == "👀 Eyes on me" and page.locator("#resume").is_hidden()
        page.click("#pause")
        page.locator("#paused-banner").wait_for()
        assert teacher.get(hub.url + "/api/classes/current", timeout=10).json()["paused"] is True
        assert page.inner_text("#state") == "Class paused: Times tables."
        assert page.inner_text("#paused-banner").startswith("👀 Eyes on me: every tablet is paused.")
        assert page.locator("#pause").is_hidden() and page.inner_text("#resume") == "▶ Carry on"
        assert page.evaluate("document.body.classList.contains('class-paused')")
        seen = lambda state: any(e == "class_state" and d.get("state") == state for e, d in pupil.events)  # noqa: E731
        wait_for(lambda: seen("paused"))
        page.click("#resume")
        page.locator("#paused-banner").wait_for(state="hidden")
        assert teacher.get(hub.url + "/api/classes/current", timeout=10).json()["paused"] is False
        wait_for(lambda: seen("running"))
        assert page.locator("#pause").is_visible() and page.inner_text("#state").startswith("Class running")
    finally:
        pupil.close()


def test_a_keyboard_alone_logs_in_starts_a_class_pauses_and_resumes(hub, browser, teacher):
    page = new_page(browser, [], viewport={"width": 1280, "height": 900})
    page.goto(hub.url + "/teacher")
    tab_to(page, "pin")
    page.keyboard.type(TEACHER_PIN)
    page.keyboard.press("Enter")
    page.locator("#dashboard").wait_for()
    page.wait_for_function("!document.getElementById('start').disabled")
    tab_to(page, "start")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('code').textContent.trim().length === 5")
    tab_to(page, "pause")
    page.keyboard.press("Enter")
    page.locator("#paused-banner").wait_for()
    assert teacher.get(hub.url + "/api/classes/current", timeout=10).json()["paused"] is True
    tab_to(page, "resume")
    page.keyboard.press("Enter")
    page.locator("#paused-banner").wait_for(state="hidden")
    assert teacher.get(hub.url + "/api/classes/current", timeout=10).json()["paused"] is False
    tab_to(page, "show-big")
    page.keyboard.press("Enter")
    page.locator("#big").wait_for()
    page.keyboard.press("Escape")
    page.locator("#big").wait_for(state="hidden")


@pytest.mark.skipif(AXE is None, reason="axe-core not found: pip install axe-playwright-python (it ships axe.min.js) "
                                        "or set CLASSROOM_HUB_AXE to an axe.min.js")
def test_the_dashboard_passes_axe_and_the_layout_check_at_three_widths(hub, browser, teacher):
    """Login (a wrong PIN shown), a running class with a right and a wrong answer, paused, and
    Details open, at 360, 768 and 1280 px: no serious or critical axe-core finding, no sideways
    scroll, nothing cut off or off the screen, every control (a summary too) at least 48 px."""

    found: dict = {}
    pupils = []
    try:
        for width in WIDTHS:
            page = new_page(browser, [], viewport={"width": width, "height": 900})
            page.goto(hub.url + "/teacher")
            page.fill("#pin", "0000")
            page.click("#login-button")
            page.wait_for_function("document.getElementById('login-error').textContent.startsWith('Wrong PIN')")
            check(page, f"dashboard-login-{width}", found)
            page.fill("#pin", TEACHER_PIN)
            page.click("#login-button")
            page.locator("#dashboard").wait_for()
            if width == WIDTHS[0]:
                page.wait_for_function("!document.getElementById('start').disabled")
                page.click("#start")
                page.wait_for_function("document.getElementById('code').textContent.trim().length === 5")
                code = page.inner_text("#code").strip()
                for name, answers in (("Ada", (True, False)), ("Maximilian-Rose", (True,))):
                    pupil = Pupil(hub, code, name)
                    pupils.append(pupil)
                    for right in answers:
                        pupil.answer(right)
                pupils[-1].close()  # one not connected: the row shows "Let ... back in"
            page.wait_for_function("document.querySelectorAll('#feed li').length === 3")
            page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
            page.locator("tr[data-student='Maximilian-Rose'] button").wait_for()
            check(page, f"dashboard-class-{width}", found)
            page.click("#pause")
            page.locator("#paused-banner").wait_for()
            check(page, f"dashboard-paused-{width}", found)
            page.click("#resume")
            page.locator("#paused-banner").wait_for(state="hidden")
            page.click("#details summary")
            page.locator("#models").wait_for()
            check(page, f"dashboard-details-{width}", found)
            page.click("#show-big")
            page.locator("#big").wait_for()
            page.wait_for_function("document.getElementById('big-qr').naturalWidth > 0")
            check(page, f"dashboard-big-{width}", found)
            page.keyboard.press("Escape")
            page.context.close()
    finally:
        for pupil in pupils:
            pupil.close()
        keep_findings(found, "a11y-dashboard")
    assert len(found) == 5 * len(WIDTHS)
    assert not serious_findings(found), serious_findings(found)
    layout = {name: page["layout"] for name, page in found.items()}
    assert not any(layout.values()), {name: problems for name, problems in layout.items() if problems}
