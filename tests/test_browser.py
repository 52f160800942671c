"""The pages in real Chromium (Debian's, driven by Playwright): a tablet draws its answer, the
teacher sees it live, the kiosk shows the code. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import ARTIFACTS, BUNDLED, TEACHER_PIN, check_join_url, copy_model
from tests.drawing import STROKES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def hub(module_models, module_hubs):
    """One hub for the module's lessons; each test ends its class."""
    return module_hubs(module_models)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def requests_seen():
    return []


def new_page(browser, requests_seen, **kw):
    context = browser.new_context(bypass_csp=True, **kw)  # Playwright's own waits use eval; our CSP is checked below
    context.on("request", lambda r: requests_seen.append(r.url))
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def draw_digit(page, canvas, digit: int) -> None:
    box = canvas.bounding_box()
    margin_x, margin_y = box["width"] * 0.2, box["height"] * 0.12
    w, h = box["width"] - 2 * margin_x, box["height"] - 2 * margin_y
    for stroke in STROKES[digit]:
        points = [(box["x"] + margin_x + x * w, box["y"] + margin_y + y * h) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=4)
        page.mouse.up()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_lesson_in_the_browser(hub, browser, requests_seen):
    kiosk = new_page(browser, requests_seen, viewport={"width": 1280, "height": 720})
    kiosk.goto(hub.url + "/kiosk")
    kiosk.get_by_text("Waiting for the teacher").wait_for()

    teacher = new_page(browser, requests_seen, viewport={"width": 1100, "height": 900})
    teacher.goto(hub.url + "/teacher")
    teacher.fill("#pin", "0000")
    teacher.click("#login-button")
    teacher.get_by_text("wrong PIN").wait_for()
    teacher.fill("#pin", TEACHER_PIN)
    teacher.click("#login-button")
    teacher.click("#start")
    teacher.wait_for_function("document.getElementById('code').textContent.trim().length === 5")
    code = teacher.inner_text("#code").strip()

    kiosk.wait_for_function(f"document.getElementById('code').textContent === '{code}'")
    kiosk.wait_for_function("document.getElementById('qr').naturalWidth > 100")
    # the kiosk runs on the hub (127.0.0.1); tablets are shown the hub's LAN address
    check_join_url(kiosk.inner_text("#url").strip(), hub.url)
    shot(kiosk, "kiosk")
    import cv2

    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(ARTIFACTS / "kiosk.png")))
    check_join_url(decoded, hub.url, code)  # a tablet's camera gets straight into this class

    tablet = new_page(browser, requests_seen, viewport={"width": 800, "height": 1100}, has_touch=True)
    tablet.goto(f"{hub.url}/?code={code}")
    assert tablet.input_value("#code") == code
    tablet.fill("#nickname", "Ada")
    tablet.click("#join-button")
    tablet.locator("#play").wait_for()
    teacher.locator("tr[data-student='Ada']").wait_for()

    right = 0
    for attempt in range(3):
        tablet.wait_for_function("/^\\d+ × \\d+ = \\?$/.test(document.getElementById('question').textContent)")
        a, b = map(int, re.findall(r"\d+", tablet.inner_text("#question")))
        answer = str(a * b)
        canvases = tablet.locator("canvas.digit")
        for i, ch in enumerate(answer):
            draw_digit(tablet, canvases.nth(i), int(ch))
        if attempt == 0:
            shot(tablet, "tablet-drawing")
        tablet.click("#check")
        tablet.wait_for_function("document.getElementById('feedback').textContent.length > 2")
        feedback = tablet.inner_text("#feedback")
        right += feedback.startswith("✓")
        teacher.wait_for_function(f"document.getElementById('feed').children.length >= {attempt + 1}")
        if attempt == 0:
            shot(tablet, "tablet-feedback")
        tablet.wait_for_function("document.getElementById('feedback').textContent === ''", timeout=8000)
    assert right >= 2, "the digits model read fewer than 2 of 3 drawn answers"
    row = teacher.locator("tr[data-student='Ada']")
    assert row.locator("td").nth(2).inner_text() == "3"
    kiosk.wait_for_function("document.getElementById('answers').textContent === '3'")
    shot(teacher, "teacher-dashboard")

    teacher.on("dialog", lambda d: d.accept())
    teacher.click("#end")
    tablet.get_by_text("the class has ended").wait_for()
    kiosk.get_by_text("Waiting for the teacher").wait_for()

    outside = [u for u in requests_seen if not u.startswith((hub.url, "blob:", "data:"))]
    assert outside == [], f"requests left the hub: {outside}"


def test_pages_and_scripts_refer_to_no_outside_url(hub):
    from hub.web.pages import STATIC

    for path in STATIC.rglob("*"):
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text()
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{path.name} names an outside URL"
    for page in ("/", "/teacher", "/kiosk"):
        html = hub.get(page).text
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert ref.startswith("/"), f"{page} loads {ref}"
        assert hub.get(page).headers["Content-Security-Policy"].startswith("default-src 'self'")


def _padded_recording(path, out) -> None:
    """A pupil's spoken digit as a microphone hears it: a little silence either side."""
    import wave

    import numpy as np

    from hub.adapters.audio import decode_wav

    x, rate = decode_wav(path.read_bytes())
    padded = np.concatenate([np.zeros(int(0.3 * rate)), x, np.zeros(int(2.0 * rate))])
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((padded * 32767).astype("<i2").tobytes())


def test_speaking_an_answer_and_asking_what_a_picture_is(tmp_path, start_hub, coral):
    """Chromium's fake microphone plays a held-out FSDD recording; the photo is Coral's cat."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import SHARED, coral_model

    recording = SHARED / "data" / "fsdd" / "recordings" / "4_jackson_1.wav"
    if not recording.exists():
        pytest.skip(f"{recording} is not there (../shared is absent)")
    fake = tmp_path / "four.wav"
    _padded_recording(recording, fake)
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "spoken-digits", models)
    coral_model(models, "mobilenet", ["mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"])
    hub = start_hub(models)
    import requests

    session = requests.Session()
    session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
    args = ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-audio-capture={fake}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(bypass_csp=True, permissions=["microphone"])
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{hub.url}/?code={code}")  # 127.0.0.1 is a secure context: the microphone is allowed
        page.fill("#nickname", "Ada")
        page.click("#join-button")
        page.locator("#play").wait_for()
        # no picture model reads digits here, so times tables offers speaking and typing only
        assert page.locator("#tab-handwriting").is_hidden() and page.locator("#tab-typed").is_visible()
        page.click("#tab-speech")
        page.click("#say-button")
        page.wait_for_function("document.getElementById('said').textContent.length > 0")
        assert page.inner_text("#said") == "4", page.inner_text("#mic-error")
        # the teacher switches the class to "What is this?": the tablet follows, no reload
        reply = session.post(hub.url + "/api/classes/current/activity", json={"activity": "what-is-this"}, timeout=10)
        assert reply.status_code == 200, reply.text
        page.locator("#what-is-this").wait_for()
        assert page.inner_text("#activity-title") == "What is this?" and page.locator("#times-tables").is_hidden()
        assert page.eval_on_selector_all("#photo-model option", "os => os.map(o => o.value)") == ["mobilenet"]
        page.set_input_files("#photo-file", str(coral / "cat.bmp"))
        page.wait_for_function("document.querySelectorAll('#photo-result li').length === 3")
        top = page.inner_text("#photo-result li:first-child")
        assert "cat" in top, top
        shot(page, "tablet-what-is-this")
        browser.close()
    rows = session.get(hub.url + "/api/classes/current/export.csv", timeout=10).text.splitlines()
    assert rows[-1].split(",")[1:3] == ["what-is-this", "a photo"] and "cat" in rows[-1]  # the name, never the photo


def test_the_pages_work_under_their_own_content_security_policy(hub, browser):
    """The other tests let Playwright evaluate scripts; this one keeps the CSP enforced."""
    import requests

    session = requests.Session()
    session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
    context = browser.new_context()  # no bypass_csp
    violations = []
    context.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    tablet = context.new_page()
    tablet.goto(f"{hub.url}/?code={code}")
    tablet.fill("#nickname", "Csp")
    tablet.click("#join-button")
    tablet.locator("#play").wait_for(state="visible", timeout=15000)
    teacher = context.new_page()
    teacher.goto(hub.url + "/teacher")
    teacher.fill("#pin", TEACHER_PIN)
    teacher.click("#login-button")
    teacher.locator("tr[data-student='Csp']").wait_for(timeout=15000)
    kiosk = context.new_page()
    kiosk.goto(hub.url + "/kiosk")
    kiosk.locator("#code", has_text=code).wait_for(timeout=15000)
    assert violations == []
    context.close()
    session.post(hub.url + "/api/classes/current/end", timeout=10)


def test_a_wifi_blip_and_a_hub_restart_leave_the_pupil_where_they_were(bundled_models, start_hub, browser):
    """The transport closed under the page, then kill -9 of the hub and a new start: each time the
    page comes back by itself (no reload, nothing retyped) and the pupil answers again."""
    import requests

    hub = start_hub(bundled_models)
    session = requests.Session()
    session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
    teacher = new_page(browser, [], viewport={"width": 1100, "height": 900})
    teacher.goto(hub.url + "/teacher")
    teacher.fill("#pin", TEACHER_PIN)
    teacher.click("#login-button")
    teacher.wait_for_function(f"document.getElementById('code').textContent === '{code}'")
    page = new_page(browser, [], viewport={"width": 800, "height": 1000})
    page.goto(f"{hub.url}/?code={code}")
    page.fill("#nickname", "Ada")
    page.click("#join-button")
    page.click("#tab-typed")

    def answer_right() -> None:
        page.wait_for_function("/^\\d+ × \\d+ = \\?$/.test(document.getElementById('question').textContent)")
        a, b = map(int, re.findall(r"\d+", page.inner_text("#question")))
        page.fill("#typed", str(a * b))
        page.press("#typed", "Enter")
        page.wait_for_function("document.getElementById('feedback').textContent.startsWith('✓')")
        page.wait_for_function("document.getElementById('feedback').textContent === ''")  # the next question

    answer_right()
    question = page.inner_text("#question")
    page.evaluate("socket.io.engine.close()")  # a Wi-Fi blip: the connection drops under the page
    page.wait_for_function("socket.connected && document.getElementById('offline').classList.contains('hidden')")
    assert page.inner_text("#question") == question and page.locator("#play").is_visible()
    answer_right()

    question = page.inner_text("#question")
    teacher.wait_for_function("document.getElementById('feed').children.length === 2")
    hub.kill_all()
    page.locator("#offline").wait_for()  # "Reconnecting…", while the hub is down
    hub.restart()
    page.locator("#offline").wait_for(state="hidden", timeout=30000)
    assert page.inner_text("#question") == question  # the same question, asked again
    answer_right()
    # the dashboard came back by itself, still logged in, and hears the answer given after the restart
    # (the answer may come before the dashboard is back: it rebuilds its feed from the class)
    teacher.wait_for_function("document.getElementById('feed').children.length === 3", timeout=30000)
    assert teacher.locator("#login").is_hidden() and teacher.inner_text("#code") == code
    assert "Ada" in teacher.inner_text("#feed")
    rows = session.get(hub.url + "/api/classes/current/export.csv", timeout=10).text.strip().splitlines()[1:]
    assert len(rows) == 3 and all(",yes," in row for row in rows)  # every acknowledged answer, once
    shot(page, "tablet-after-restart")
