"""The pages in real Chromium (Debian's, driven by Playwright): a tablet draws its answer, the
teacher sees it live, the kiosk shows the code. Screenshots go to test-artifacts/."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ARGS, ARTIFACTS, BUNDLED, CHROMIUM, TEACHER_PIN, check_join_url, copy_model
from tests.drawing import STROKES, png

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")
FAKE_MEDIA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # a test camera and microphone
# the longest side of the photos the pupils' page sends (and shows)
LONGEST = int(re.search(r"const LONGEST = (\d+);", (Path(__file__).parent.parent / "hub" / "web" / "static"
                                                    / "student.js").read_text()).group(1))


@pytest.fixture(scope="module")
def hub(module_models, module_hubs):
    """One hub for the module's lessons; each test ends its class."""
    return module_hubs(module_models)


@pytest.fixture(autouse=True)
def no_class_left(request):
    """Each test that uses the module's hub starts with no class running, whatever the test before
    it left when it failed mid-lesson (else every later test fails with class_running)."""
    if "hub" in request.fixturenames:
        import requests

        url = request.getfixturevalue("hub").url
        session = requests.Session()
        session.post(url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
        session.post(url + "/api/classes/current/end", timeout=10)  # 409 no_class when none runs


def read_qr(png_bytes: bytes) -> str:
    """What a QR code in a screenshot says, as a phone's camera would read it. OpenCV's detector
    misses some codes at their drawn size (which ones depends on the address and class code in
    them), so it is tried again on the picture scaled up, then blurred a little, as a camera sees it."""
    import cv2
    import numpy as np

    picture = cv2.imdecode(np.frombuffer(png_bytes, np.uint8), cv2.IMREAD_COLOR)
    larger = cv2.resize(picture, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    for attempt in (picture, larger, cv2.GaussianBlur(larger, (5, 5), 0)):
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(attempt)
        if decoded:
            return decoded
    return ""


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


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


DOC_SHOTS = os.environ.get("CLASSROOM_HUB_SCREENSHOTS")  # `make screenshots`: docs/screenshots


def doc_shot(page, name: str, full_page: bool = True) -> None:
    """A screenshot for docs/screenshots (each page at each size, issue 16): in test-artifacts/ on
    every run, and into the docs folder only when `make screenshots` asks (class codes and ports
    differ on every run, so `make test` leaves the docs' copies as they are)."""
    import shutil

    shot(page, name, full_page)
    if DOC_SHOTS:
        Path(DOC_SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}.png", Path(DOC_SHOTS) / f"{name}.png")


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
    check_join_url(read_qr(kiosk.locator("#qr").screenshot()), hub.url, code)  # a tablet's camera gets straight in

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
        tablet.click("#check")  # enabled once every box is read
        tablet.wait_for_function("document.getElementById('feedback').textContent.length > 2")
        feedback = tablet.inner_text("#feedback")
        assert feedback in (f"✓ {a} × {b} = {answer}. Well done!", f"✗ Not quite: {a} × {b} = {answer}"), feedback
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
    """Chromium's fake microphone plays a held-out FSDD recording; the photo is Coral's cat, then a
    blank page. `digits` is in the folder and ready, and still never offered for photos."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import SHARED

    recording = SHARED / "data" / "fsdd" / "recordings" / "4_jackson_1.wav"
    if not recording.exists():
        pytest.skip(f"{recording} is not there (../shared is absent)")
    fake = tmp_path / "four.wav"
    _padded_recording(recording, fake)
    blank = tmp_path / "blank.png"
    blank.write_bytes(png(np.full((480, 640, 3), 255, np.uint8)))
    models = tmp_path / "models"
    models.mkdir()
    for name in ("digits", "spoken-digits", "imagenet"):
        copy_model(BUNDLED / name, models)
    hub = start_hub(models)
    assert hub.model("digits")["status"] == "ready"  # ready, so only the page's choice keeps it out
    import requests

    session = requests.Session()
    session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
    args = ARGS + FAKE_MEDIA + [f"--use-file-for-fake-audio-capture={fake}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(bypass_csp=True, permissions=["microphone"])
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{hub.url}/?code={code}")  # 127.0.0.1 is a secure context: the microphone is allowed
        page.fill("#nickname", "Ada")
        page.click("#join-button")
        page.locator("#play").wait_for()
        # digits reads handwriting and spoken-digits hears speech: times tables offers all three
        assert all(page.locator(f"#tab-{m}").is_visible() for m in ("handwriting", "speech", "typed"))
        page.click("#tab-speech")
        page.click("#say-button")  # 3-2-1, then the whole answer heard in one go, shown before Check
        page.wait_for_function("document.getElementById('said').textContent.length > 0"
                               " || document.getElementById('answer-error').textContent.length > 0")
        assert page.inner_text("#said") == "I heard: 4", page.inner_text("#answer-error")
        # the teacher switches the class to "What is this?": the tablet follows, no reload
        reply = session.post(hub.url + "/api/classes/current/activity", json={"activity": "what-is-this"}, timeout=10)
        assert reply.status_code == 200, reply.text
        page.locator("#what-is-this").wait_for()
        assert page.inner_text("#activity-title") == "What is this?" and page.locator("#times-tables").is_hidden()
        # only the photo model: never digits, and with nothing to choose the choice is not shown
        assert page.eval_on_selector_all("#photo-model option", "os => os.map(o => o.value)") == ["imagenet"]
        assert page.locator("#photo-model-row").is_hidden()
        assert page.locator("#photo-live").is_visible()  # 127.0.0.1 is secure: the live camera is offered
        # over plain HTTP too: one file input opens the camera (capture), one the photos already taken
        assert page.get_attribute("#photo-file", "capture") == "environment"
        assert page.get_attribute("#photo-library", "capture") is None
        assert page.inner_text("label[for=photo-library]") == "Choose a photo"

        page.set_input_files("#photo-file", str(coral / "cat.bmp"))
        page.wait_for_function("document.querySelectorAll('#photo-result li').length === 3")
        page.wait_for_function("document.getElementById('photo-preview').naturalWidth > 0")
        assert page.locator("#photo-preview").is_visible()
        verdict, top = page.inner_text("#photo-verdict"), page.inner_text("#photo-result li:first-child")
        assert verdict.startswith("I think it is: ") and "cat" in top, (verdict, top)
        assert re.fullmatch(r".+ \(\d{1,3}%\)", top), top  # "tabby cat (NN%)"
        assert page.inner_text("#photo-error") == page.inner_text("#play-error") == ""
        shot(page, "tablet-what-is-this")
        cat_preview = page.get_attribute("#photo-preview", "src")

        page.set_input_files("#photo-file", str(blank))
        page.wait_for_function(f"document.getElementById('photo-preview').src !== '{cat_preview}'")
        page.wait_for_function("document.querySelectorAll('#photo-result li').length === 3")
        assert page.inner_text("#photo-verdict") == "I'm not sure. Maybe…"
        shot(page, "tablet-what-is-this-not-sure")
        browser.close()
    rows = session.get(hub.url + "/api/classes/current/export.csv", timeout=10).text.splitlines()
    cat, blank_row = rows[-2].split(","), rows[-1].split(",")
    assert cat[1:3] == ["what-is-this", "a photo"] and "cat" in rows[-2]  # the name, never the photo
    assert blank_row[1:3] == ["what-is-this", "a photo"] and "not sure" in rows[-1]


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


# --- Move like me: the pose screen, the teacher leading, the kiosk and the dashboard ---------------

PAINT = """id => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0, yellow = 0, print = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    painted++;
    print = (print * 31 + i) >>> 0;
    if (d[i] > 220 && d[i + 1] > 180 && d[i + 1] < 225 && d[i + 2] < 60) yellow++;  // the skeleton's #ffcc00
  }
  return {painted, yellow, print, pixels: d.length / 4};
}"""


def paint(page, canvas_id: str) -> dict:
    """What is drawn on a canvas: painted (not transparent) pixels, #ffcc00-ish ones and a fingerprint."""
    return page.evaluate(PAINT, canvas_id)


@pytest.fixture
def camera_browser():
    """Chromium with its fake camera (a moving test pattern, no person in it) allowed without asking."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + FAKE_MEDIA)
        yield instance
        instance.close()


@pytest.fixture
def pe_class(hub):
    """A class in Move like me, started by the teacher over HTTP; ended after the test."""
    import requests

    session = requests.Session()
    assert session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    started = session.post(hub.url + "/api/classes", json={"activity": "move-like-me"}, timeout=10)
    assert started.status_code == 201, started.text
    yield session, started.json()["code"]
    session.post(hub.url + "/api/classes/current/end", timeout=10)


def join_pe(browser, hub, code: str, nickname: str, width: int = 360):
    tablet = new_page(browser, [], viewport={"width": width, "height": 800}, has_touch=True, permissions=["camera"])
    tablet.goto(f"{hub.url}/?code={code}")
    tablet.fill("#nickname", nickname)
    tablet.click("#join-button")
    tablet.locator("#move-like-me").wait_for()
    assert tablet.inner_text("#activity-title") == "Move like me"
    return tablet


def sent_photo(tablet) -> None:
    """Wait for the hub's verdict on the photo just sent (choosing a pose clears the last one first)."""
    tablet.wait_for_function("document.querySelectorAll('#pose-advice li').length > 0"
                             " || document.getElementById('pose-verdict').textContent.startsWith('✓')")
    assert tablet.inner_text("#pose-error") == tablet.inner_text("#play-error") == ""


def test_move_like_me_with_the_live_camera_a_lead_the_kiosk_and_the_dashboard(hub, camera_browser, pe_class):
    session, code = pe_class
    tablet = join_pe(camera_browser, hub, code, "Ada")
    poses = tablet.eval_on_selector_all("#pose-choice option", "os => os.map(o => o.value)")
    assert len(poses) >= 6 and "star" in poses

    # the pose to copy, drawn: a stick figure, and another one for another pose
    first = paint(tablet, "pose-figure")
    assert first["painted"] > 0.02 * first["pixels"], first
    how = tablet.inner_text("#pose-how")
    tablet.select_option("#pose-choice", poses[1])
    assert tablet.inner_text("#pose-how") not in ("", how)
    second = paint(tablet, "pose-figure")
    assert second["painted"] > 0.02 * second["pixels"] and second["print"] != first["print"]

    # 127.0.0.1 is a secure context: the live camera; one frame of the fake camera has no one in it
    assert tablet.locator("#pose-live").is_visible() and tablet.locator("#pose-camera").is_hidden()
    assert tablet.locator("#pose-photo").is_hidden()
    tablet.click("#pose-live")
    tablet.locator("#pose-video").wait_for()
    tablet.wait_for_function("document.getElementById('pose-video').videoWidth > 0")
    tablet.click("#pose-snap")
    sent_photo(tablet)
    assert tablet.inner_text("#pose-verdict") == "Nearly! Try this:"
    advice = tablet.eval_on_selector_all("#pose-advice li", "ls => ls.map(l => l.textContent)")
    assert "step back" in advice[0].lower(), advice
    assert tablet.locator("#pose-photo").is_visible()
    frame = paint(tablet, "pose-photo")
    video = tablet.evaluate("(v => [v.videoWidth, v.videoHeight])(document.getElementById('pose-video'))")
    # the frame (640 x 480 from the fake camera), sent at the page's LONGEST px, drawn opaque at that size
    width = min(480, round(video[0] * min(1, LONGEST / max(video))))
    assert frame["painted"] == frame["pixels"] == width * round(width * video[1] / video[0]), (frame, video)
    shot(tablet, "tablet-move-like-me-360")
    tablet.set_viewport_size({"width": 1280, "height": 900})
    shot(tablet, "tablet-move-like-me-1280")
    tablet.set_viewport_size({"width": 360, "height": 800})

    # the teacher leads: the tablet switches to the star without a reload, the kiosk shows it big
    kiosk = new_page(camera_browser, [], viewport={"width": 1280, "height": 720})
    kiosk.goto(hub.url + "/kiosk")
    kiosk.locator("#code", has_text=code).wait_for()
    assert kiosk.locator("#lead").is_hidden()
    led = session.post(hub.url + "/api/classes/current/lead", json={"pose": "star"}, timeout=10)
    assert led.status_code == 200, led.text
    star = led.json()["lead"]
    tablet.locator("#pose-lead").wait_for()
    assert "Star" in tablet.inner_text("#pose-lead") and tablet.input_value("#pose-choice") == "star"
    assert tablet.inner_text("#pose-how") == star["how"]
    assert tablet.locator("#pose-camera").is_hidden()  # the activity was redrawn: the camera closed
    kiosk.locator("#lead").wait_for()
    assert kiosk.inner_text("#lead-title") == "Everyone: Star!"
    assert paint(kiosk, "lead-figure")["yellow"] > 200
    shot(kiosk, "kiosk-lead")

    # the dashboard, logged in through the page: the lead controls and the pupil's progress
    teacher = new_page(camera_browser, [], viewport={"width": 1100, "height": 900})
    teacher.goto(hub.url + "/teacher")
    teacher.fill("#pin", TEACHER_PIN)
    teacher.click("#login-button")
    row = teacher.locator("tr[data-student='Ada']")
    row.wait_for()
    assert teacher.locator("#lead-row").is_visible() and teacher.input_value("#activity") == "move-like-me"
    teacher.wait_for_function("document.getElementById('lead-now').textContent.includes('Star')")
    assert "Progress" in teacher.inner_text("thead")
    (pupil,) = session.get(hub.url + "/api/classes/current", timeout=10).json()["students"]
    assert pupil["answers"] == 1 and pupil["managed"] == []  # a frame with no one in it manages nothing
    assert row.locator("td").nth(2).inner_text() == "1" and row.locator("td").nth(5).inner_text() == "—"
    shot(teacher, "teacher-move-like-me")

    # the lead stops: each pupil chooses again, the kiosk puts the figure away
    assert session.post(hub.url + "/api/classes/current/lead", json={"pose": None}, timeout=10).status_code == 200
    tablet.locator("#pose-lead").wait_for(state="hidden")
    kiosk.locator("#lead").wait_for(state="hidden")
    assert tablet.input_value("#pose-choice") == "star"  # the pose stays where the lead left it


def test_move_like_me_draws_the_skeleton_found_on_grace_hopper(hub, browser, pe_class):
    """A portrait through the photo button (camera or library, any address): the face and shoulders
    are found and drawn, the legs are not in the picture, so the advice is to step back."""
    from tests.conftest import CORAL

    picture = CORAL / "grace_hopper.bmp"
    if not picture.exists():
        pytest.skip(f"{picture} is not there (../shared/coral is absent): the photo part of Move like me is untested")
    _, code = pe_class
    tablet = join_pe(browser, hub, code, "Grace")
    tablet.select_option("#pose-choice", "arms-up")
    tablet.set_input_files("#pose-file", str(picture))
    sent_photo(tablet)
    advice = tablet.eval_on_selector_all("#pose-advice li", "ls => ls.map(l => l.textContent)")
    assert tablet.inner_text("#pose-verdict") == "Nearly! Try this:" and "step back" in advice[0].lower(), advice
    drawn = paint(tablet, "pose-photo")
    width, height = tablet.evaluate("(c => [c.width, c.height])(document.getElementById('pose-photo'))")
    sent = (round(512 * LONGEST / 600), LONGEST)  # 512 x 600, sent at the page's LONGEST px on its longest side
    assert (width, height) == sent and drawn["painted"] == width * height
    assert drawn["yellow"] > 300, drawn  # the skeleton on the face and shoulders
    assert tablet.inner_text("#pose-managed") == ""
    shot(tablet, "tablet-move-like-me-grace")


# --- accessibility: axe-core on the new screens, and the layout at a phone's, a tablet's and a desk's width

def axe_script() -> Path | None:
    """axe-core's axe.min.js: CLASSROOM_HUB_AXE, else the copy the axe-playwright-python wheel ships."""
    import importlib.util
    import os

    if os.environ.get("CLASSROOM_HUB_AXE"):
        return Path(os.environ["CLASSROOM_HUB_AXE"])
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec and spec.origin:
        found = Path(spec.origin).parent / "axe.min.js"
        return found if found.exists() else None
    return None


AXE = axe_script()
WIDTHS = (360, 768, 1280)
LAYOUT = """(root) => {  // the whole page, or the part a CSS selector names
  const scope = root ? document.querySelector(root) : document.body;
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 2 && r.height > 2 && getComputedStyle(el).visibility !== 'hidden';
  };
  const named = (el) => el.id ? '#' + el.id
    : el.tagName.toLowerCase() + [...el.classList].map((c) => '.' + c).join('') + ` "${el.textContent.trim().slice(0, 24)}"`;
  const wide = document.documentElement.scrollWidth;
  if (wide > innerWidth) problems.push(`the page scrolls sideways (${wide} px wide)`);
  for (const el of scope.querySelectorAll('button, select, input:not(.visually-hidden), label.button, a[href], summary')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 48 || r.height < 48) problems.push(`${named(el)} is ${Math.round(r.width)} x ${Math.round(r.height)} px`);
  }
  for (const el of scope.querySelectorAll('*')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 1 || r.left < -1) {
      problems.push(`${named(el)} runs off the screen (${Math.round(r.left)}..${Math.round(r.right)} px)`);
    }
    const clipped = el.children.length === 0 && getComputedStyle(el).overflowX !== 'visible';
    if (clipped && el.scrollWidth > el.clientWidth + 1) problems.push(`${named(el)} cuts its text`);
  }
  return problems;
}"""


def serious_findings(found: dict) -> dict:
    """The serious and critical axe-core findings of each audited page that has any."""
    return {name: serious for name, page in found.items()
            if (serious := [v for v in page["violations"] if v["impact"] in ("serious", "critical")])}


def keep_findings(found: dict, name: str) -> None:
    """test-artifacts/<name>.json: each audited page's axe-core findings and layout problems, for review."""
    import json

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))


def audit(page, name: str, found: dict) -> None:
    """axe-core's violations and the layout problems of the page as it is now, kept under `name`."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    violations = page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map(
        (v) => ({impact: v.impact, id: v.id, help: v.help, targets: v.nodes.map((n) => n.target.join(' '))})))""")
    found[name] = {"violations": violations, "layout": page.evaluate(LAYOUT)}
    shot(page, f"a11y-{name}")


@pytest.mark.skipif(AXE is None, reason="axe-core not found: pip install axe-playwright-python (it ships axe.min.js) "
                                        "or set CLASSROOM_HUB_AXE to an axe.min.js")
def test_the_photo_and_pose_screens_and_the_kiosk_pass_axe_at_three_widths(hub, browser, tmp_path):
    """No serious or critical axe-core violation on What is this? and Move like me (each with a
    verdict shown) and the kiosk with a lead, at 360, 768 and 1280 px; the layout problems found
    (sideways scroll, text cut off, controls under 48 px) are kept in test-artifacts/a11y.json."""

    import requests

    blank = tmp_path / "blank.png"
    blank.write_bytes(png(np.full((480, 640, 3), 255, np.uint8)))
    session = requests.Session()
    session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    started = session.post(hub.url + "/api/classes", json={"activity": "what-is-this"}, timeout=10)
    assert started.status_code == 201, started.text
    found: dict = {}
    try:
        tablets = {}
        for width in WIDTHS:
            tablet = new_page(browser, [], viewport={"width": width, "height": 800}, has_touch=True)
            tablet.goto(f"{hub.url}/?code={started.json()['code']}")
            tablet.fill("#nickname", f"P{width}")
            tablet.click("#join-button")
            tablet.locator("#what-is-this").wait_for()
            tablet.set_input_files("#photo-file", str(blank))
            tablet.wait_for_function("document.querySelectorAll('#photo-result li').length === 3")
            audit(tablet, f"what-is-this-{width}", found)
            tablets[width] = tablet
        session.post(hub.url + "/api/classes/current/activity", json={"activity": "move-like-me"}, timeout=10)
        assert session.post(hub.url + "/api/classes/current/lead", json={"pose": "star"}, timeout=10).status_code == 200
        for width, tablet in tablets.items():
            tablet.locator("#pose-lead").wait_for()
            tablet.set_input_files("#pose-file", str(blank))
            sent_photo(tablet)
            audit(tablet, f"move-like-me-{width}", found)
            kiosk = new_page(browser, [], viewport={"width": width, "height": 800})
            kiosk.goto(hub.url + "/kiosk")
            kiosk.locator("#lead").wait_for()
            audit(kiosk, f"kiosk-lead-{width}", found)
    finally:
        session.post(hub.url + "/api/classes/current/end", timeout=10)
        keep_findings(found, "a11y")
    assert len(found) == 3 * len(WIDTHS)
    assert not serious_findings(found), serious_findings(found)
    # a tablet or phone at any width; the kiosk is the hub's own screen, never phone-sized, so its
    # 360 px layout is kept in a11y.json for review rather than required
    layout = {name: page["layout"] for name, page in found.items() if name != "kiosk-lead-360"}
    assert not any(layout.values()), {name: problems for name, problems in layout.items() if problems}
