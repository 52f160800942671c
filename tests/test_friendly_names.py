"""Friendly names for children: the default rule, the reviewed ImageNet fixes, hidden classes never
ranked, and real Coral models answering over REST and in the "What is this?" activity."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hub.manifest import TensorSpec, parse_labels
from hub.tasks.classification import top_k
from hub.tasks.naming import MAX_LENGTH, NAMES_DIR, default_name, display_name, fixes, naming
from tests.conftest import CORAL, call, coral_model, need_coral, received

DRAGONFLY = ("dragonfly, darning needle, devil's darning needle, sewing needle, snake feeder, snake doctor, "
             "mosquito hawk, skeeter hawk")
FLOAT_OUT = TensorSpec("out", (1, 1001), "float32", 0.0, 0)
CAT_NAMES = {"tiger cat", "Egyptian cat", "tabby cat", "lynx"}
# MobileNet v1 0.75 at 192 px: the smallest of ../shared/coral that sees the dragonfly (0.25 at 128 px
# answers "tiger beetle")
MOBILENET = "mobilenet_v1_0.75_192_quant.tflite"


def imagenet_labels() -> tuple[str, ...]:
    return parse_labels((need_coral() / "imagenet_labels.txt").read_text())


# ---- the rules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("label, name", [
    (DRAGONFLY, "dragonfly"),
    ("tiger cat", "tiger cat"),
    ("goldfish, Carassius auratus", "goldfish"),
    ("golden_retriever", "golden retriever"),  # Keras-style labels
    ("  7 ", "7"),
    ("Poecile atricapillus (Black-capped Chickadee)", "Black-capped Chickadee"),  # Coral's iNaturalist
    ("Danaus plexippus (Monarch Butterfly)", "Monarch Butterfly"),
    ("Apis mellifera subsp. ligustica (Italian Honey Bee)", "Italian Honey Bee"),
    ("Tea (hot)", "Tea (hot)"),  # not Latin: the label as it is
    ("a very long label that says far too much about one thing", "a very long label that says…"),
])
def test_default_rule(label, name):
    assert default_name(label) == name
    assert len(default_name(label)) <= MAX_LENGTH


@pytest.mark.parametrize("label, name", [
    ("junco, snowbird", "junco (a bird)"),
    ("maillot", "swimsuit"),
    ("maillot, tank suit", "swimsuit"),
    ("bikini, two-piece", "swimsuit"),
    ("beer bottle", "bottle"),
    ("rubber eraser, rubber, pencil eraser", "eraser"),
    ("projectile, missile", "rocket"),
    ("kite", "kite (a bird)"),  # the bird, not the toy
    ("Pembroke, Pembroke Welsh corgi", "corgi"),
    ("komondor", "komondor (a dog)"),
    (DRAGONFLY, "dragonfly"),
    ("tiger cat", "tiger cat"),  # a plain label needs no fix
])
def test_reviewed_fixes(label, name):
    assert display_name(label) == name


def test_the_data_file_is_well_formed():
    data = json.loads((NAMES_DIR / "imagenet.json").read_text(encoding="utf-8"))
    assert set(data) == {"about", "names", "hidden"}
    assert all(isinstance(v, str) and 0 < len(v) <= MAX_LENGTH for v in data["names"].values())
    assert not set(data["names"]) & set(data["hidden"])  # a class is renamed or hidden, not both
    assert {"assault rifle, assault gun", "revolver, six-gun, six-shooter", "rifle", "brassiere, bra, bandeau",
            "red wine", "background"} <= fixes().hidden


def test_every_imagenet_line_gets_a_short_name():
    labels = imagenet_labels()
    assert len(labels) == 1001
    names = naming(labels)
    for label, name in zip(labels, names.names):
        assert name.strip() and len(name) <= MAX_LENGTH, (label, name)
    hidden = [label for label, h in zip(labels, names.hidden) if h]
    assert len(hidden) == len(set(json.loads((NAMES_DIR / "imagenet.json").read_text())["hidden"]))
    assert "background" in hidden and "rifle" in hidden
    # every fix in the data file is for a real line of the labels file: no typo left a fix unused
    data = json.loads((NAMES_DIR / "imagenet.json").read_text(encoding="utf-8"))
    assert set(data["names"]) | set(data["hidden"]) <= set(labels)


# ---- hidden classes never come out of top_k -------------------------------------------------------

def test_hidden_classes_never_come_out_of_top_k():
    labels = imagenet_labels()
    for hidden in sorted(fixes().hidden):
        index = labels.index(hidden)
        logits = np.zeros(1001, dtype=np.float32)
        logits[index] = 20.0  # the model is sure of the hidden class
        logits[labels.index("tiger cat")] = 5.0
        logits[labels.index("tennis ball")] = 4.0
        top = top_k(logits, FLOAT_OUT, labels, 3, activation="logits")
        assert [c.label for c in top][:2] == ["tiger cat", "tennis ball"], hidden
        assert all(c.index != index for c in top) and len(top) == 3
        assert top[0].score < 0.01  # scores stay the model's own: the hidden class took the probability


def test_renamed_classes_are_ranked_under_their_new_name():
    labels = imagenet_labels()
    logits = np.zeros(1001, dtype=np.float32)
    logits[labels.index("beer bottle")] = 9.0
    logits[labels.index("maillot, tank suit")] = 8.0
    top = top_k(logits, FLOAT_OUT, labels, 2, activation="logits")
    assert [(c.label, c.name) for c in top] == [("beer bottle", "bottle"), ("maillot, tank suit", "swimsuit")]
    assert top[0].to_json() == {"index": labels.index("beer bottle"), "label": "beer bottle", "name": "bottle",
                                "score": round(top[0].score, 6)}


def test_classes_with_equal_scores_come_in_index_order():
    """An int8 output holds many equal scores (most are 0): which of them make the top three must
    not depend on the CPU's sort (argpartition picked others on arm64 than on x86-64)."""
    labels = tuple(str(i) for i in range(1001))
    out = TensorSpec("out", (1, 1001), "uint8", 1 / 256, 0)
    for best in (7, 500, 1000):
        quantized = np.zeros(1001, dtype=np.uint8)
        quantized[best] = 250
        quantized[[900, 40, 600]] = 1  # three equal runners-up, out of order
        assert [c.index for c in top_k(quantized, out, labels, 3)] == [best, 40, 600]
        assert [c.index for c in top_k(quantized, out, labels, 6)] == [best, 40, 600, 900, 0, 1]


def test_top_k_when_every_class_is_hidden_is_empty():
    out = TensorSpec("out", (1, 2), "float32", 0.0, 0)
    assert top_k(np.array([0.9, 0.1], dtype=np.float32), out, ("background", "rifle"), 3) == []


# ---- real Coral models over REST ------------------------------------------------------------------

@pytest.fixture(scope="module")
def nature_models(tmp_path_factory):
    """Coral's MobileNet as it comes, and the same network dropped in with "Latin (Common)" labels,
    as Coral's iNaturalist models write them (cats for the classes near 'tiger cat')."""
    if not (need_coral() / MOBILENET).exists():
        pytest.skip(f"{MOBILENET} not found in {CORAL}")
    root = tmp_path_factory.mktemp("models")
    coral_model(root, "mobilenet", [MOBILENET, "imagenet_labels.txt"])
    folder = coral_model(root, "nature", [MOBILENET])
    imagenet = imagenet_labels()
    latin = ["background"] + [f"Animalia ignota (Creature {i})" for i in range(1, 1001)]
    for i in range(281, 294):  # the cats: tabby ... tiger
        latin[i] = f"Felis catus (House Cat {imagenet[i].split(',')[0]})"
    (folder / "nature_labels.txt").write_text("\n".join(latin) + "\n")
    return root


@pytest.fixture(scope="module")
def nature_hub(nature_models, module_hubs):
    return module_hubs(nature_models)


def classify(hub, model: str, picture: str, k: int = 3) -> list[dict]:
    reply = hub.post(f"/api/models/{model}/classify?top_k={k}", data=(CORAL / picture).read_bytes(),
                     headers={"Content-Type": "image/bmp"})
    assert reply.status_code == 200, reply.text
    return reply.json()["predictions"]


def test_coral_mobilenet_names_the_cat_and_the_dragonfly(nature_hub):
    cat = classify(nature_hub, "mobilenet", "cat.bmp")
    assert cat[0]["name"] in CAT_NAMES and all(set(p) == {"index", "label", "name", "score"} for p in cat)
    assert cat[0]["label"] in {"tiger cat", "Egyptian cat", "tabby, tabby cat"}  # the full label is still there
    dragonfly = classify(nature_hub, "mobilenet", "dragonfly.bmp")
    assert dragonfly[0]["name"] == "dragonfly" and dragonfly[0]["label"] == DRAGONFLY
    many = classify(nature_hub, "mobilenet", "cat.bmp", k=50)
    assert not {p["label"] for p in many} & fixes().hidden and len(many) == 50


def test_a_drop_in_with_latin_labels_gets_common_names(nature_hub):
    cat = classify(nature_hub, "nature", "cat.bmp")
    assert cat[0]["label"].startswith("Felis catus (House Cat ")
    assert cat[0]["name"] == cat[0]["label"][len("Felis catus ("):-1]  # the common name, no Latin
    everything = classify(nature_hub, "nature", "dragonfly.bmp", k=20)
    assert all(p["index"] != 0 for p in everything)  # "background" is never shown
    assert all(p["name"].startswith(("Creature ", "House Cat ")) for p in everything)


# ---- "What is this?" keeps the name a pupil read --------------------------------------------------

def test_what_is_this_records_the_friendly_name(nature_models, in_process):
    app = in_process(nature_models)
    http, dashboard = app.teacher()
    assert http.post("/api/classes", json={"activity": "what-is-this"}).status_code == 201
    code = http.get("/api/classes/current").get_json()["code"]
    tablet = app.tablet()
    call(tablet, "join", {"code": code, "nickname": "Ada"})
    photo = call(tablet, "answer", {"model": "mobilenet", "image": (CORAL / "dragonfly.bmp").read_bytes()})
    best = photo["result"]["predictions"][0]
    assert (best["label"], best["name"]) == (DRAGONFLY, "dragonfly")
    (seen,) = received(dashboard, "answer", "/teacher")
    assert (seen["question"], seen["given"], seen["mode"]) == ("a photo", "dragonfly", "photo")
