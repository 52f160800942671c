"""The trained last layer of "Teach the hub": imprinting, refined by softmax regression, in numpy.

Two steps, as Coral's on-device learning does them (libcoral's ImprintingEngine, then its
SoftmaxRegressionModel), joined into one:
1. Imprinting (Qi et al. 2018, "Low-shot learning with imprinted weights"): each label's weights
   are the mean of its examples' unit-length features, made unit length again, times SCALE. With
   a bias of zero that is "the label whose examples point the most the same way", and it is right
   from the first example of each thing.
2. Refining: a softmax layer starting from those weights, trained on the examples by full-batch
   gradient descent with momentum, a fixed number of steps and an L2 pull back towards the
   imprinted weights. It learns which directions tell the labels apart (not only where each
   label's examples sit), and the pull keeps a handful of examples from being over-fitted.

Every label counts the same in the loss, however many examples it has: a pupil giving forty
pictures of one thing does not drown the thing with six. Nothing is random: the same examples
always give the same layer, bit for bit, on one machine.

Speed: with fewer examples than feature dimensions (the usual case: a lesson has tens to a few
hundred examples of 1024 values), the weights never leave the span of the examples, so the fit
keeps them as coefficients on the examples and works with the examples' dot products, n values
per example instead of 1024: the same layer, faster. `evaluate` fits all its folds at once the
same way: one matrix product per step for every fold together, each fold's held-out examples
weighted zero.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np

SCALE = 10.0  # imprinted logits are SCALE x cosine: the Mul after Coral's imprinted layer
# Gradient descent: the loss is at most 1-smooth in (weights, bias) (unit-length features plus a
# bias input of 1, softmax curvature at most 1/2, example weights summing to 1), so heavy-ball
# momentum 0.9 is stable for steps below 2 x 1.9 = 3.8. At 2, 60 steps name new examples as
# well as 2000 do. Measured on the data of tests/test_teach_trainer.py's refining test (5 labels
# of 1024-d clusters blurred along shared directions, as lighting and background blur real
# embeddings; 20 examples a label), new examples named right: 0.42 imprinting alone, 0.57
# refined with PULL 0.01, 0.93 with 0.001 (0.93 after 2000 steps).
STEPS = 60
LEARNING_RATE = 2.0
MOMENTUM = 0.9
PULL = 0.001  # L2 strength of the pull back towards the imprinted weights
ABSENT_BIAS = np.float32(-1e4)  # a label with no examples: softmax gives it exactly 0
LEAVE_ONE_OUT_UP_TO = 100  # examples; above it, stratified 5-fold (timings in evaluate's docstring)
FOLDS = 5
MAX_HEAD_BYTES = 32 << 20  # a saved layer is 4 x labels x dim bytes: 40 KB for 10 labels of 1024


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length, float32 (a zero row stays zero); 1-D in, 1-D out."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class Head:
    """The trained last layer: softmax(weights @ normalise(f) + bias)."""

    weights: np.ndarray  # (n_labels, dim) float32
    bias: np.ndarray  # (n_labels,) float32

    def __post_init__(self):
        w, b = self.weights, self.bias
        if not isinstance(w, np.ndarray) or not isinstance(b, np.ndarray):
            raise ValueError("the weights and the bias must be numpy arrays")
        if w.dtype != np.float32 or b.dtype != np.float32:
            raise ValueError(f"the weights and the bias must be float32, not {w.dtype} and {b.dtype}")
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError(f"the weights must be a table of labels x features, not of shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"the bias must hold one value per label ({w.shape[0]}), not shape {b.shape}")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError("the weights or the bias hold NaN or infinite values")
        for name, array in (("weights", w), ("bias", b)):  # frozen means frozen: a private read-only copy
            array = array.copy()
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_labels(self) -> int:
        return self.weights.shape[0]

    @property
    def dim(self) -> int:
        return self.weights.shape[1]

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probabilities per label: (n_labels,) for one feature vector (dim,), (k, n_labels) for (k, dim).
        Features are normalised here (callers pass raw features)."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim not in (1, 2) or features.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} features per example, got an array of shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError("the features hold NaN or infinite values")
        return _softmax(normalise(features) @ self.weights.T + self.bias)

    def to_bytes(self) -> bytes:
        """An .npz file (no pickle) of `weights` and `bias`."""
        out = io.BytesIO()
        np.savez(out, weights=self.weights, bias=self.bias)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Head":
        """The layer `to_bytes` wrote; ValueError with a plain reason on anything else."""
        try:
            weights, bias = _read_npz(data)
            return cls(weights, bias)
        except ValueError as exc:
            raise ValueError(f"not a trained layer: {exc}") from None
        except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a trained layer: the file is damaged or not an .npz ({exc})") from None


def _read_npz(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """weights and bias from .npz bytes, each array's header checked before its data is read:
    numpy allocates what a header declares, so a small file could otherwise ask for terabytes."""
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("it is a single array, not an .npz of weights and bias")
    with loaded as npz:
        if sorted(npz.files) != ["bias", "weights"]:
            raise ValueError(f"it holds {sorted(npz.files)}, not exactly weights and bias")
        for name in npz.files:
            with npz.zip.open(f"{name}.npy") as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"its {name} are in .npy format {version}, not 1.0 or 2.0")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(member)
            if dtype != np.float32:
                raise ValueError(f"its {name} are {dtype}, not float32")
            if 4 * math.prod(shape) > MAX_HEAD_BYTES:
                raise ValueError(f"its {name} declare shape {shape}, over the {MAX_HEAD_BYTES} bytes a layer can need")
        return npz["weights"], npz["bias"]


def train(features: np.ndarray, labels: np.ndarray, n_labels: int, *, seed: int = 0) -> Head:
    """features (n, dim) raw float32, labels (n,) ints in [0, n_labels). Imprinting first (class means
    of normalised features, renormalised, times SCALE, as Coral's imprinting engine), then refined by
    a softmax layer trained on the examples (full-batch gradient descent with momentum, STEPS steps,
    L2 pull towards the imprinted weights, deterministic), as Coral's last-layer training does. A label
    with no examples is never predicted (zero weights, bias -1e4). Raises ValueError if there are no
    examples or a label is out of range.

    `seed` is accepted for symmetry with `evaluate` and changes nothing: there is no random start."""
    x, y = _checked(features, labels, n_labels)
    unit = normalise(x)
    fit = _fit(unit, y, n_labels, np.ones((1, len(y)), np.float32))
    return Head(np.ascontiguousarray(fit.weights(unit), np.float32), fit.bias[0].astype(np.float32))


@dataclass(frozen=True)
class Evaluation:
    """How often the model names examples it was not trained on."""

    method: str  # "leave-one-out" up to LEAVE_ONE_OUT_UP_TO examples, "5-fold" (stratified) above
    accuracy: float | None  # None when it cannot be measured (fewer than 2 labels with 2+ examples)
    tested: int  # examples held out in turn
    confusion: list[list[int]]  # [true][predicted] counts, n_labels x n_labels

    def mixed_up(self, names: list[str], at_least: int = 1) -> list[dict]:
        """Pairs the model mixes up most, worst first: [{"a": name, "b": name, "count": k}], both
        directions summed, for the dashboard's "it mixes up pine cones and stones" line."""
        if len(names) != len(self.confusion):
            raise ValueError(f"{len(names)} names for {len(self.confusion)} labels")
        pairs = []
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                count = self.confusion[a][b] + self.confusion[b][a]
                if count >= max(at_least, 1):
                    pairs.append({"a": names[a], "b": names[b], "count": count})
        return sorted(pairs, key=lambda p: -p["count"])  # stable: ties keep the labels' order


def evaluate(features, labels, n_labels: int, *, seed: int = 0) -> Evaluation:
    """Accuracy on examples held out in turn, each fold fitted by the code `train` uses (the same
    model the hub serves, fitted without the held-out examples).

    Leave-one-out up to LEAVE_ONE_OUT_UP_TO examples: every example is held out once, the fairest
    figure for a handful of examples. Above that, stratified 5-fold (each label's examples dealt
    round the folds in an order shuffled by `seed`). Leave-one-out is one fit per example, so its
    cost grows with the cube of the examples; measured here (2-core x86-64, CPU time, 1024 values
    an example): leave-one-out on 60 examples 0.03 s, 100 0.07 s, 150 0.18 s; 5-fold on 10 labels
    x 50 examples 0.04 s. At 100 a Raspberry Pi 4 (about 6x slower) still answers in about 0.5 s.

    Only examples whose label keeps at least one other example are held out: without it the fold
    could not know the label at all, and the miss would say nothing about the model."""
    x, y = _checked(features, labels, n_labels)
    counts = np.bincount(y, minlength=n_labels)
    testable = counts[y] >= 2
    loo = len(y) <= LEAVE_ONE_OUT_UP_TO
    method = "leave-one-out" if loo else f"{FOLDS}-fold"
    confusion = np.zeros((n_labels, n_labels), int)
    if (np.bincount(y[testable], minlength=n_labels) > 0).sum() < 2:
        return Evaluation(method, None, 0, confusion.tolist())
    if loo:
        held = np.flatnonzero(testable)
        fold_of = np.full(len(y), -1)
        fold_of[held] = np.arange(len(held))
    else:
        fold_of = _stratified_folds(y, testable, seed)
    n_folds = int(fold_of.max()) + 1
    trained_on = (fold_of[None, :] != np.arange(n_folds)[:, None]).astype(np.float32)  # (folds, n)
    fit = _fit(normalise(x), y, n_labels, trained_on)
    tested = np.flatnonzero(fold_of >= 0)
    guesses = fit.logits[fold_of[tested], :, tested].argmax(axis=1)  # each example, by the fold that held it out
    np.add.at(confusion, (y[tested], guesses), 1)
    right = int(np.trace(confusion))
    return Evaluation(method, right / len(tested), len(tested), confusion.tolist())


def _checked(features, labels, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)) or n_labels < 1:
        raise ValueError(f"n_labels must be a whole number of at least 1, not {n_labels!r}")
    try:
        x = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("the features must be numbers") from None
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"need at least one example: features of shape (examples, dim), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"need one label per example: {x.shape[0]} examples, labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"the labels must be whole numbers, not {y.dtype}")
    if y.min() < 0 or y.max() >= n_labels:
        raise ValueError(f"a label is out of range: labels run from 0 to {n_labels - 1}, got {y.min()}..{y.max()}")
    if not np.isfinite(x).all():
        raise ValueError("the features hold NaN or infinite values")
    return x, y.astype(np.intp)


@dataclass(frozen=True)
class _Fit:
    """Layers fitted together, one per fold, and their logits on every example (held-out ones too)."""

    params: np.ndarray  # (folds, labels, p): weights, or with `by_example` their coefficients on the examples
    bias: np.ndarray  # (folds, labels)
    logits: np.ndarray  # (folds, labels, n)
    by_example: bool

    def weights(self, x: np.ndarray, fold: int = 0) -> np.ndarray:
        """Fold `fold`'s weights (labels, dim) on the unit features `x` it was fitted from."""
        return self.params[fold] @ x if self.by_example else self.params[fold]


def _fit(x: np.ndarray, y: np.ndarray, n_labels: int, trained_on: np.ndarray,
         by_example: bool | None = None) -> _Fit:
    """One layer per row of `trained_on` (folds, n): that fold's training examples, from the unit
    features `x` (n, dim). All folds step together, in one matrix product per step.

    With fewer examples than dimensions the weights are kept as coefficients on the examples
    (weights = coefficients @ x): they start there (imprinting sums examples) and every gradient
    is a sum of examples, so they never leave. Steps then multiply by the examples' n x n dot
    products instead of their n x dim values: the same layer, bit for bit up to rounding, faster."""
    n_folds, n = trained_on.shape
    by_example = n < x.shape[1] if by_example is None else by_example
    design = x @ x.T if by_example else x.T  # (p, n): logits = params @ design
    onehot = np.eye(n_labels, dtype=np.float32)[y].T  # (L, n)
    members = trained_on[:, None, :] * onehot[None]  # (F, L, n): fold f trains label l on example i
    counts = members.sum(axis=2)  # (F, L)
    present = counts > 0
    # Imprinting: each label's summed unit features, made unit length, times SCALE.
    flat = members.reshape(n_folds * n_labels, n)
    if by_example:
        norms = np.sqrt(np.maximum(((flat @ design) * flat).sum(axis=1), 0)).reshape(n_folds, n_labels, 1)
        imprinted = SCALE * np.divide(members, norms, out=np.zeros_like(members), where=norms > 0)
    else:
        imprinted = SCALE * normalise((flat @ x).reshape(n_folds, n_labels, -1))  # absent labels: zero rows
    # Each present label weighs the same in the loss: example weight 1 / (its label's count x labels).
    per_label = np.divide(1, counts * present.sum(axis=1, keepdims=True), out=np.zeros_like(counts),
                          where=present)
    sample = trained_on * per_label[:, y]  # (F, n), zero for held-out examples
    keep = present[:, :, None].astype(np.float32)
    params = imprinted.copy()
    bias = np.where(present, 0, ABSENT_BIAS).astype(np.float32)
    velocity, bias_velocity = np.zeros_like(params), np.zeros_like(bias)
    shape = (n_folds * n_labels, -1)
    for _ in range(STEPS):
        logits = (params.reshape(shape) @ design).reshape(n_folds, n_labels, n) + bias[:, :, None]
        grad = (_softmax(logits, axis=1) - onehot) * sample[:, None, :]  # (F, L, n)
        grad_params = grad if by_example else (grad.reshape(shape) @ x).reshape(params.shape)
        velocity = MOMENTUM * velocity - LEARNING_RATE * (grad_params + PULL * (params - imprinted)) * keep
        bias_velocity = MOMENTUM * bias_velocity - LEARNING_RATE * grad.sum(axis=2) * present
        params += velocity
        bias += bias_velocity
    logits = (params.reshape(shape) @ design).reshape(n_folds, n_labels, n) + bias[:, :, None]
    return _Fit(params, bias, logits, by_example)


def _stratified_folds(y: np.ndarray, testable: np.ndarray, seed: int) -> np.ndarray:
    """Fold 0..FOLDS-1 of each testable example, -1 for the rest: each label's examples shuffled,
    then dealt round the folds, starting where the last label stopped so the folds stay even."""
    rng = np.random.default_rng(seed)
    fold_of = np.full(len(y), -1)
    start = 0
    for label in np.unique(y[testable]):
        members = rng.permutation(np.flatnonzero((y == label) & testable))
        fold_of[members] = (start + np.arange(len(members))) % FOLDS
        start = (start + len(members)) % FOLDS
    return fold_of


def _softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
