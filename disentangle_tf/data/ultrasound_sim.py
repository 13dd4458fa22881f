"""Simulated fetal ultrasound ("us-sim"), after Experiment 2 of Meng et al. (2019).

Meng, Q., Pawlowski, N., Rueckert, D., Kainz, B. (2019), "Representation
Disentanglement for Multi-task Learning with application to Fetal Ultrasound".
The paper's fetal screening images are private; this module simulates images with the
same two tasks and the same split (Table 1 of the paper) so that the protocol can be
run end to end:

* ``"plane"``: 0 = ``"3VV"`` (three-vessel view), 1 = ``"LVOT"`` (left ventricular
  outflow tract), 2 = ``"Abd"`` (abdominal circumference plane);
* ``"shadow"``: 0 = ``"without"``, 1 = ``"with"`` an acoustic shadow.

Each image is a B-mode-like greyscale image in a sector (fan) field of view with its
apex at the top centre; everything outside the fan is black. Inside the fan the
tissue echogenicity (a background level with smooth texture, the anatomy, bright
reflectors) is multiplied by speckle (the magnitude of complex Gaussian noise drawn on
a polar grid and smoothed slightly along the beam), by a depth attenuation
``exp(-alpha * depth)`` and by the acoustic shadows, then log-compressed. Anatomy:

* ``"3VV"``: three bright-rimmed dark circles in a row, of increasing size;
* ``"LVOT"``: the heart, a bright-walled ellipse with a dark chamber, and the outflow
  tract, a dark channel with bright walls leaving the chamber;
* ``"Abd"``: the abdomen, a large ellipse outline with a dark stomach bubble and a
  bright spine (three ossification centres) on the far side;
* ``"Others"`` (the remaining standard planes, never a plane-task class): one of a
  femur (bright bar with rounded ends), a pair of kidneys beside the spine, a
  four-chamber heart (a bright cross inside a bright-walled ellipse) or the lips
  (two bright bands around a dark slit).

Every structure has a random position, size and rotation and lies inside the fan.
An acoustic shadow is cast by a small, very bright reflector: every pixel deeper than
the reflector along the beam directions it covers (a radial sector from the apex) is
multiplied by a factor of 0.1 to 0.3, with soft angular edges. Shadowed images have
one or two shadows, most of them crossing the anatomy so that they partly hide it.
About a third of the shadow-free images contain the same kind of bright reflector
without a shadow, so that the shadow task cannot be solved by spotting reflectors.

The split follows Table 1 of the paper (``SPLIT_COUNTS``); ``scale`` shrinks every
group (``split_counts``). In training, LVOT never has a shadow; ``"lvot_with_shadow"``
tests that unseen combination, and ``"others"`` tests the shadow task on unseen
anatomy. The images of ``"others"`` carry only the ``"shadow"`` label: their plane is
none of the three classes, so the plane task is not evaluated there.

Sizes are fractions of ``L = min(H, W * 224 / 288)``, so the scene scales with the
image; the default image size (48 x 60) has the paper's aspect (224 x 288).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..task_spec import TaskSpec
from .arguments import check_image_size, check_seed, check_split
from .labelled_images import LabelledImages
from .normalization import standardize_per_image

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SCALE",
    "GROUPS",
    "PAPER_IMAGE_SIZE",
    "PLANES",
    "SPLITS",
    "SPLIT_COUNTS",
    "TASKS",
    "fan_mask",
    "load_us_sim",
    "make_us_sim_split",
    "make_us_sim_splits",
    "render_raw",
    "split_counts",
]

TASKS: tuple[str, ...] = ("plane", "shadow")
"""Task names, in model order."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "plane": ("3VV", "LVOT", "Abd"),
    "shadow": ("without", "with"),
}
"""For each task, the name of class ``k`` at index ``k``."""

PLANES: tuple[str, ...] = ("3VV", "LVOT", "Abd", "Others")
"""Simulated planes: the three plane-task classes and ``"Others"``."""

SPLITS: tuple[str, ...] = ("train", "val", "test_seen", "lvot_with_shadow", "others")
"""Split names (columns of Table 1 of the paper)."""

GROUPS: tuple[str, ...] = tuple(
    f"{plane}-{shadow}" for plane in PLANES for shadow in ("without", "with")
)
"""Group names ``"<plane>-<without|with>"``, for example ``"3VV-with"``."""


def _counts(values) -> dict[str, int]:
    return dict(zip(GROUPS, values))


SPLIT_COUNTS: dict[str, dict[str, int]] = {
    "train": _counts((180, 320, 500, 0, 125, 375, 0, 0)),
    "val": _counts((50, 50, 50, 0, 50, 50, 0, 0)),
    "test_seen": _counts((334, 41, 79, 0, 190, 220, 0, 0)),
    "lvot_with_shadow": _counts((0, 0, 0, 418, 0, 0, 0, 0)),
    "others": _counts((0, 0, 0, 0, 0, 0, 3159, 2211)),
}
"""Images per group in each split at ``scale = 1``: Table 1 of the paper."""

DEFAULT_IMAGE_SIZE: tuple[int, int] = (48, 60)
"""Default ``(height, width)``: the paper's aspect, small enough for a CPU."""

PAPER_IMAGE_SIZE: tuple[int, int] = (224, 288)
"""Image size ``(height, width)`` used in the paper."""

DEFAULT_SCALE = 0.5
"""Default fraction of the paper's group sizes (751 training images)."""

"""Smallest accepted image height or width."""

_ASPECT = PAPER_IMAGE_SIZE[1] / PAPER_IMAGE_SIZE[0]
_FAN_HALF_ANGLE = 0.66  # radians, about 38 degrees
_FAN_NEAR = 0.10  # near-field edge of the fan, in units of L
_FAN_FAR = 0.97  # far edge of the fan, in units of L
_CHUNK_PIXELS = 1 << 20  # pixels rendered at once (bounds the working memory)
_SPECKLE_MEAN = math.sqrt(0.375) * math.sqrt(math.pi / 2)  # E|z| after smoothing
_LOG_GAIN = 4.0  # log compression: log(1 + gain * envelope)


# --------------------------------------------------------------------------- checks


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ValueError(f"scale: expected a number > 0, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale: expected a number > 0, got {scale!r}")
    return float(scale)


def split_counts(scale: float = DEFAULT_SCALE) -> dict[str, dict[str, int]]:
    """Images per group in each split for a given ``scale``.

    Every non-zero count of ``SPLIT_COUNTS`` becomes ``max(1, round(count * scale))``
    (halves rounded up); empty groups stay empty.

    Args:
        scale: number > 0; 1 gives Table 1 of the paper.

    Returns:
        A dict ``{split: {group: count}}`` with the keys of ``SPLIT_COUNTS``.

    Example:
        >>> split_counts(0.5)["train"]["3VV-with"]
        160
    """
    scale = _check_scale(scale)
    return {
        split: {
            group: 0 if count == 0 else max(1, int(math.floor(count * scale + 0.5)))
            for group, count in groups.items()
        }
        for split, groups in SPLIT_COUNTS.items()
    }


# ------------------------------------------------------------------------- geometry


class _Geometry:
    """Pixel grid and fan of one image size (all lengths in pixels)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.unit = min(height, width / _ASPECT)  # L
        self.apex_y, self.apex_x = 0.0, (width - 1) / 2.0
        self.near, self.far = _FAN_NEAR * self.unit, _FAN_FAR * self.unit
        self.half_angle = _FAN_HALF_ANGLE
        yy, xx = np.meshgrid(
            np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij"
        )
        self.yy, self.xx = yy, xx
        dy, dx = yy - self.apex_y, xx - self.apex_x
        self.radius = np.sqrt(dy * dy + dx * dx)
        self.angle = np.arctan2(dx, dy)  # 0 straight down, positive to the right
        self.fan = (
            (self.radius >= self.near)
            & (self.radius <= self.far)
            & (np.abs(self.angle) <= self.half_angle)
        )
        # Polar speckle grid: about one cell per pixel along the beam and one per two
        # pixels across it at the far edge (speckle is coarser laterally).
        self.speckle_rows = max(8, height)
        self.speckle_cols = max(8, width // 2)
        # A small image stands for a downsampled large one, whose pixels average
        # several speckle grains: lower the speckle contrast accordingly (about four
        # paper-size pixels per grain).
        self.speckle_contrast = min(
            1.0, math.sqrt(4.0 * height * width / (PAPER_IMAGE_SIZE[0] * PAPER_IMAGE_SIZE[1]))
        )
        depth = (self.radius - self.near) / (self.far - self.near)
        lateral = (self.angle + self.half_angle) / (2 * self.half_angle)
        self.speckle_row = np.clip(
            (depth * self.speckle_rows).astype(np.int64), 0, self.speckle_rows - 1
        )
        self.speckle_col = np.clip(
            (lateral * self.speckle_cols).astype(np.int64), 0, self.speckle_cols - 1
        )

    def polar_to_pixel(self, radius, angle):
        return self.apex_y + radius * np.cos(angle), self.apex_x + radius * np.sin(angle)


def fan_mask(image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the sector field of view (True inside the fan).

    Example:
        >>> mask = fan_mask((48, 60))
        >>> bool(mask[0, 0]), bool(mask[30, 30])
        (False, True)
    """
    height, width = check_image_size(image_size)
    return _Geometry(height, width).fan.copy()


# ----------------------------------------------------------------------- primitives


def _col(values) -> np.ndarray:
    """Per-image parameters ``(n,)`` as a broadcastable ``(n, 1, 1)`` float32 array."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def _frame(geom: _Geometry, cy, cx, phi):
    """Coordinates ``(u, v)`` of every pixel in frames centred at ``(cy, cx)``.

    ``u`` runs along the direction ``phi`` (radians, from the x axis towards +y).
    """
    dy = geom.yy[None] - _col(cy)
    dx = geom.xx[None] - _col(cx)
    cos, sin = _col(np.cos(phi)), _col(np.sin(phi))
    return dx * cos + dy * sin, dy * cos - dx * sin


def _ellipse(geom: _Geometry, cy, cx, a, b, phi=None) -> np.ndarray:
    """Anti-aliased coverage ``(n, H, W)`` in [0, 1] of filled ellipses.

    Semi-axis ``a`` lies along ``phi`` (circles when ``phi`` is None and ``a == b``).
    The edge is about one pixel wide.
    """
    if phi is None:
        u = geom.xx[None] - _col(cx)
        v = geom.yy[None] - _col(cy)
    else:
        u, v = _frame(geom, cy, cx, phi)
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    u /= _col(a)
    v /= _col(b)
    q = u * u + v * v
    # Near the edge 1 - sqrt(q) ~ (1 - q) / 2: a signed distance in units of the radius.
    q = 1.0 - q
    q *= _col(0.5 * np.sqrt(a * b))
    q += 0.5
    return np.clip(q, 0.0, 1.0, out=q)


def _bar(geom: _Geometry, cy, cx, half_length, half_width, phi) -> np.ndarray:
    """Anti-aliased coverage ``(n, H, W)`` of rectangles centred at ``(cy, cx)``."""
    u, v = _frame(geom, cy, cx, phi)
    along = np.clip(_col(half_length) + 0.5 - np.abs(u), 0.0, 1.0)
    across = np.clip(_col(half_width) + 0.5 - np.abs(v), 0.0, 1.0)
    along *= across
    return along


def _paint(canvas: np.ndarray, coverage: np.ndarray, value) -> None:
    """Paint ``value`` over ``canvas`` with the given coverage (in place)."""
    value = _col(value) if np.ndim(value) else np.float32(value)
    canvas += coverage * (value - canvas)


def _offset(cy, cx, distance, angle):
    """Points at ``distance`` from ``(cy, cx)`` in direction ``angle`` (from the x axis)."""
    return cy + distance * np.sin(angle), cx + distance * np.cos(angle)


def _place(rng: np.random.Generator, geom: _Geometry, extent: np.ndarray):
    """Random centres ``(cy, cx)`` of objects of radius ``extent`` inside the fan."""
    n = len(extent)
    lower = np.maximum(geom.near + extent, extent / math.sin(geom.half_angle) * 1.02)
    upper = np.maximum(geom.far - extent, lower)
    radius = lower + rng.uniform(size=n) * (upper - lower)
    spread = np.maximum(geom.half_angle - np.arcsin(np.minimum(extent / radius, 1.0)), 0.0)
    angle = rng.uniform(-1.0, 1.0, size=n) * spread
    cy, cx = geom.polar_to_pixel(radius, angle)
    return cy, cx


def _at_least(values, pixels: float):
    return np.maximum(values, pixels)


# -------------------------------------------------------------------------- anatomy
# Each renderer samples its parameters, paints onto ``tissue`` (n, H, W) and returns
# the centre and radius ``(cy, cx, extent)`` of the anatomy (for aiming shadows).

_DARK = (0.03, 0.10)  # fluid: vessel lumen, heart chambers, stomach


def _three_vessels(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    r1 = rng.uniform(0.04, 0.055, n) * unit
    radii = np.stack([r1, r1 * rng.uniform(1.15, 1.25, n), r1 * rng.uniform(1.4, 1.5, n)])
    rim = _at_least(0.3 * r1, 0.8)
    gap = rng.uniform(0.2, 0.6, n) * r1
    outer = radii + rim
    centres = np.stack([
        np.zeros(n),
        outer[0] + gap + outer[1],
        outer[0] + gap + 2 * outer[1] + gap + outer[2],
    ])
    middle = (centres[2] + outer[2] - outer[0]) / 2.0
    extent = (centres[2] + outer[2] + outer[0]) / 2.0
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(-0.6, 0.6, n) + np.pi * (rng.uniform(size=n) < 0.5)
    bend = rng.uniform(-0.25, 0.25, (3, n)) * r1
    rim_value = rng.uniform(1.2, 1.6, n)
    for k in range(3):
        vy, vx = _offset(cy, cx, centres[k] - middle, phi)
        vy, vx = _offset(vy, vx, bend[k], phi + np.pi / 2)
        _paint(tissue, _ellipse(geom, vy, vx, outer[k], outer[k]), rim_value)
        _paint(tissue, _ellipse(geom, vy, vx, radii[k], radii[k]), rng.uniform(*_DARK, n))
    return cy, cx, extent


def _outflow_tract(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    a = rng.uniform(0.10, 0.14, n) * unit
    b = a * rng.uniform(0.6, 0.8, n)
    wall = _at_least(0.22 * a, 0.9)
    channel = _at_least(0.3 * b, 0.8)  # half-width of the outflow lumen
    length = a * rng.uniform(1.5, 1.9, n)  # from the heart's centre to the channel's end
    extent = np.maximum(a + wall, length + wall)
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(0, 2 * np.pi, n)
    psi = phi + rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.2, n)
    wall_value, lumen_value = rng.uniform(1.2, 1.6, n), rng.uniform(*_DARK, n)
    wy, wx = _offset(cy, cx, (length + wall) / 2, psi)
    _paint(tissue, _bar(geom, wy, wx, (length + wall) / 2, channel + wall, psi), wall_value)
    _paint(tissue, _ellipse(geom, cy, cx, a + wall, b + wall, phi), wall_value)
    _paint(tissue, _ellipse(geom, cy, cx, a, b, phi), lumen_value)
    ly, lx = _offset(cy, cx, length / 2, psi)
    _paint(tissue, _bar(geom, ly, lx, length / 2, channel, psi), lumen_value)
    return cy, cx, extent


def _abdomen(rng, geom, tissue, base):
    n, unit = len(tissue), geom.unit
    a = rng.uniform(0.22, 0.29, n) * unit
    b = a * rng.uniform(0.8, 0.95, n)
    wall = _at_least(0.06 * a, 0.9)
    extent = a + wall
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(0, 2 * np.pi, n)
    _paint(tissue, _ellipse(geom, cy, cx, a + wall, b + wall, phi), rng.uniform(1.0, 1.3, n))
    _paint(tissue, _ellipse(geom, cy, cx, a, b, phi), base * rng.uniform(0.8, 1.1, n))
    # Stomach on one side, spine on the other (angles in the ellipse's frame).
    beta = rng.uniform(0, 2 * np.pi, n)
    where = rng.uniform(0.3, 0.45, n)
    sy, sx = _ellipse_point(cy, cx, a * where, b * where, phi, beta)
    sa = a * rng.uniform(0.22, 0.3, n)
    sb = sa * rng.uniform(0.6, 0.85, n)
    _paint(tissue, _ellipse(geom, sy, sx, sa, sb, rng.uniform(0, 2 * np.pi, n)), rng.uniform(*_DARK, n))
    gamma = beta + np.pi + rng.uniform(-0.5, 0.5, n)
    spine_y, spine_x = _ellipse_point(cy, cx, 0.72 * a, 0.72 * b, phi, gamma)
    dot = _at_least(0.07 * a, 0.9)
    bone = rng.uniform(1.8, 2.4, n)
    inward = np.arctan2(cy - spine_y, cx - spine_x)
    _paint(tissue, _ellipse(geom, spine_y, spine_x, dot, dot), bone)
    for side in (-1.0, 1.0):
        py, px = _offset(spine_y, spine_x, dot, inward)
        py, px = _offset(py, px, 1.5 * dot, inward + side * np.pi / 2)
        _paint(tissue, _ellipse(geom, py, px, 0.75 * dot, 0.75 * dot), bone)
    return cy, cx, extent


def _ellipse_point(cy, cx, a, b, phi, angle):
    """Pixel of parametric angle ``angle`` on ellipses ``(a, b)`` rotated by ``phi``."""
    u, v = a * np.cos(angle), b * np.sin(angle)
    return cy + u * np.sin(phi) + v * np.cos(phi), cx + u * np.cos(phi) - v * np.sin(phi)


def _femur(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    half_length = rng.uniform(0.13, 0.2, n) * unit
    half_width = _at_least(0.018 * unit * np.ones(n), 0.7)
    knob = 1.6 * half_width
    extent = half_length + knob
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(-0.5, 0.5, n)
    bone = rng.uniform(1.8, 2.4, n)
    _paint(tissue, _bar(geom, cy, cx, half_length, half_width, phi), bone)
    for end in (-1.0, 1.0):
        ey, ex = _offset(cy, cx, end * half_length, phi)
        _paint(tissue, _ellipse(geom, ey, ex, knob, knob), bone)
    return cy, cx, extent


def _kidneys(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    a = rng.uniform(0.06, 0.085, n) * unit
    b = 0.65 * a
    capsule = _at_least(0.2 * a, 0.8)
    distance = 1.3 * a  # from the pair's centre to each kidney's centre
    extent = distance + a + capsule
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(0, 2 * np.pi, n)
    capsule_value, cortex = rng.uniform(1.0, 1.3, n), rng.uniform(0.45, 0.6, n)
    for side in (-1.0, 1.0):
        ky, kx = _offset(cy, cx, side * distance, phi)
        tilt = phi + np.pi / 2 + side * rng.uniform(0.0, 0.3, n)
        _paint(tissue, _ellipse(geom, ky, kx, a + capsule, b + capsule, tilt), capsule_value)
        _paint(tissue, _ellipse(geom, ky, kx, a, b, tilt), cortex)
        pelvis = _ellipse(geom, ky, kx, _at_least(0.35 * a, 0.7), _at_least(0.2 * a, 0.6), tilt)
        _paint(tissue, pelvis, rng.uniform(*_DARK, n))
    sy, sx = _offset(cy, cx, 0.6 * a, phi + np.pi / 2)
    dot = _at_least(0.4 * a, 0.9)
    _paint(tissue, _ellipse(geom, sy, sx, dot, dot), rng.uniform(1.8, 2.4, n))
    return cy, cx, extent


def _four_chamber(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    a = rng.uniform(0.11, 0.15, n) * unit
    b = a * rng.uniform(0.75, 0.95, n)
    wall = _at_least(0.18 * a, 0.9)
    septum = _at_least(0.1 * a, 0.6)
    extent = a + wall
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(0, 2 * np.pi, n)
    wall_value = rng.uniform(1.2, 1.6, n)
    _paint(tissue, _ellipse(geom, cy, cx, a + wall, b + wall, phi), wall_value)
    _paint(tissue, _ellipse(geom, cy, cx, a, b, phi), rng.uniform(*_DARK, n))
    _paint(tissue, _bar(geom, cy, cx, a, septum, phi), wall_value)
    _paint(tissue, _bar(geom, cy, cx, b, septum, phi + np.pi / 2), wall_value)
    return cy, cx, extent


def _lips(rng, geom, tissue):
    n, unit = len(tissue), geom.unit
    a = rng.uniform(0.1, 0.14, n) * unit
    b = _at_least(0.35 * a, 1.0)
    slit = _at_least(0.05 * a, 0.6)
    extent = np.maximum(a, 2 * b + slit)
    cy, cx = _place(rng, geom, extent)
    phi = rng.uniform(-0.5, 0.5, n)
    lip = rng.uniform(1.0, 1.3, n)
    for side in (-1.0, 1.0):
        ly, lx = _offset(cy, cx, side * (b + slit), phi + np.pi / 2)
        _paint(tissue, _ellipse(geom, ly, lx, a * rng.uniform(0.85, 1.0, n), b, phi), lip)
    _paint(tissue, _bar(geom, cy, cx, 0.8 * a, slit, phi), rng.uniform(*_DARK, n))
    return cy, cx, extent


_OTHERS = (_femur, _kidneys, _four_chamber, _lips)


# -------------------------------------------------------------------------- scenes


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _render_chunk(
    rng: np.random.Generator, geom: _Geometry, plane: str, shadow: bool, n: int, cast_shadows: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Raw images ``(n, H, W)`` of one group and their shadow factors ``(n, H, W)``."""
    unit = geom.unit

    # Tissue: a background level with a few smooth texture blobs.
    base = rng.uniform(0.35, 0.55, n)
    tissue = np.broadcast_to(_col(base), (n, geom.height, geom.width)).copy()
    for _ in range(3):
        by, bx = _place(rng, geom, np.zeros(n))
        sigma = rng.uniform(0.08, 0.2, n) * unit
        # A Gaussian is separable: the outer product of a column and a row profile.
        scale = (-0.5 / sigma**2).astype(np.float32)[:, None]
        dy = np.arange(geom.height, dtype=np.float32) - by[:, None].astype(np.float32)
        dx = np.arange(geom.width, dtype=np.float32) - bx[:, None].astype(np.float32)
        rows, cols = np.exp(scale * dy**2), np.exp(scale * dx**2)
        rows *= (base * rng.uniform(-0.3, 0.3, n)).astype(np.float32)[:, None]
        tissue += rows[:, :, None] * cols[:, None, :]

    if plane == "3VV":
        cy, cx, extent = _three_vessels(rng, geom, tissue)
    elif plane == "LVOT":
        cy, cx, extent = _outflow_tract(rng, geom, tissue)
    elif plane == "Abd":
        cy, cx, extent = _abdomen(rng, geom, tissue, base)
    else:
        kind = rng.integers(0, len(_OTHERS), n)
        cy, cx, extent = np.zeros(n), np.zeros(n), np.zeros(n)
        for index, render in enumerate(_OTHERS):
            members = np.flatnonzero(kind == index)
            if len(members):
                part = tissue[members]
                cy[members], cx[members], extent[members] = render(rng, geom, part)
                tissue[members] = part

    # Reflectors: two slots per image. With a shadow: slot 0 always casts one, slot 1
    # with probability 1/2. Without: slot 0 holds a reflector that casts none with
    # probability 0.35.
    if shadow:
        present = np.stack([np.ones(n, bool), rng.uniform(size=n) < 0.5])
    else:
        present = np.stack([rng.uniform(size=n) < 0.35, np.zeros(n, bool)])
    anatomy_radius = np.hypot(cy - geom.apex_y, cx - geom.apex_x)
    anatomy_angle = np.arctan2(cx - geom.apex_x, cy - geom.apex_y)
    anatomy_spread = np.arcsin(np.minimum(extent / np.maximum(anatomy_radius, 1e-6), 1.0))
    factor = np.ones((n, geom.height, geom.width), np.float32)
    for slot in range(2):
        half = rng.uniform(0.06, 0.13, n)
        aimed = rng.uniform(size=n) < 0.8
        angle = np.where(
            aimed,
            anatomy_angle + rng.uniform(-0.9, 0.9, n) * anatomy_spread,
            rng.uniform(-0.9, 0.9, n) * geom.half_angle,
        )
        angle = np.clip(angle, -geom.half_angle + half, geom.half_angle - half)
        nearest = geom.near + 0.05 * unit
        in_front = np.maximum(anatomy_radius - 0.3 * extent, geom.near + 0.1 * unit)
        deepest = np.where(aimed, in_front, 0.6 * unit)
        depth = nearest + rng.uniform(size=n) * np.maximum(deepest - nearest, 0.0)
        thickness = _at_least(rng.uniform(0.012, 0.02, n) * unit, 0.6)
        strength = rng.uniform(0.1, 0.3, n)
        brightness = rng.uniform(3.0, 4.0, n)
        members = np.flatnonzero(present[slot])
        if not len(members):
            continue
        m = members
        ry, rx = geom.polar_to_pixel(depth[m], angle[m])
        lateral = _at_least(depth[m] * np.tan(half[m]), 0.6)
        part = tissue[m]
        _paint(part, _ellipse(geom, ry, rx, lateral, thickness[m], -angle[m]), brightness[m])
        tissue[m] = part
        if shadow:
            soft = 0.35 * half[m]
            across = _smoothstep(
                (_col(half[m]) - np.abs(geom.angle[None] - _col(angle[m]))) / _col(2 * soft) + 0.5
            )
            behind = _smoothstep(
                (geom.radius[None] - _col(depth[m] + thickness[m])) / _col(0.03 * unit) + 0.5
            )
            factor[m] *= 1.0 - _col(1.0 - strength[m]) * across * behind

    # Image formation: speckle, attenuation with depth, shadows, log compression.
    z = rng.standard_normal((2, n, geom.speckle_rows, geom.speckle_cols), dtype=np.float32)
    padded = np.pad(z, ((0, 0), (0, 0), (1, 1), (0, 0)), mode="edge")
    z = 0.25 * padded[:, :, :-2] + 0.5 * padded[:, :, 1:-1] + 0.25 * padded[:, :, 2:]
    speckle = np.hypot(z[0], z[1]) / np.float32(_SPECKLE_MEAN)
    if geom.speckle_contrast < 1.0:
        speckle = 1.0 + geom.speckle_contrast * (speckle - 1.0)
    envelope = tissue * speckle[:, geom.speckle_row, geom.speckle_col]
    alpha = rng.uniform(0.6, 1.4, n) / unit
    envelope *= np.exp(-_col(alpha) * (geom.radius[None] - geom.near))
    envelope *= _col(rng.uniform(0.8, 1.2, n))
    if cast_shadows:
        envelope *= factor
    raw = np.log1p(np.maximum(envelope, 0.0) * _LOG_GAIN, dtype=np.float32)
    raw *= geom.fan[None]
    return raw.astype(np.float32, copy=False), factor


def _render_group(
    rng: np.random.Generator,
    geom: _Geometry,
    plane: str,
    shadow: bool,
    count: int,
    cast_shadows: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    chunk = max(1, _CHUNK_PIXELS // (geom.height * geom.width))
    raws, factors = [], []
    for start in range(0, count, chunk):
        raw, factor = _render_chunk(rng, geom, plane, shadow, min(chunk, count - start), cast_shadows)
        raws.append(raw)
        factors.append(factor)
    return np.concatenate(raws), np.concatenate(factors)


def render_raw(
    plane: str,
    shadow: bool,
    count: int,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    cast_shadows: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (not normalised) images of one group, with their shadow factors.

    The same arguments with ``cast_shadows=False`` give the same scenes (anatomy,
    reflectors, speckle) with the shadows left out, which shows what a shadow hides.

    Args:
        plane: one of ``PLANES``.
        shadow: whether the images have acoustic shadows.
        count: number of images.
        image_size: ``(height, width)``, each at least 16.
        seed: non-negative integer.
        cast_shadows: multiply the images by their shadow factors.

    Returns:
        ``(raw, factor)``, two float32 arrays of shape ``(count, H, W)``: the
        log-compressed images (0 outside the fan) and the multiplicative shadow
        factor of every pixel (1 where there is no shadow, 0.1 to 0.3 in the core of
        a shadow), computed whether or not it is applied.

    Example:
        >>> raw, factor = render_raw("LVOT", True, 2, seed=1)
        >>> raw.shape, bool(factor.min() < 0.5)
        ((2, 48, 60), True)
    """
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}; expected one of {', '.join(PLANES)}")
    height, width = check_image_size(image_size)
    rng = np.random.default_rng([check_seed(seed), 1000 + PLANES.index(plane), int(bool(shadow))])
    return _render_group(rng, _Geometry(height, width), plane, bool(shadow), int(count), cast_shadows)


# ---------------------------------------------------------------------------- splits


def make_us_sim_split(
    split: str,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
) -> LabelledImages:
    """Generate one split of the simulated fetal ultrasound data set.

    Args:
        split: one of ``SPLITS``.
        image_size: ``(height, width)`` in pixels, each at least 16; the paper uses
            ``PAPER_IMAGE_SIZE`` = (224, 288).
        scale: fraction of the paper's group sizes (``split_counts``).
        seed: non-negative integer. The output is a deterministic function of
            ``(split, image_size, scale, seed)``; every split and group draws from
            its own random stream.

    Returns:
        A ``LabelledImages`` with float32 images ``(N, H, W, 1)``, each z-scored on
        its own (``standardize_per_image``), in a seeded random order; int64 labels
        ``{"plane": 0 3VV / 1 LVOT / 2 Abd, "shadow": 0 without / 1 with}`` (only
        ``"shadow"`` for ``"others"``); ``class_names`` for those tasks; and
        ``groups`` such as ``"3VV-with"``.

    Raises:
        ValueError: if ``split``, ``image_size``, ``scale`` or ``seed`` is invalid.

    Example:
        >>> data = make_us_sim_split("lvot_with_shadow", scale=0.01)
        >>> data.images.shape, sorted(data.labels)
        ((4, 48, 60, 1), ['plane', 'shadow'])
    """
    split_index = check_split(split, SPLITS)
    height, width = check_image_size(image_size)
    counts = split_counts(scale)[split]
    seed = check_seed(seed)
    geom = _Geometry(height, width)

    images, planes, shadows, groups = [], [], [], []
    for group_index, (group, count) in enumerate(counts.items()):
        if count == 0:
            continue
        plane, shadow_name = group.split("-")
        shadow = shadow_name == "with"
        rng = np.random.default_rng([seed, split_index, group_index])
        raw, _ = _render_group(rng, geom, plane, shadow, count)
        images.append(standardize_per_image(raw[..., None]))
        planes.append(np.full(count, PLANES.index(plane)))
        shadows.append(np.full(count, int(shadow)))
        groups.append(np.full(count, group))

    order = np.random.default_rng([seed, split_index, len(GROUPS)]).permutation(sum(counts.values()))
    plane_labels = np.concatenate(planes).astype(np.int64)[order]
    labels = {"shadow": np.concatenate(shadows).astype(np.int64)[order]}
    if split != "others":
        labels = {"plane": plane_labels, **labels}
    return LabelledImages(
        images=np.concatenate(images)[order],
        labels=labels,
        class_names={task: CLASS_NAMES[task] for task in labels},
        groups=np.concatenate(groups)[order],
    )


def make_us_sim_splits(
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
    splits: Iterable[str] = SPLITS,
) -> dict[str, LabelledImages]:
    """Generate several splits; ``result[name] == make_us_sim_split(name, ...)``.

    Args:
        image_size: ``(height, width)`` in pixels, each at least 16.
        scale: fraction of the paper's group sizes.
        seed: non-negative integer seed shared by all splits.
        splits: names of the splits to generate, each one of ``SPLITS``.

    Returns:
        A dict from split name to its ``LabelledImages``, in the order of ``splits``.

    Raises:
        ValueError: if an argument is invalid; all are checked before any image is
            generated.

    Example:
        >>> data = make_us_sim_splits(scale=0.02, splits=("train", "val"))
        >>> {name: len(images) for name, images in data.items()}
        {'train': 31, 'val': 5}
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    for split in splits:
        check_split(split, SPLITS)
    check_image_size(image_size)
    _check_scale(scale)
    check_seed(seed)
    return {split: make_us_sim_split(split, image_size, scale, seed) for split in splits}


def load_us_sim(image_size=DEFAULT_IMAGE_SIZE, seed: int = 0, scale: float = DEFAULT_SCALE):
    """The simulated fetal ultrasound data set, ready for training.

    Tasks follow the paper's heads: the plane classifier has three dense layers
    (two hidden layers of 256 units), the shadow classifier two (one hidden layer).

    Args:
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer.
        scale: fraction of the paper's group sizes.

    Returns:
        A ``DatasetSplits`` training on ``"train"``, validating on ``"val"`` and
        evaluating ``"val"``, ``"test_seen"``, ``"lvot_with_shadow"`` and
        ``"others"`` (the last with the shadow label only).
    """
    from .registry import DatasetSplits  # the registry imports this module's siblings

    splits = make_us_sim_splits(tuple(image_size), scale=scale, seed=seed)
    tasks = [
        TaskSpec("plane", 3, head_units=(256, 256), class_names=CLASS_NAMES["plane"]),
        TaskSpec("shadow", 2, head_units=(256,), class_names=CLASS_NAMES["shadow"]),
    ]
    return DatasetSplits(
        tasks=tasks,
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: splits[name] for name in ("val", "test_seen", "lvot_with_shadow", "others")},
    )
