"""The numpy trainer of "Teach the hub" (hub/teach/trainer.py): real numbers, no mocks.

Synthetic clusters check the contract (shapes, sums, determinism, labels without examples, bad
input, the saved layer); Coral's embedding extractor on ../shared/coral's pictures checks that it
learns real things (issue 15, item 8, first bullet, at the trainer's level)."""
from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pytest

from hub.teach import trainer
from hub.teach.trainer import Evaluation, Head, evaluate, normalise, train
from tests.conftest import CORAL


def clusters(n_labels: int, per_label: int, dim: int, seed: int = 0, spread: float = 0.5,
             centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative examples around one centre per label (embeddings come out of a ReLU)."""
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = rng.gamma(1.0, 1.0, (n_labels, dim))
    labels = np.repeat(np.arange(n_labels), per_label)
    values = centres[labels] + rng.normal(0, spread, (len(labels), dim))
    return np.clip(values, 0, None).astype(np.float32), labels


def test_normalise_gives_unit_rows_and_keeps_zero_rows():
    x = np.array([[3, 4], [0, 0], [0, 2]], np.int64)
    out = normalise(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [0, 1]], rtol=1e-6)
    one = normalise(np.array([1.0, 1.0, 1.0, 1.0]))
    assert one.shape == (4,) and one.dtype == np.float32
    np.testing.assert_allclose(one, [0.5] * 4)


def test_train_gives_probabilities_of_the_right_shape_and_names_new_examples():
    centres = np.random.default_rng(9).gamma(1.0, 1.0, (4, 256))
    x, y = clusters(4, 8, 256, seed=1, centres=centres)
    head = train(x, y, 4)
    assert head.weights.shape == (4, 256) and head.weights.dtype == np.float32
    assert head.bias.shape == (4,) and head.bias.dtype == np.float32
    one = head.scores(x[0])
    assert one.shape == (4,) and one.dtype == np.float32
    assert one.sum() == pytest.approx(1, abs=1e-5)
    many = head.scores(x)
    assert many.shape == (32, 4)
    np.testing.assert_allclose(many.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(many[0], one, rtol=1e-5)
    assert (many.argmax(axis=1) == y).all()
    new_x, new_y = clusters(4, 25, 256, seed=2, centres=centres)  # same things, examples it never saw
    assert (head.scores(new_x).argmax(axis=1) == new_y).mean() >= 0.95
    # features are normalised inside: a feature vector and ten times it score the same
    np.testing.assert_allclose(head.scores(10 * x[5]), head.scores(x[5]), rtol=1e-5)


def test_training_and_evaluation_are_deterministic():
    x, y = clusters(3, 40, 128, seed=3, spread=1.5)
    assert train(x, y, 3, seed=0).to_bytes() == train(x, y, 3, seed=0).to_bytes()
    first, second = evaluate(x, y, 3, seed=4), evaluate(x, y, 3, seed=4)
    assert first.method == "5-fold" and first == second


def test_a_label_with_no_examples_is_never_predicted():
    x, y = clusters(3, 6, 64, seed=5)
    keep = y != 1  # "pine cone" has no examples yet
    head = train(x[keep], y[keep], 3)
    assert head.bias[1] == trainer.ABSENT_BIAS and not head.weights[1].any()
    probes = np.concatenate([x, np.random.default_rng(6).gamma(1.0, 1.0, (200, 64)).astype(np.float32)])
    scores = head.scores(probes)
    assert (scores[:, 1] == 0).all()
    assert (scores.argmax(axis=1) != 1).all()
    assert (scores[:len(y)][y == 0].argmax(axis=1) == 0).all() and (scores[:len(y)][y == 2].argmax(axis=1) == 2).all()


@pytest.mark.parametrize("features, labels, n_labels, reason", [
    (np.zeros((0, 8), np.float32), np.zeros(0, int), 2, "at least one example"),
    (np.ones(8, np.float32), np.zeros(1, int), 2, "at least one example"),
    (np.ones((3, 8), np.float32), np.array([0, 1, 2]), 2, "out of range"),
    (np.ones((3, 8), np.float32), np.array([0, -1, 1]), 2, "out of range"),
    (np.ones((3, 8), np.float32), np.array([0, 1]), 2, "one label per example"),
    (np.ones((3, 8), np.float32), np.array([0.0, 1.0, 1.0]), 2, "whole numbers"),
    (np.full((3, 8), np.nan, np.float32), np.array([0, 1, 1]), 2, "NaN"),
    (np.ones((3, 8), np.float32), np.array([0, 0, 0]), 0, "n_labels"),
    ([["a", "b"]], np.array([0]), 1, "numbers"),
])
def test_bad_input_is_refused_with_a_reason(features, labels, n_labels, reason):
    with pytest.raises(ValueError, match=reason):
        train(features, labels, n_labels)
    with pytest.raises(ValueError, match=reason):
        evaluate(features, labels, n_labels)


def test_scores_refuse_features_of_the_wrong_size():
    head = train(*clusters(2, 3, 16), 2)
    for bad in (np.ones(15), np.ones((2, 17)), np.ones((1, 2, 16)), np.full(16, np.inf)):
        with pytest.raises(ValueError):
            head.scores(bad)


def test_the_layer_round_trips_through_bytes():
    x, y = clusters(3, 5, 32, seed=7)
    head = train(x, y, 4)  # label 3 has no examples: its -1e4 bias survives too
    again = Head.from_bytes(head.to_bytes())
    np.testing.assert_array_equal(again.weights, head.weights)
    np.testing.assert_array_equal(again.bias, head.bias)
    np.testing.assert_array_equal(again.scores(x), head.scores(x))
    assert not again.weights.flags.writeable  # frozen means frozen


def npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def huge_header() -> bytes:
    """An .npz whose weights declare 10^12 float32 (4 TB) in a file of a few hundred bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1_000_000, 1_000_000)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("weights.npy", header.getvalue() + b"\0" * 64)
        z.writestr("bias.npy", npz_member(np.zeros(2, np.float32)))
    return out.getvalue()


def npz_member(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


W, B = np.ones((2, 4), np.float32), np.zeros(2, np.float32)


@pytest.mark.parametrize("data, reason", [
    (b"", "damaged or not an .npz"),
    (b"definitely not a layer", "not a trained layer"),
    (npz_member(W), "single array"),
    (npz(weights=W), "not exactly weights and bias"),
    (npz(weights=W, bias=B, extra=B), "not exactly weights and bias"),
    (npz(weights=W.astype(np.float64), bias=B), "float64, not float32"),
    (npz(weights=W, bias=np.zeros(3, np.float32)), "one value per label"),
    (npz(weights=np.ones(4, np.float32), bias=B), "labels x features"),
    (npz(weights=np.full((2, 4), np.nan, np.float32), bias=B), "NaN"),
    (npz(weights=W, bias=np.array([0, np.inf], np.float32)), "NaN or infinite"),
    (npz(weights=np.array([[object()]], dtype=object), bias=B), "object, not float32"),
    (huge_header(), "declare shape"),
    (npz(weights=W, bias=B)[:-30], "damaged or not an .npz"),
])
def test_from_bytes_refuses_anything_but_a_layer(data, reason):
    with pytest.raises(ValueError, match="not a trained layer") as refused:
        Head.from_bytes(data)
    assert reason in str(refused.value)


def nuisance(n_labels: int, per_label: int, seed: int, centres: np.ndarray, directions: np.ndarray):
    """Clusters blurred along a few shared directions, as lighting and background blur real embeddings."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_labels), per_label)
    values = (centres[labels] + rng.normal(0, 0.6, (len(labels), len(directions))) @ directions
              + rng.normal(0, 0.5, (len(labels), centres.shape[1])))
    return np.clip(values, 0, None).astype(np.float32), labels


def test_refining_learns_what_imprinting_alone_misses(monkeypatch):
    """Class means are pulled about by the shared directions; the softmax layer learns to look past them."""
    rng = np.random.default_rng(10)
    centres = rng.gamma(1.0, 0.4, (1, 1024)) * 3 + rng.gamma(1.0, 0.4, (5, 1024))  # much in common
    directions = rng.normal(size=(8, 1024))
    x, y = nuisance(5, 20, 11, centres, directions)
    new_x, new_y = nuisance(5, 100, 12, centres, directions)
    refined = (train(x, y, 5).scores(new_x).argmax(axis=1) == new_y).mean()
    monkeypatch.setattr(trainer, "STEPS", 0)
    imprinted = (train(x, y, 5).scores(new_x).argmax(axis=1) == new_y).mean()
    assert refined >= 0.85 and refined >= imprinted + 0.2, (refined, imprinted)


def test_fitting_on_dot_products_gives_the_layer_fitting_on_features_gives():
    x, y = clusters(3, 10, 200, seed=13, spread=1.0)
    unit, everything = normalise(x), np.ones((1, 30), np.float32)
    by_example = trainer._fit(unit, y, 3, everything, by_example=True)
    direct = trainer._fit(unit, y, 3, everything, by_example=False)
    np.testing.assert_allclose(by_example.weights(unit), direct.weights(unit), atol=2e-4)
    np.testing.assert_allclose(by_example.bias, direct.bias, atol=2e-4)


def test_poses_few_dimensions_many_examples():
    """34 body-normalised keypoint values: more examples than dimensions, fitted on the features."""
    centres = np.random.default_rng(14).normal(0, 1, (3, 34))
    x, y = clusters(3, 30, 34, seed=15, spread=0.3, centres=centres)
    x -= 0.5  # keypoints are signed; the trainer must not assume non-negative features
    head = train(x, y, 3)
    new_x, new_y = clusters(3, 30, 34, seed=16, spread=0.3, centres=centres)
    assert (head.scores(new_x - 0.5).argmax(axis=1) == new_y).mean() >= 0.95
    assert train(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), 2).scores([0.9, 0.1]).argmax() == 0


def by_hand(x, y, n_labels, fold_of) -> list[list[int]]:
    """The confusion table from `train` itself, one call per fold: what `evaluate` must match."""
    confusion = np.zeros((n_labels, n_labels), int)
    for fold in range(fold_of.max() + 1):
        held = fold_of == fold
        guesses = train(x[~held], y[~held], n_labels).scores(x[held]).argmax(axis=1)
        np.add.at(confusion, (y[held], guesses), 1)
    return confusion.tolist()


def test_leave_one_out_is_train_on_every_example_but_one():
    x, y = clusters(3, 10, 64, seed=17, spread=2.5)  # noisy enough to make mistakes
    result = evaluate(x, y, 3)
    assert result.method == "leave-one-out" and result.tested == 30
    assert sum(map(sum, result.confusion)) == result.tested
    assert result.confusion == by_hand(x, y, 3, np.arange(30))
    assert 0.4 < result.accuracy < 1  # some mistakes: the comparison above means something
    assert result.accuracy == np.trace(result.confusion) / 30


def test_five_fold_above_the_threshold_is_train_on_four_folds():
    n = trainer.LEAVE_ONE_OUT_UP_TO + 20
    x, y = clusters(4, n // 4, 16, seed=18, spread=2.0)  # more examples than dimensions
    result = evaluate(x, y, 4, seed=3)
    assert result.method == "5-fold" and result.tested == len(y)
    assert sum(map(sum, result.confusion)) == result.tested
    folds = trainer._stratified_folds(y, np.ones(len(y), bool), 3)
    assert sorted(np.bincount(folds)) == [len(y) // 5] * 5  # even folds, every label in each
    for fold in range(5):
        assert len(set(y[folds == fold])) == 4
    assert result.confusion == by_hand(x, y, 4, folds)
    assert 0.3 < result.accuracy < 1


def test_evaluation_holds_out_only_what_leaves_its_label_known():
    x, y = clusters(3, 4, 32, seed=19)
    alone = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:1]])  # label 1: one example
    result = evaluate(x[alone], y[alone], 3)
    assert (result.accuracy, result.tested) == (None, 0)  # only label 0 could be tested
    assert result.confusion == [[0, 0, 0]] * 3
    some = np.concatenate([alone, np.flatnonzero(y == 2)])
    result = evaluate(x[some], y[some], 3)
    assert result.tested == 8 and result.accuracy == 1.0
    assert sum(result.confusion[1]) == 0  # the lone example of label 1 was never held out
    assert evaluate(x[:1], y[:1], 3).accuracy is None


def test_mixed_up_names_the_pair_it_confuses():
    centres = np.random.default_rng(20).gamma(1.0, 1.0, (3, 64))
    centres[2] = centres[1]  # pine cones and stones look the same to it
    x, y = clusters(3, 12, 64, seed=21, spread=0.8, centres=centres)
    result = evaluate(x, y, 3)
    pairs = result.mixed_up(["leaf", "pine cone", "stone"])
    assert pairs[0]["a"] == "pine cone" and pairs[0]["b"] == "stone"
    assert pairs[0]["count"] == result.confusion[1][2] + result.confusion[2][1] >= 4
    assert all("leaf" not in (p["a"], p["b"]) for p in pairs)  # leaves are never confused
    assert result.mixed_up(["leaf", "pine cone", "stone"], at_least=pairs[0]["count"] + 1) == []
    with pytest.raises(ValueError, match="2 names for 3 labels"):
        result.mixed_up(["leaf", "stone"])
    by_count = Evaluation("leave-one-out", 0.5, 12, [[0, 1, 3], [1, 0, 0], [0, 5, 2]])
    assert by_count.mixed_up(["a", "b", "c"]) == [
        {"a": "b", "b": "c", "count": 5}, {"a": "a", "b": "c", "count": 3}, {"a": "a", "b": "b", "count": 2}]


# --- real embeddings: Coral's MobileNet v1 extractor on Coral's test pictures ---------------------

EXTRACTOR = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
THINGS = ("cat.bmp", "bird.bmp", "sunflower.bmp", "dragonfly.bmp", "grace_hopper.bmp")


@pytest.fixture(scope="module")
def extract():
    if not (CORAL / EXTRACTOR).exists():
        pytest.skip(f"Coral's embedding extractor {EXTRACTOR} is not in {CORAL} (../shared is absent)")
    from bench.teach import Extractor

    return Extractor(CORAL / EXTRACTOR)


def views(extract, things, make) -> tuple[np.ndarray, np.ndarray]:
    features, labels = [], []
    for label, thing in enumerate(things):
        picture = cv2.imread(str(CORAL / thing))
        for view in make(picture):
            features.append(extract(view))
            labels.append(label)
    return np.stack(features), np.array(labels)


def test_five_real_things_taught_from_crops_and_flips_name_held_out_crops(extract):
    from bench.teach import crop

    def examples(p):  # the whole picture, mirrored, its four corners, a mirrored centre crop
        return [p, cv2.flip(p, 1), *(crop(p, 0.8, cx, cy) for cx in (0, 1) for cy in (0, 1)),
                cv2.flip(crop(p, 0.8), 1)]

    def held_out(p):  # crops at sizes and places no example used
        return [crop(p, 0.6), crop(p, 0.7, 0.25, 0.75), crop(p, 0.7, 0.75, 0.25), cv2.flip(crop(p, 0.65, 0.4, 0.6), 1)]

    x, y = views(extract, THINGS, examples)
    assert x.shape == (35, 1024)
    head = train(x, y, len(THINGS))
    test_x, test_y = views(extract, THINGS, held_out)
    scores = head.scores(test_x)
    named = [THINGS[i] for i in scores.argmax(axis=1)]
    assert named == [THINGS[i] for i in test_y]
    assert scores[np.arange(len(test_y)), test_y].min() > 0.5  # named right, and not by a whisker
    result = evaluate(x, y, len(THINGS))
    assert result.method == "leave-one-out" and result.tested == 35 and result.accuracy == 1.0
    assert result.mixed_up(list(THINGS)) == []
