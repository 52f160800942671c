"""Every page at every size the issue names, from a 360 px phone to a 1920 px screen, portrait and
landscape (issue 16's target): the pupils' app mid-answer, the teacher's dashboard with a class,
the kiosk running and paused, and "Set up tablets". At each size: no serious or critical axe-core
finding, no sideways scrolling, nothing running off the screen or cutting its text, and no
control under 48 px (tests/test_browser.py `LAYOUT`). The other browser tests check each page's
states at 360, 768 and 1280 px; this one checks the same pages across the whole range, the kiosk
at phone sizes included (a teacher may open it on anything)."""
from __future__ import annotations

import pytest
import requests

from tests.conftest import CHROMIUM, TEACHER_PIN
from tests.test_browser import AXE, audit, doc_shot, draw_digit, keep_findings, new_page, serious_findings

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)"),
    pytest.mark.skipif(AXE is None, reason="axe-core not found: make test installs it from the npm registry "
                                           "(or set CLASSROOM_HUB_AXE to an axe.min.js)"),
]

# (width, height): phones portrait and landscape, tablets both ways, a laptop, a classroom screen
SIZES = ((360, 740), (740, 360), (768, 1024), (1024, 768), (1280, 800), (1920, 1080))


@pytest.fixture(scope="module")
def hub(module_models, module_hubs):
    """A hub as it starts by default: plain HTTP and HTTPS beside it (the setup page needs both)."""
    return module_hubs(module_models, secure=True)


def settled(page) -> None:
    """Two animation frames after a resize: the page has laid itself out again."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_every_page_fits_and_passes_axe_from_360_to_1920_px(hub, browser):
    teacher = requests.Session()
    assert teacher.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    teacher.post(hub.url + "/api/classes/current/end", timeout=10)  # none left by another test
    started = teacher.post(hub.url + "/api/classes", json={"activity": "times-tables"}, timeout=10)
    assert started.status_code == 201, started.text
    code = started.json()["code"]
    found: dict = {}
    try:
        pupil = new_page(browser, [], viewport={"width": 360, "height": 740}, has_touch=True)
        pupil.goto(f"{hub.url}/?code={code}")
        pupil.fill("#nickname", "Grace")
        pupil.click("#join-button")
        pupil.locator("#boxes canvas.digit").first.wait_for()
        draw_digit(pupil, pupil.locator("canvas.digit").nth(0), 7)  # what the hub read shows under the box
        pupil.wait_for_function("/^I read: \\d$/.test(document.getElementById('reading-0').textContent)")

        dashboard = new_page(browser, [], viewport={"width": 360, "height": 740})
        dashboard.goto(hub.url + "/teacher")
        dashboard.fill("#pin", TEACHER_PIN)
        dashboard.click("#login-button")
        dashboard.wait_for_function(f"document.body.textContent.includes('{code}')")
        dashboard.locator("#students tr[data-student='Grace']").wait_for()

        kiosk = new_page(browser, [], viewport={"width": 360, "height": 740})
        kiosk.goto(hub.url + "/kiosk")
        kiosk.wait_for_function(f"document.getElementById('code').textContent === '{code}'")

        setup = new_page(browser, [], viewport={"width": 360, "height": 740})
        setup.goto(hub.url + "/setup")
        setup.locator("a[href$='android']").wait_for()
        steps = new_page(browser, [], viewport={"width": 360, "height": 740})
        steps.goto(hub.url + "/setup/android")
        steps.get_by_role("button", name="Check").wait_for()

        pages = {"pupil": pupil, "dashboard": dashboard, "kiosk": kiosk, "setup": setup, "setup-android": steps}
        for width, height in SIZES:
            for name, page in pages.items():
                page.set_viewport_size({"width": width, "height": height})
                settled(page)
                audit(page, f"{name}-{width}x{height}", found)
                if name == "kiosk":  # the other pages' screenshots come from their own tests
                    doc_shot(page, f"kiosk-{width}x{height}")
        assert teacher.post(hub.url + "/api/classes/current/pause", timeout=10).status_code == 200
        kiosk.locator("#paused").wait_for()  # "Eyes on me!" over the whole kiosk
        pupil.locator("#eyes").wait_for()  # and over every tablet
        for width, height in SIZES:
            for name, page in (("kiosk-paused", kiosk), ("pupil-paused", pupil)):
                page.set_viewport_size({"width": width, "height": height})
                settled(page)
                audit(page, f"{name}-{width}x{height}", found)
        teacher.post(hub.url + "/api/classes/current/resume", timeout=10)
    finally:
        teacher.post(hub.url + "/api/classes/current/end", timeout=10)
        keep_findings(found, "a11y-sizes")
    assert len(found) == 7 * len(SIZES)
    assert not serious_findings(found), serious_findings(found)
    layout = {name: page["layout"] for name, page in found.items() if page["layout"]}
    assert not layout, layout
