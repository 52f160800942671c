"""Move like me: is the pupil doing the pose asked, judged by joint angles, and what to change.

Pure logic (no Flask, no model): `check_pose(target, keypoints, width, height)` takes the 17
keypoints the hub's pose task returns for one photo (`{"name", "x", "y", "score"}`, x and y as
fractions of the picture's width and height, origin top-left, y down) and returns a `Verdict`.
"left" is always the PERSON's left, as MoveNet names it, so "raise your left arm" is right for the
pupil; in a photo of a pupil facing the camera their left is on the picture's right (the figures
below are drawn that way).

Angles are measured in pixels (x times the width, y times the height): the same fractions on a
wide and on a tall picture are different bodies. Angles, all in degrees:
- "left/right elbow": shoulder-elbow-wrist at the elbow; 180 = a straight arm.
- "left/right shoulder" (how far the arm is raised): between the torso going DOWN (shoulder to
  hip) and the upper arm (shoulder to elbow); 0 = arm down by the side, 90 = out sideways,
  180 = straight up. Unsigned: an arm across the chest also reads 90 (rare in these poses).
- "left/right hip": shoulder-hip-knee at the hip; 180 = standing straight.
- "left/right knee": hip-knee-ankle at the knee; 180 = a straight leg.
- "legs apart": between the two thighs' directions (each hip to its own knee). Not from the hip
  midpoint: seen from there, a child standing with feet together already measures about 25
  degrees (the hips are a hand apart), too close to a star's legs; parallel thighs read 0 here.
- "left/right hand to hip": at the elbow, between the forearm (elbow to wrist) and the line from
  the elbow to the same side's hip; 0 = the forearm points at the hip (hands on hips).
One measure is not an angle and is left out of `Verdict.angles`:
- "foot lift": how much higher one ankle is than the other, over the length of the standing leg
  (the one with the lower ankle: hip to knee plus knee to ankle); "standing knee" is that leg's
  knee angle (a copy of its "left/right knee", so also left out).
A keypoint is seen when its score is at least MIN_SCORE and x and y are finite numbers inside the
picture (0..1); a pose's checks need only their own parts (the ears never matter). Each pose is a
few checks with tolerances wide enough for children (reasons beside each); advice is the biggest
miss first, a pair of sides missing the same way is said once ("Raise both arms higher."), and a
photo missing a needed part asks the pupil to step back first.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

from ..tasks.pose import MOVENET_KEYPOINTS

MIN_SCORE = 0.3  # a keypoint below this is "not seen" (MoveNet's own demos draw from 0.3 up)
STEP_BACK = "Step back so your whole body is in the photo."
MAX_ADVICE = 3
# how a miss of "foot lift" (a fraction of the leg) ranks against misses in degrees: 0.1 of a leg
# short counts as 10 degrees, about what a child sees as "a bit more"
RATIO_TO_DEGREES = 100.0

SKELETON: tuple[tuple[str, str], ...] = (
    ("nose", "left eye"), ("nose", "right eye"), ("left eye", "left ear"), ("right eye", "right ear"),
    ("left shoulder", "right shoulder"),
    ("left shoulder", "left elbow"), ("left elbow", "left wrist"),
    ("right shoulder", "right elbow"), ("right elbow", "right wrist"),
    ("left shoulder", "left hip"), ("right shoulder", "right hip"), ("left hip", "right hip"),
    ("left hip", "left knee"), ("left knee", "left ankle"),
    ("right hip", "right knee"), ("right knee", "right ankle"),
)

Point = tuple[float, float]


# ---- geometry (pixels) -------------------------------------------------------------------------

def _unit(v: Point) -> Point | None:
    """v scaled to length 1; None when it has no direction (two keypoints on one spot) or is too
    big to measure (a picture size near the float limit)."""
    length = math.hypot(v[0], v[1])
    if not (math.isfinite(length) and length > 1e-9):
        return None
    return v[0] / length, v[1] / length


def _between(u: Point, v: Point) -> float | None:
    a, b = _unit(u), _unit(v)
    if a is None or b is None:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, a[0] * b[0] + a[1] * b[1]))))


def _to(a: Point, b: Point) -> Point:
    return b[0] - a[0], b[1] - a[1]


def _at(a: Point, b: Point, c: Point) -> float | None:
    """The angle a-b-c at b."""
    return _between(_to(b, a), _to(b, c))


def _standing(p: dict[str, Point]) -> str:
    """The side of the leg the pupil stands on: the lower ankle (y grows downwards)."""
    return "left" if p["left ankle"][1] >= p["right ankle"][1] else "right"


def _foot_lift(p: dict[str, Point]) -> float | None:
    side = _standing(p)
    other = "right" if side == "left" else "left"
    leg = math.dist(p[f"{side} hip"], p[f"{side} knee"]) + math.dist(p[f"{side} knee"], p[f"{side} ankle"])
    if not (math.isfinite(leg) and leg > 1e-9):
        return None
    lift = (p[f"{side} ankle"][1] - p[f"{other} ankle"][1]) / leg
    return lift if math.isfinite(lift) else None


def _standing_knee(p: dict[str, Point]) -> float | None:
    side = _standing(p)
    return _at(p[f"{side} hip"], p[f"{side} knee"], p[f"{side} ankle"])


@dataclass(frozen=True)
class _Measure:
    parts: tuple[str, ...]
    compute: Callable[[dict[str, Point]], float | None]
    angle: bool = True  # False: not an angle in Verdict.angles (foot lift, standing knee)


def _measures() -> dict[str, _Measure]:
    m: dict[str, _Measure] = {}
    for side in ("left", "right"):
        s, e, w, h, k, a = (f"{side} {part}" for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"))
        # default arguments bind this side's names (a closure would see the last side's)
        m[f"{side} elbow"] = _Measure((s, e, w), lambda p, s=s, e=e, w=w: _at(p[s], p[e], p[w]))
        m[f"{side} shoulder"] = _Measure((s, e, h), lambda p, s=s, e=e, h=h: _between(_to(p[s], p[h]),
                                                                                       _to(p[s], p[e])))
        m[f"{side} hip"] = _Measure((s, h, k), lambda p, s=s, h=h, k=k: _at(p[s], p[h], p[k]))
        m[f"{side} knee"] = _Measure((h, k, a), lambda p, h=h, k=k, a=a: _at(p[h], p[k], p[a]))
        m[f"{side} hand to hip"] = _Measure((e, w, h), lambda p, e=e, w=w, h=h: _at(p[w], p[e], p[h]))
    m["legs apart"] = _Measure(("left hip", "right hip", "left knee", "right knee"),
                               lambda p: _between(_to(p["left hip"], p["left knee"]),
                                                  _to(p["right hip"], p["right knee"])))
    legs = tuple(f"{side} {part}" for side in ("left", "right") for part in ("hip", "knee", "ankle"))
    m["foot lift"] = _Measure(legs, _foot_lift, angle=False)
    m["standing knee"] = _Measure(legs, _standing_knee, angle=False)
    return m


MEASURES = _measures()


# ---- poses -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One measure within [low, high] (None: no limit that way), and what to say when it is not.
    `both_low`/`both_high`: what to say instead when the other side misses the same way too."""

    measure: str
    low: float | None = None
    high: float | None = None
    too_low: str = ""
    too_high: str = ""
    both_low: str = ""
    both_high: str = ""

    def miss(self, value: float) -> tuple[float, str]:
        """How far outside the range (0 inside; degrees, or RATIO_TO_DEGREES per leg for a ratio)
        and which way: "low" or "high"."""
        scale = 1.0 if MEASURES[self.measure].angle else RATIO_TO_DEGREES
        if self.low is not None and value < self.low:
            return (self.low - value) * scale, "low"
        if self.high is not None and value > self.high:
            return (value - self.high) * scale, "high"
        return 0.0, ""


def _sides(joint: str, low: float | None = None, high: float | None = None, too_low: str = "",
           too_high: str = "", both_low: str = "", both_high: str = "") -> tuple[Check, Check]:
    """The same check on the left and the right: "{side}" in the advice names the pupil's side."""
    left, right = (Check(f"{side} {joint}", low, high, too_low.format(side=side), too_high.format(side=side),
                         both_low, both_high) for side in ("left", "right"))
    return left, right


@dataclass(frozen=True)
class PoseTarget:
    name: str  # stable id: "arms-up"
    title: str  # what a child reads: "Arms up"
    how: str  # one short instruction
    figure: dict[str, tuple[float, float]]  # ideal stick figure: name -> (x, y), fractions of a 3:4 portrait
    checks: tuple[Check, ...] = field(default=(), repr=False)  # what check_pose measures (not sent)

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "how": self.how,
                "figure": [{"name": n, "x": self.figure[n][0], "y": self.figure[n][1]} for n in MOVENET_KEYPOINTS]}


# The figures are drawn on a 300 x 400 grid (3:4, the frame the tablet draws them in) as seen by a
# camera facing the pupil: the pupil's left on the picture's right. Each keeps 10 degrees or more
# from every other pose's limits, so a figure is accepted by its own pose only.
FRAME = (300, 400)
_STANDING: dict[str, Point] = {
    "nose": (150, 88), "left eye": (158, 80), "right eye": (142, 80), "left ear": (168, 86), "right ear": (132, 86),
    "left shoulder": (182, 135), "right shoulder": (118, 135),
    "left elbow": (190, 183), "right elbow": (110, 183), "left wrist": (195, 226), "right wrist": (105, 226),
    "left hip": (172, 230), "right hip": (128, 230),
    "left knee": (172, 305), "right knee": (128, 305), "left ankle": (172, 378), "right ankle": (128, 378),
}


def _figure(changes: dict[str, Point], drop: float = 0.0) -> dict[str, tuple[float, float]]:
    """A standing figure with `changes` (grid points), the head and shoulders `drop` lower (a
    squat), as fractions of the frame."""
    upper = ("nose", "left eye", "right eye", "left ear", "right ear", "left shoulder", "right shoulder",
             "left elbow", "right elbow", "left wrist", "right wrist")
    points = {n: (x, y + drop if n in upper else y) for n, (x, y) in _STANDING.items()}
    points.update(changes)
    return {n: (round(points[n][0] / FRAME[0], 4), round(points[n][1] / FRAME[1], 4)) for n in MOVENET_KEYPOINTS}


_RAISE = dict(too_low="Raise your {side} arm higher.", both_low="Raise both arms higher.")
_STRAIGHT_ARM = dict(too_low="Straighten your {side} arm.", both_low="Straighten both arms.")
_SIT_BACK = "Sit back more, as if on a chair."  # a hip bends with the other: one piece of advice

_POSES = (
    PoseTarget(
        "arms-up", "Arms up", "Stretch both arms straight up above your head.",
        _figure({"left elbow": (192, 87), "left wrist": (198, 43), "right elbow": (108, 87), "right wrist": (102, 43)}),
        # 140: arms that go up but lean out (a V) still count; below it they are more out than up.
        # Elbows 130: straight-ish; a child's "straight" arm is often 150-160 in a photo.
        (*_sides("shoulder", low=140, **_RAISE), *_sides("elbow", low=130, **_STRAIGHT_ARM))),
    PoseTarget(
        "t-pose", "T shape", "Stretch both arms straight out to the sides, like the letter T.",
        _figure({"left elbow": (232, 135), "left wrist": (277, 135),
                 "right elbow": (68, 135), "right wrist": (23, 135)}),
        # 70-115: "straight out" arms droop or rise 15-20 degrees and the camera is rarely level; 115
        # stops below a star's arms. Elbows 140: a T's arms are straight, with slack for soft elbows.
        (*_sides("shoulder", low=70, high=115, too_high="Lower your {side} arm a little.",
                 both_high="Lower both arms a little.", **_RAISE),
         *_sides("elbow", low=140, **_STRAIGHT_ARM))),
    PoseTarget(
        "star", "Star", "Jump your feet wide apart and stretch your arms up and out, like a star.",
        _figure({"left elbow": (224, 108), "left wrist": (262, 84), "right elbow": (76, 108), "right wrist": (38, 84),
                 "left knee": (200, 300), "left ankle": (227, 368),
                 "right knee": (100, 300), "right ankle": (73, 368)}),
        # arms 100-170: above a T, short of straight up; legs 30: feet together read 0-10, a
        # jumped star 40-60.
        (*_sides("shoulder", low=100, high=170, too_high="Move your {side} arm out to the side a little.",
                 both_high="Move both arms out to the sides a little.", **_RAISE),
         *_sides("elbow", low=130, **_STRAIGHT_ARM),
         Check("legs apart", low=30, too_low="Put your feet wider apart."))),
    PoseTarget(
        "squat", "Squat", "Face the camera, point your knees out and sit down low, as if on a little chair.",
        _figure({"left hip": (172, 300), "right hip": (128, 300), "left knee": (215, 318), "right knee": (85, 318),
                 "left ankle": (190, 378), "right ankle": (110, 378),
                 "left elbow": (180, 240), "left wrist": (176, 262), "right elbow": (120, 240),
                 "right wrist": (124, 262)}, drop=80),
        # Seen from the front, bent knees only show as bent when they point out (hence the "how").
        # Knees 130 and hips 140: standing reads 170-180, a half squat already passes.
        (*_sides("knee", high=130, too_high="Bend your {side} knee more.", both_high="Bend your knees more."),
         *_sides("hip", high=140, too_high=_SIT_BACK, both_high=_SIT_BACK))),
    PoseTarget(
        "one-leg", "Stand on one leg", "Stand on one leg and lift the other foot off the ground.",
        _figure({"right knee": (130, 280), "right ankle": (126, 335),
                 "left elbow": (217, 170), "left wrist": (249, 202),
                 "right elbow": (83, 170), "right wrist": (51, 202)}),
        # 0.15 of the leg: about a hand's height for a child, well clear of MoveNet's ankle jitter
        # (a few hundredths of a leg) and of a foot simply further forward. The standing knee 140:
        # standing, not squatting on one leg.
        (Check("foot lift", low=0.15, too_low="Lift one foot off the ground."),
         Check("standing knee", low=140, too_low="Keep the leg you stand on straight."))),
    PoseTarget(
        "hands-on-hips", "Hands on hips", "Put your hands on your hips with your elbows pointing out.",
        _figure({"left elbow": (214, 173), "left wrist": (189, 207),
                 "right elbow": (86, 173), "right wrist": (111, 207)}),
        # Elbows bent (135 or less), upper arms out to the side (15-80: not pinned to the body, not
        # up to a T), and each forearm pointing at its hip (within 35).
        (*_sides("elbow", high=135, too_high="Bend your {side} arm more.", both_high="Bend both arms more."),
         *_sides("shoulder", low=15, high=80, too_low="Point your {side} elbow out to the side.",
                 too_high="Lower your {side} elbow.", both_low="Point both elbows out to the sides.",
                 both_high="Lower both elbows."),
         *_sides("hand to hip", high=35, too_high="Put your {side} hand on your hip.",
                 both_high="Put your hands on your hips."))),
)

POSES: dict[str, PoseTarget] = {p.name: p for p in _POSES}  # in the order the tablet offers them


# ---- the verdict -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    matched: bool
    advice: list[str]  # what to change, most important first, at most 3; empty when matched
    missing: list[str]  # needed body parts the photo does not show well enough
    angles: dict[str, float]  # measured angles in degrees, 1 place
    score: float  # 0..1: the fraction of the pose's checks met

    def to_json(self) -> dict:
        return {"matched": self.matched, "advice": list(self.advice), "missing": list(self.missing),
                "angles": dict(self.angles), "score": self.score}


def _target(target: object) -> PoseTarget:
    if isinstance(target, PoseTarget):
        pose = target
    elif isinstance(target, str) and target in POSES:
        pose = POSES[target]
    else:
        raise ValueError(f"unknown pose {str(target)[:40]!r}: choose one of {', '.join(POSES)}")
    if not pose.checks or any(c.measure not in MEASURES for c in pose.checks):
        raise ValueError(f"the pose {pose.name!r} has no checks this checker knows: give it checks on "
                         f"{', '.join(MEASURES)}")
    return pose


def _size(value: object, what: str) -> float:
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except (ArithmeticError, ValueError, TypeError):
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"the picture's {what} must be a positive number of pixels, not {str(value)[:40]!r}")
    return number


def _number(entry: dict, key: str, index: int) -> float | None:
    """The entry's x, y or score; None when absent, null (JavaScript's JSON for NaN) or too big
    for a float. Anything else that is not a number is the caller's mistake."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"keypoint {index + 1} ({str(entry.get('name'))[:40]!r}): {key} must be a number, "
                         f"not {str(value)[:40]!r}")
    try:
        return float(value)
    except (ArithmeticError, ValueError, TypeError):
        return None


def _seen(keypoints: object, width: float, height: float) -> dict[str, Point]:
    """The keypoints seen well enough, by name, in pixels."""
    if isinstance(keypoints, dict) and "keypoints" in keypoints:
        raise ValueError("pass the list under the reply's \"keypoints\", not the whole reply")
    if not isinstance(keypoints, (list, tuple)):
        raise ValueError(f"keypoints must be a list of {len(MOVENET_KEYPOINTS)} objects with name, x, y and score")
    if len(keypoints) != len(MOVENET_KEYPOINTS):
        raise ValueError(f"a pose has {len(MOVENET_KEYPOINTS)} keypoints (MoveNet's), not {len(keypoints)}: "
                         "pass the pose model's keypoints as the hub returns them")
    seen: dict[str, Point] = {}
    given: set[str] = set()
    for index, entry in enumerate(keypoints):
        if not isinstance(entry, dict):
            raise ValueError(f"keypoint {index + 1} must be an object with name, x, y and score, "
                             f"not {str(entry)[:40]!r}")
        x, y, score = (_number(entry, key, index) for key in ("x", "y", "score"))
        name = entry.get("name")
        if not isinstance(name, str) or name not in MOVENET_KEYPOINTS or name in given:
            continue  # unnamed, unknown or repeated: the part it should have named stays missing
        given.add(name)
        if x is None or y is None or score is None or not math.isfinite(score) or score < MIN_SCORE:
            continue
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):  # NaN fails these too
            continue
        point = (x * width, y * height)
        if math.isfinite(point[0]) and math.isfinite(point[1]):
            seen[name] = point
    return seen


def _other_side(measure: str) -> str:
    if measure.startswith("left "):
        return "right " + measure[5:]
    if measure.startswith("right "):
        return "left " + measure[6:]
    return ""


def check_pose(target: str | PoseTarget, keypoints: list[dict], width: int, height: int) -> Verdict:
    """Whether these keypoints (of a picture `width` x `height` pixels) show the pose `target`.

    Raises ValueError (with a plain message) for an unknown pose, a list not of 17 keypoint objects,
    an x, y or score that is not a number, and a width or height that is not a positive number;
    a keypoint that cannot be used (NaN, infinite, outside the picture, null, unnamed, low score)
    is only missing."""
    pose = _target(target)
    w, h = _size(width, "width"), _size(height, "height")
    seen = _seen(keypoints, w, h)

    values: dict[str, float | None] = {}
    for name, measure in MEASURES.items():
        values[name] = measure.compute(seen) if all(p in seen for p in measure.parts) else None
    angles = {n: round(v, 1) for n, v in values.items() if v is not None and MEASURES[n].angle}

    needed = {p for c in pose.checks for p in MEASURES[c.measure].parts}
    # a measure whose parts are all "seen" but on one spot shows nothing either
    unclear = {p for c in pose.checks if values[c.measure] is None and all(q in seen for q in MEASURES[c.measure].parts)
               for p in MEASURES[c.measure].parts}
    missing = [p for p in MOVENET_KEYPOINTS if p in needed and (p not in seen or p in unclear)]

    misses: dict[str, tuple[float, str]] = {}
    met = 0
    for check in pose.checks:
        value = values[check.measure]
        if value is None:
            continue
        misses[check.measure] = check.miss(value)
        met += misses[check.measure][0] == 0

    advice: list[str] = [STEP_BACK] if missing else []
    failing = sorted((c for c in pose.checks if misses.get(c.measure, (0, ""))[0] > 0),
                     key=lambda c: -misses[c.measure][0])
    for check in failing:
        miss, way = misses[check.measure]
        partner = misses.get(_other_side(check.measure), (0.0, ""))
        both = check.both_low if way == "low" else check.both_high
        text = both if both and partner[0] > 0 and partner[1] == way else (
            check.too_low if way == "low" else check.too_high)
        if text and text not in advice:
            advice.append(text)
    matched = not missing and met == len(pose.checks)
    return Verdict(matched, [] if matched else advice[:MAX_ADVICE], missing, angles,
                   round(met / len(pose.checks), 3))
