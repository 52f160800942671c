"""Teach the hub in real Chromium (issue 15): the teacher says what to teach from the dashboard,
two tablets give examples from crops and flips of Coral's test photos, the dashboard shows who
gave what and how well the hub has learnt, and a third tablet (a 360 px phone) asks the hub about
a view no one gave and sees the right thing named. Then axe-core on both screens at three widths.
Screenshots go to test-artifacts/ (tablet-teach.png and teacher-teach.png are the docs' ones)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import BUNDLED, CHROMIUM, CORAL, TEACHER_PIN, copy_model, wait_for
from tests.test_browser import AXE, LAYOUT, WIDTHS, audit, keep_findings, new_page, serious_findings, shot

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian's chromium is not installed (make install-dev installs it)")
THINGS = {"cat": "cat.bmp", "bird": "bird.bmp"}


@pytest.fixture(scope="module")
def photos() -> Path:
    if not all((CORAL / f).exists() for f in THINGS.values()):
        pytest.skip(f"Coral's test photos are not in {CORAL} (../shared/coral is absent): teaching is untested here")
    return CORAL


@pytest.fixture(scope="module")
def hub(photos, tmp_path_factory, module_hubs):
    """One hub with the embedder (what the class teaches from), imagenet and digits."""
    models = tmp_path_factory.mktemp("models")
    for name in ("embedder", "imagenet", "digits"):
        copy_model(BUNDLED / name, models)
    started = module_hubs(models)
    wait_for(lambda: started.model("embedder")["status"] == "ready", timeout_s=60)
    return started


@pytest.fixture
def teacher_session(hub):
    """The teacher over REST (setup and checks), with no class before or after the test."""
    import requests

    session = requests.Session()
    login = session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
    assert login.status_code == 200, login.text
    session.post(hub.url + "/api/classes/current/end", timeout=10)  # 409 no_class when none runs
    yield session
    session.post(hub.url + "/api/classes/current/end", timeout=10)


def view(name: str, out: Path, fraction: float, x: float = 0.5, y: float = 0.5, flip: bool = False) -> Path:
    """A view of one of Coral's photos: `fraction` of each side around (x, y), mirrored if `flip`."""
    import cv2

    picture = cv2.imread(str(CORAL / THINGS[name]), cv2.IMREAD_COLOR)
    h, w = picture.shape[:2]
    ch, cw = round(h * fraction), round(w * fraction)
    top, left = round((h - ch) * y), round((w - cw) * x)
    picture = picture[top:top + ch, left:left + cw]
    if flip:
        picture = cv2.flip(picture, 1)
    path = out / f"{name}-{fraction}-{x}-{y}-{int(flip)}.png"
    assert cv2.imwrite(str(path), picture)
    return path


def join(browser, hub, code: str, nickname: str, width: int):
    tablet = new_page(browser, [], viewport={"width": width, "height": 900}, has_touch=True)
    tablet.goto(f"{hub.url}/?code={code}")
    tablet.fill("#nickname", nickname)
    tablet.click("#join-button")
    tablet.locator("#play").wait_for()
    return tablet


def log_in(browser, hub, width: int = 1100):
    teacher = new_page(browser, [], viewport={"width": width, "height": 900})
    teacher.goto(hub.url + "/teacher")
    teacher.fill("#pin", TEACHER_PIN)
    teacher.click("#login-button")
    teacher.locator("#dashboard").wait_for()
    return teacher


def counts_shown(tablet) -> dict[str, str]:
    return dict(tablet.eval_on_selector_all(
        "#teach-things button", "bs => bs.map(b => [b.dataset.label, b.querySelector('.thing-count').textContent])"))


def give(tablet, picture: Path, label: str) -> str:
    """A photo from the tablet's photo button, then the thing it shows: what the tablet says back."""
    tablet.set_input_files("#teach-file", str(picture))
    tablet.wait_for_function("document.getElementById('teach-preview').naturalWidth > 0"
                             " && document.getElementById('teach-said').textContent === ''")
    tablet.click(f"#teach-things button[data-label='{label}']")
    tablet.wait_for_function("!['', 'Sending…'].includes(document.getElementById('teach-said').textContent)")
    said = tablet.inner_text("#teach-said")
    assert said.startswith("Thank you!"), said
    assert tablet.locator("#teach-preview").is_hidden()  # one photo, one example
    return said


def ask_the_hub(tablet, picture: Path) -> str:
    tablet.set_input_files("#teach-file", str(picture))
    tablet.wait_for_function("!document.getElementById('teach-try').disabled")
    tablet.click("#teach-try")
    tablet.wait_for_function("document.querySelectorAll('#teach-others li').length > 0"
                             " || document.getElementById('teach-said').textContent !== ''")
    return tablet.inner_text("#teach-guess")


def test_two_tablets_teach_the_hub_and_a_third_sees_it(hub, browser, teacher_session, tmp_path):
    session = teacher_session
    code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
    ada = join(browser, hub, code, "Ada", 1024)
    ben = join(browser, hub, code, "Ben", 768)
    cy = join(browser, hub, code, "Cy", 360)
    assert ada.locator("#times-tables").is_visible()

    # the teacher chooses the activity on the dashboard: the panel's form opens, the tablets wait
    teacher = log_in(browser, hub)
    teacher.wait_for_function(f"document.getElementById('code').textContent === '{code}'")
    assert teacher.locator("#teach-panel").is_hidden()
    teacher.select_option("#activity", "teach-the-hub")
    teacher.locator("#teach-new-name").wait_for()
    for tablet in (ada, ben, cy):
        tablet.locator("#teach-wait").wait_for()
        assert tablet.inner_text("#teach-wait") == "Wait for your teacher to say what to teach the hub."
        assert tablet.locator("#teach-project").is_hidden()

    # a name that is not a plain name: the hub's reason, on the panel
    teacher.fill("#teach-new-name", "Pets!")
    teacher.fill("#teach-new-labels", "cat\nbird")
    teacher.click("#teach-create")
    teacher.wait_for_function("document.getElementById('teach-error').textContent.includes('name')")
    teacher.fill("#teach-new-name", "Pets")  # made a plain name on the page: "pets"
    teacher.fill("#teach-new-labels", "cat, bird")
    teacher.click("#teach-create")
    teacher.locator("#teach-status").wait_for()
    assert teacher.inner_text("#teach-error") == ""
    assert teacher.inner_text("#teach-name") == "pets: cat, bird"
    assert "No examples yet" in teacher.inner_text("#teach-examples-body")
    assert teacher.inner_text("#teach-state").startswith("Learning from photos: 0 examples.")

    for tablet in (ada, ben, cy):
        tablet.locator("#teach-project").wait_for()
        assert tablet.inner_text("#teach-title") == "Pets"
        assert counts_shown(tablet) == {"cat": "cat: 0 examples", "bird": "bird: 0 examples"}
        assert tablet.inner_text("#teach-things button[data-label='cat'] .thing-name") == "This is a cat"
        assert tablet.locator("#teach-things button").first.is_disabled()  # no photo yet
        assert tablet.locator("#teach-try").is_disabled()
        assert "two different things" in tablet.inner_text("#teach-try-why")

    # Ada gives two cats: one thing only, so no one can try yet
    assert give(ada, view("cat", tmp_path, 0.9), "cat") == "Thank you! The hub has 1 example of cat now."
    give(ada, view("cat", tmp_path, 0.8, 0.2, 0.3), "cat")
    cy.wait_for_function("document.querySelector(\"#teach-things button[data-label='cat'] .thing-count\")"
                         ".textContent === 'cat: 2 examples'")
    assert cy.locator("#teach-try").is_disabled()

    # Ben gives two birds; then each gives two of the other thing
    give(ben, view("bird", tmp_path, 0.9), "bird")
    give(ben, view("bird", tmp_path, 0.8, 0.8, 0.7, flip=True), "bird")
    give(ada, view("bird", tmp_path, 0.85, 0.3, 0.2), "bird")
    give(ada, view("bird", tmp_path, 0.75, 0.5, 0.5, flip=True), "bird")
    give(ben, view("cat", tmp_path, 0.85, 0.7, 0.6, flip=True), "cat")
    said = give(ben, view("cat", tmp_path, 0.7, 0.4, 0.8), "cat")
    assert said == "Thank you! The hub has 4 examples of cat now."

    # the dashboard: counts per pupil and per thing, and an accuracy with its method in words
    teacher.wait_for_function("document.getElementById('teach-accuracy').textContent.endsWith('% right')"
                              " && document.getElementById('teach-method').textContent.includes('(8 tests)')")
    assert teacher.inner_text("#teach-state").startswith("Learning from photos: 8 examples, from 2 pupils.")
    rows = teacher.eval_on_selector_all("#teach-examples-body tr", "rs => rs.map(r => r.innerText.split('\\t'))")
    assert [r[:4] for r in rows] == [["Ada", "2", "2", "4"], ["Ben", "2", "2", "4"]], rows
    assert teacher.inner_text("#teach-examples tfoot").split("\t")[:4] == ["Everyone", "4", "4", "8"]
    assert teacher.inner_text("#teach-examples thead").split("\t")[:4] == ["Pupil", "cat", "bird", "Total"]
    accuracy = int(re.match(r"(\d+)% right", teacher.inner_text("#teach-accuracy")).group(1))
    status = session.get(hub.url + "/api/teach/pets", timeout=10).json()
    assert accuracy == round(status["accuracy"]["value"] * 100)
    assert "tested on each example in turn, leaving it out" in teacher.inner_text("#teach-method")
    assert teacher.inner_text("#teach-advice") == status["accuracy"]["advice"]
    confusion = teacher.eval_on_selector_all("#teach-confusion-body tr", "rs => rs.map(r => r.innerText.split('\\t'))")
    expected = [[label] + [str(n) for n in row] for label, row in zip(("cat", "bird"), status["accuracy"]["confusion"])]
    assert confusion == expected
    assert teacher.locator("#teach-panel img").count() == 0  # no thumbnails: nothing of the photos is kept
    shot(teacher, "teacher-teach")

    # Cy, on a phone, never gave an example: the counts came live, and the hub names a new view
    assert counts_shown(cy) == {"cat": "cat: 4 examples", "bird": "bird: 4 examples"}
    assert ask_the_hub(cy, view("cat", tmp_path, 0.65, 0.1, 0.9, flip=True)) == "The hub thinks: cat"
    assert cy.inner_text("#teach-next") == "Was it right? If not, tap what it really is, to teach it."
    assert cy.eval_on_selector_all("#teach-others li", "ls => ls.map(l => l.textContent)")[0].startswith("bird (")
    shot(cy, "tablet-teach")
    assert ask_the_hub(cy, view("bird", tmp_path, 0.65, 0.9, 0.1)) == "The hub thinks: bird"
    feed = teacher.inner_text("#feed")
    assert "Cy: what is this? (trying the hub)" in feed and "Ada: showed the hub" in feed

    # the teacher takes Ben's examples out: the hub learns without them
    teacher.on("dialog", lambda d: d.accept())
    teacher.click("#teach-examples-body tr[data-pupil='Ben'] button")
    teacher.wait_for_function("document.querySelectorAll('#teach-examples-body tr').length === 1")
    assert teacher.inner_text("#teach-examples tfoot").split("\t")[:4] == ["Everyone", "2", "2", "4"]
    cy.wait_for_function("document.querySelector(\"#teach-things button[data-label='cat'] .thing-count\")"
                         ".textContent === 'cat: 2 examples'")

    # frozen: no more examples (said in words), trying still works
    teacher.click("#teach-freeze")
    ada.locator("#teach-frozen").wait_for()
    # the tablets hear it on Socket.IO while the hub answers the teacher's request: either may come first
    teacher.wait_for_function("document.getElementById('teach-freeze').textContent === 'Unfreeze: learn again'")
    ada.set_input_files("#teach-file", str(view("cat", tmp_path, 0.6)))
    ada.wait_for_function("!document.getElementById('teach-try').disabled")
    assert ada.locator("#teach-things button").first.is_disabled()
    ada.click("#teach-try")
    ada.wait_for_function("document.getElementById('teach-guess').textContent.startsWith('The hub thinks')"
                          " || document.getElementById('teach-guess').textContent.startsWith(\"I'm not sure\")")
    assert ada.inner_text("#teach-next") == ""  # frozen: not asked to teach it

    # saved as a model: a download link to its zip, and What is this? offers it
    teacher.click("#teach-save")
    teacher.locator("#teach-saved-note").wait_for()
    assert "What is this? can now use it" in teacher.inner_text("#teach-saved-text")
    href = teacher.get_attribute("#teach-export", "href")
    zipped = teacher.request.get(hub.url + href)
    assert zipped.status == 200 and zipped.headers["content-type"] == "application/zip"
    assert zipped.body()[:2] == b"PK"
    wait_for(lambda: hub.model("pets")["status"] == "ready")

    # deleted: the panel offers the form again, with the saved model to reopen; the tablets wait
    teacher.click("#teach-delete")
    teacher.locator("#teach-status").wait_for(state="hidden")
    assert teacher.locator("#teach-new").get_attribute("open") is not None
    teacher.locator("#teach-reopen-row").wait_for()
    assert teacher.eval_on_selector_all("#teach-saved option", "os => os.map(o => o.value)") == ["pets"]
    cy.locator("#teach-wait").wait_for()
    teacher.click("#teach-reopen")
    teacher.locator("#teach-status").wait_for()
    assert "It goes on from the saved model pets." in teacher.inner_text("#teach-state")
    assert teacher.inner_text("#teach-examples-body tr th") == "an earlier lesson"
    cy.locator("#teach-project").wait_for()
    assert counts_shown(cy) == {"cat": "cat: 2 examples", "bird": "bird: 2 examples"}


@pytest.mark.skipif(AXE is None, reason="axe-core not found: pip install axe-playwright-python (it ships axe.min.js) "
                                        "or set CLASSROOM_HUB_AXE to an axe.min.js")
def test_the_teach_screens_pass_axe_at_three_widths(hub, browser, teacher_session, tmp_path):
    """No serious or critical axe-core finding on the pupil's teach screen (a guess shown), on the
    dashboard with its panel (counts, accuracy, confusion table, the form opened) and on the kiosk
    showing what is taught, at 360, 768 and 1280 px, and no layout problem (sideways scroll, text cut off, a control under 48 px) on the
    pupil's screen or in the panel; all kept in test-artifacts/a11y-teach.json."""

    session = teacher_session
    token = session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).json()["token"]
    started = session.post(hub.url + "/api/classes", json={"activity": "teach-the-hub"}, timeout=10)
    assert started.status_code == 201, started.text
    # not "pets": the other test may have saved a model of that name on this module's hub
    made = session.post(hub.url + "/api/teach", json={"name": "animals", "labels": ["cat", "bird"]}, timeout=10)
    assert made.status_code == 201, made.text
    for name in THINGS:  # the teacher's own examples, over REST (a Bearer token, as a script would)
        for fraction, flip in ((0.9, False), (0.8, True), (0.7, False)):
            picture = view(name, tmp_path, fraction, flip=flip).read_bytes()
            given = session.post(f"{hub.url}/api/teach/animals/examples?label={name}", data=picture, timeout=30,
                                 headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"})
            assert given.status_code == 201, given.text
    wait_for(lambda: (session.get(hub.url + "/api/teach/animals", timeout=10).json()["accuracy"] or {}).get("value")
             is not None)
    found: dict = {}
    try:
        for width in WIDTHS:
            tablet = join(browser, hub, started.json()["code"], f"P{width}", width)
            tablet.locator("#teach-project").wait_for()
            assert ask_the_hub(tablet, view("cat", tmp_path, 0.6, 0.2, 0.2)).startswith(("The hub thinks", "I'm not"))
            audit(tablet, f"teach-tablet-{width}", found)
            teacher = log_in(browser, hub, width)
            teacher.wait_for_function("document.getElementById('teach-accuracy').textContent.endsWith('% right')")
            teacher.locator("#teach-examples-body tr[data-pupil='the teacher']").wait_for()
            teacher.click("#teach-new-summary")  # the form too, as the teacher opens it for the next project
            teacher.locator("#teach-kind-poses + label").wait_for()
            audit(teacher, f"teach-dashboard-{width}", found)
            found[f"teach-dashboard-{width}"]["panel_layout"] = teacher.evaluate(LAYOUT, "#teach-panel")
            kiosk = new_page(browser, [], viewport={"width": width, "height": 800})
            kiosk.goto(hub.url + "/kiosk")  # what the class is teaching and the counts, for the room
            kiosk.wait_for_function("document.getElementById('teach-counts').children.length === 2")
            assert kiosk.inner_text("#teach-title") == "animals" and "cat" in kiosk.inner_text("#teach-counts")
            audit(kiosk, f"teach-kiosk-{width}", found)
    finally:
        keep_findings(found, "a11y-teach")
    assert len(found) == 3 * len(WIDTHS)
    assert not serious_findings(found), serious_findings(found)
    layout = {name: page.get("panel_layout", page["layout"]) for name, page in found.items()}
    assert not any(layout.values()), {name: problems for name, problems in layout.items() if problems}

