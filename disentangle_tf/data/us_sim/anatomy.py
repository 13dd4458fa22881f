"""Fetal anatomy of us-sim: the body cross-section and the structures of each plane.

Each plane is a cross-section of the fetal trunk lying in amniotic fluid below the
maternal abdominal wall: a round body outline (skin), the spine (three ossification
centres) on its posterior side, ribs on its wall and the descending aorta beside the
spine. The cardiac planes share the heart (bright myocardium around dark chambers) and
vessel cross-sections at the same scale; they differ in the details a sonographer
looks for: the LVOT shows the aorta leaving the left ventricle as a tube, the 3VV
three vessels in a row of graded size beside a smaller heart. The Abd shows a stomach
bubble and the umbilical vein, fluid structures without the heart's bright walls.

Every renderer draws onto a ``Canvas`` (echogenicity ``(n, H, W)``) and returns the
pixel ``(y, x)`` of the plane's key anatomy (where a labelled shadow is aimed) and the
bones that can cast shadows.
"""

from __future__ import annotations

import numpy as np

from .appearance import Appearance
from .geometry import Geometry, bar, col, ellipse, smoothstep

DARK = (0.03, 0.10)  # fluid: vessel lumen, heart chambers, stomach, amniotic fluid
BONE = (2.0, 3.0)
#: Kinds of the structure masks ``Canvas`` records.
STRUCTURES = ("body", "heart", "vessel", "tract", "stomach", "bone")


class Canvas:
    """Echogenicity ``tissue`` ``(n, H, W)`` and, if ``record``, coverage per structure kind."""

    def __init__(self, tissue: np.ndarray, record: bool = False):
        self.tissue = tissue
        self.masks = {} if record else None

    def __len__(self) -> int:
        return len(self.tissue)

    def paint(self, coverage: np.ndarray, value, kind: str | None = None) -> None:
        value = col(value) if np.ndim(value) else np.float32(value)
        self.tissue += coverage * (value - self.tissue)
        if self.masks is not None and kind is not None:
            previous = self.masks.get(kind)
            self.masks[kind] = coverage.copy() if previous is None else np.maximum(previous, coverage)

    def part(self, members: np.ndarray) -> "Canvas":
        return Canvas(self.tissue[members], self.masks is not None)

    def merge(self, members: np.ndarray, part: "Canvas") -> None:
        self.tissue[members] = part.tissue
        if self.masks is not None:
            for kind, mask in part.masks.items():
                self.masks.setdefault(kind, np.zeros_like(self.tissue))[members] = mask


class Body:
    """Pose of the fetal trunk: centre, semi-axes ``a`` (antero-posterior) and ``b``, turn, side."""

    def __init__(self, cy, cx, a, b, theta, side):
        self.cy, self.cx, self.a, self.b, self.theta, self.side = cy, cx, a, b, theta, side

    def point(self, u, v):
        """Pixel ``(y, x)`` of body coordinates ``(u, v)`` in units of ``a`` (u anterior, v left)."""
        u, v = u * self.a, self.side * v * self.a
        sin, cos = np.sin(self.theta), np.cos(self.theta)
        return self.cy + u * sin + v * cos, self.cx + u * cos - v * sin

    def direction(self, du, dv):
        """Frame angle (for ``ellipse``/``bar``) of the body direction ``(du, dv)``."""
        return self.theta + np.arctan2(self.side * dv, du)


def _bones(geom: Geometry, cy, cx, half):
    """A shadow caster: apex distance, beam angle and angular half-width, each ``(n,)``."""
    distance = np.hypot(cy - geom.apex_y, cx - geom.apex_x)
    angle = np.arctan2(cx - geom.apex_x, cy - geom.apex_y)
    return distance, angle, np.arctan(half / np.maximum(distance, 1e-6))


def draw_body(rng, geom: Geometry, canvas: Canvas, app: Appearance, abdomen: bool):
    """Maternal wall, amniotic fluid, the trunk, its skin, spine and ribs.

    Returns ``(body, base, casters)``: the pose, the tissue level ``(n,)`` and a list of
    shadow casters ``(distance, angle, half_width)``.
    """
    n, unit = len(canvas), geom.unit
    base = rng.uniform(0.35, 0.55, n)
    canvas.tissue[:] = col(base * rng.uniform(0.08, 0.25, n))  # amniotic fluid
    wall = rng.uniform(0.12, 0.28, n) * unit
    maternal = smoothstep((col(wall) - geom.radius[None]) / 2.0 + 0.5)
    canvas.paint(maternal, base * rng.uniform(0.8, 1.3, n))

    a = rng.uniform(0.34, 0.42, n) * unit * rng.uniform(*app.zoom, n) * (1.08 if abdomen else 1.0)
    b = a * rng.uniform(0.85, 1.0, n)
    # Centre below the maternal wall; large bodies are cut by the edges of the fan.
    distance = rng.uniform(0.42, 0.62, n) * unit
    angle = rng.uniform(-0.3, 0.3, n)
    cy, cx = geom.polar_to_pixel(distance, angle)
    # Anterior side towards the probe, give or take 90 degrees (spine in the lower half).
    body = Body(cy, cx, a, b, -np.pi / 2 + rng.uniform(-1.6, 1.6, n), rng.choice([-1.0, 1.0], n))
    skin = np.maximum(0.04 * a, 0.8)
    canvas.paint(ellipse(geom, cy, cx, a + skin, b + skin, body.theta), base * rng.uniform(1.6, 2.2, n), "body")
    canvas.paint(ellipse(geom, cy, cx, a, b, body.theta), base * rng.uniform(0.85, 1.15, n))

    casters = []
    bone = rng.uniform(*BONE, n)
    dot = np.maximum(0.075 * a, 0.7)
    for u, v in ((-0.84, 0.0), (-0.70, 0.11), (-0.70, -0.11)):
        sy, sx = body.point(u, v)
        canvas.paint(ellipse(geom, sy, sx, dot, dot), bone, "bone")
    casters.append(_bones(geom, *body.point(-0.78, 0.0), 2.2 * dot))
    for _ in range(3):
        beta = (rng.uniform(0.6, 1.6, n) * rng.choice([-1.0, 1.0], n) if abdomen
                else rng.uniform(-2.5, 2.5, n))
        ry, rx = body.point(0.9 * np.cos(beta), 0.9 * (b / a) * np.sin(beta))
        half = 0.1 * a
        canvas.paint(ellipse(geom, ry, rx, half, np.maximum(0.035 * a, 0.6), body.direction(-np.sin(beta), np.cos(beta))),
                     bone, "bone")
        casters.append(_bones(geom, ry, rx, half))
    return body, base, casters


def _vessel(geom, canvas, cy, cx, radius, rim, rim_value, lumen=None, phi=None, stretch=1.0, kind="vessel"):
    """A vessel cross-section: bright rim, dark lumen (``stretch`` > 1: a short tube along ``phi``)."""
    n = len(canvas)
    canvas.paint(ellipse(geom, cy, cx, stretch * radius + rim, radius + rim, phi), rim_value)
    value = lumen if lumen is not None else np.full(n, 0.06)
    canvas.paint(ellipse(geom, cy, cx, stretch * radius, radius, phi), value, kind)


def _heart(rng, geom, canvas, body, wall_value, scale, centre, chambers: int):
    n = len(canvas)
    size = 0.42 * body.a * scale * rng.uniform(0.9, 1.1, n)
    hy, hx = body.point(*centre)
    axis = body.direction(np.cos(0.8), np.sin(0.8)) + rng.uniform(-0.3, 0.3, n)
    wall = np.maximum(0.09 * body.a * scale, 0.8)
    canvas.paint(ellipse(geom, hy, hx, size + wall, 0.8 * size + wall, axis), wall_value, "heart")
    lumen = rng.uniform(*DARK, n)
    sin, cos = np.sin(axis), np.cos(axis)
    offsets = (-0.42, 0.42) if chambers == 2 else (0.0,)
    positions = []
    for k in offsets:
        cy, cx = hy + k * 0.8 * size * cos, hx - k * 0.8 * size * sin
        canvas.paint(ellipse(geom, cy, cx, 0.62 * size, (0.36 if chambers == 2 else 0.6) * 0.8 * size, axis), lumen)
        positions.append((cy, cx))
    return (hy, hx), positions


def lvot(rng, geom, canvas, body, app, base):
    """Heart with two ventricles and the aorta leaving the left ventricle as a tube."""
    n = len(canvas)
    wall_value = base * (1 + rng.uniform(*app.wall_contrast, n))
    rim = np.maximum(0.035 * body.a, 0.7)
    _vessel(geom, canvas, *body.point(-0.58, 0.13), 0.065 * body.a, rim, wall_value)
    # The outflow tract: from the left ventricle towards the right shoulder.
    end_y, end_x = body.point(rng.uniform(0.1, 0.3, n), -rng.uniform(0.25, 0.4, n))
    heart_centre = (0.12 + rng.uniform(-0.05, 0.05, n), 0.2 + rng.uniform(-0.05, 0.05, n))
    hy, hx = body.point(*heart_centre)
    phi = np.arctan2(end_y - hy, end_x - hx)
    length = np.hypot(end_y - hy, end_x - hx)
    half = np.maximum(0.09 * body.a, 0.7)
    my, mx = (hy + end_y) / 2, (hx + end_x) / 2
    canvas.paint(bar(geom, my, mx, length / 2, half + rim, phi), wall_value)
    _, chambers = _heart(rng, geom, canvas, body, wall_value, 1.0, heart_centre, 2)
    lumen = rng.uniform(*DARK, n)
    ly, lx = chambers[0]
    phi = np.arctan2(end_y - ly, end_x - lx)
    length = np.hypot(end_y - ly, end_x - lx)
    canvas.paint(bar(geom, (ly + end_y) / 2, (lx + end_x) / 2, length / 2, half, phi), lumen, "tract")
    _vessel(geom, canvas, end_y, end_x, 0.1 * body.a * rng.uniform(0.9, 1.1, n), rim, wall_value, lumen)
    extra = rng.uniform(size=n) < app.distractors
    if extra.any():
        sy, sx = body.point(rng.uniform(-0.2, 0.0, n), -rng.uniform(0.4, 0.55, n))
        radius = np.where(extra, 0.055 * body.a, 0.0)
        _vessel(geom, canvas, sy, sx, radius, np.where(extra, rim, 0.0), wall_value)
    return hy, hx


def three_vessels(rng, geom, canvas, body, app, base):
    """A smaller heart and three vessels in a row of graded size (PA, aorta, SVC)."""
    n = len(canvas)
    wall_value = base * (1 + rng.uniform(*app.wall_contrast, n))
    rim = np.maximum(0.035 * body.a, 0.7)
    _vessel(geom, canvas, *body.point(-0.58, 0.13), 0.065 * body.a, rim, wall_value)
    _heart(rng, geom, canvas, body, wall_value, rng.uniform(0.45, 0.65, n), (0.35, 0.35), 2)
    first = 0.17 * body.a * rng.uniform(0.9, 1.1, n)
    radii = (first, first * rng.uniform(0.72, 0.85, n), first * rng.uniform(0.5, 0.62, n))
    row = rng.uniform(2.3, 2.8, n)  # direction of the row in body coordinates
    du, dv = np.cos(row), np.sin(row) * -1.0
    u, v = 0.22 + rng.uniform(-0.05, 0.05, n), 0.08 + rng.uniform(-0.05, 0.05, n)
    lumen = rng.uniform(*DARK, n)
    tube = rng.uniform(size=n) < app.distractors
    centre = None
    for k, radius in enumerate(radii):
        if k:
            step = (radii[k - 1] + radius + rim + rng.uniform(0.2, 0.6, n) * radius) / body.a
            u, v = u + step * du, v + step * dv
        vy, vx = body.point(u, v)
        stretch = np.where(tube, rng.uniform(1.5, 2.0, n), 1.0) if k == 0 else 1.0
        phi = body.direction(np.cos(0.5), np.sin(0.5)) if k == 0 else None
        _vessel(geom, canvas, vy, vx, radius, rim, wall_value, lumen, phi, stretch)
        if k == 1:
            centre = (vy, vx)
    return centre


def abdomen(rng, geom, canvas, body, app, base):
    """Stomach bubble, umbilical vein, aorta and inferior vena cava."""
    n = len(canvas)
    wall_value = base * (1 + 0.5 * rng.uniform(*app.wall_contrast, n))
    rim = np.maximum(0.03 * body.a, 0.6)
    _vessel(geom, canvas, *body.point(-0.58, 0.12), 0.06 * body.a, rim, wall_value)
    _vessel(geom, canvas, *body.point(-0.42, -0.18), 0.07 * body.a, rim, wall_value)
    sy, sx = body.point(0.0 + rng.uniform(-0.1, 0.1, n), 0.38 + rng.uniform(-0.08, 0.08, n))
    size = 0.26 * body.a * rng.uniform(0.7, 1.25, n)
    canvas.paint(ellipse(geom, sy, sx, size, size * rng.uniform(0.55, 0.8, n), rng.uniform(0, np.pi, n)),
                 rng.uniform(*DARK, n), "stomach")
    vein = rng.uniform(size=n) < app.distractors
    start_y, start_x = body.point(0.6, -0.05)
    end_y, end_x = body.point(0.08, -0.2 + rng.uniform(-0.1, 0.1, n))
    phi = np.arctan2(end_y - start_y, end_x - start_x)
    length = np.where(vein, np.hypot(end_y - start_y, end_x - start_x) / 2, 0.0)
    half = np.maximum(0.045 * body.a, 0.7)
    my, mx = (start_y + end_y) / 2, (start_x + end_x) / 2
    canvas.paint(bar(geom, my, mx, length, half + rim, phi), wall_value)
    canvas.paint(bar(geom, my, mx, length, half, phi), rng.uniform(*DARK, n), "tract")
    return sy, sx


def others(rng, geom, canvas, body, app, base):
    """One of: kidneys beside the spine, a four-chamber heart, a femur, the lips."""
    n = len(canvas)
    kind = rng.integers(0, 4, n)
    wall_value = base * (1 + rng.uniform(*app.wall_contrast, n))
    cy, cx = body.point(np.zeros(n), np.zeros(n))
    cy, cx = cy.copy(), cx.copy()
    for index in range(4):
        members = np.flatnonzero(kind == index)
        if not len(members):
            continue
        part, pose = canvas.part(members), Body(*(x[members] for x in (body.cy, body.cx, body.a, body.b,
                                                                         body.theta, body.side)))
        a, wall = pose.a, wall_value[members]
        m = len(members)
        if index == 0:  # kidneys: two capsules with a dark pelvis, either side of the spine
            for side in (-1.0, 1.0):
                ky, kx = pose.point(-0.55, side * 0.32)
                tilt = pose.direction(1.0, side * 0.3)
                part.paint(ellipse(geom, ky, kx, 0.22 * a, 0.14 * a, tilt), wall * 1.2)
                part.paint(ellipse(geom, ky, kx, 0.18 * a, 0.11 * a, tilt), base[members] * 1.1)
                part.paint(ellipse(geom, ky, kx, 0.07 * a, 0.04 * a, tilt), rng.uniform(*DARK, m))
            y, x = pose.point(-0.55, 0.0)
        elif index == 1:  # four-chamber heart: a bright cross inside the heart
            _, _ = _heart(rng, geom, part, pose, wall, 1.0, (0.12, 0.2), 1)
            y, x = pose.point(0.12, 0.2)
            axis = pose.direction(np.cos(0.8), np.sin(0.8))
            septum = np.maximum(0.04 * a, 0.6)
            part.paint(bar(geom, y, x, 0.42 * a, septum, axis), wall)
            part.paint(bar(geom, y, x, 0.34 * a, septum, axis + np.pi / 2), wall)
        elif index == 2:  # femur: a bright bar with rounded ends
            y, x = pose.point(0.1, 0.0)
            phi = rng.uniform(-0.5, 0.5, m)
            bone = rng.uniform(*BONE, m)
            part.paint(bar(geom, y, x, 0.55 * a, np.maximum(0.05 * a, 0.7), phi), bone)
            for end in (-1.0, 1.0):
                part.paint(ellipse(geom, y + end * 0.55 * a * np.sin(phi), x + end * 0.55 * a * np.cos(phi),
                                   np.maximum(0.08 * a, 0.8), np.maximum(0.08 * a, 0.8)), bone)
        else:  # lips: two bright bands around a dark slit
            y, x = pose.point(0.4, 0.0)
            phi = rng.uniform(-0.5, 0.5, m)
            for side in (-1.0, 1.0):
                part.paint(ellipse(geom, y + side * 0.12 * a * np.cos(phi), x - side * 0.12 * a * np.sin(phi),
                                   0.35 * a, 0.1 * a, phi), wall * 1.1)
            part.paint(bar(geom, y, x, 0.3 * a, np.maximum(0.02 * a, 0.6), phi), rng.uniform(*DARK, m))
        canvas.merge(members, part)
        cy[members], cx[members] = y, x
    return cy, cx


PLANE_RENDERERS = {"3VV": three_vessels, "LVOT": lvot, "Abd": abdomen, "Others": others}

__all__ = ["Canvas", "PLANE_RENDERERS", "STRUCTURES", "draw_body"]
