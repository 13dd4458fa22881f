"""Acoustic shadows of us-sim: dark radial bands behind bone.

Bone reflects almost all of the beam, so everything deeper along the beams it covers is
darker: the shadow is a sector from the apex, starting at the bone, with soft angular
edges. A labelled shadow (``"with"``) multiplies the echoes in its core by
``Appearance.shadow_with``; behind the other bones (and behind every bone of an image
labelled ``"without"``) the factor is the faint ``Appearance.shadow_without``.

The shadow salience ``s`` (``shadow_salience`` of the generators) sets how conspicuous
a labelled shadow is: its core factor ``c`` becomes ``c ** s`` (as deep as ``s``
default shadows one behind the other) and its angular half-width grows by ``sqrt(s)``.
``s = 1`` is the calibrated simulator; the faint shadows behind bone, the bones and the
rest of the scene do not depend on ``s``.
"""

from __future__ import annotations

import numpy as np

from .anatomy import BONE, Body, Canvas
from .geometry import Geometry, col, ellipse, ray_entry, smoothstep

#: Shadow salience of the calibrated simulator: labelled shadows as drawn.
DEFAULT_SHADOW_SALIENCE = 1.0
#: Largest shadow salience accepted: a labelled core of 0.6 keeps 13 % of the echoes,
#: one of 0.15 almost none, and the shadow is twice as wide.
MAX_SHADOW_SALIENCE = 4.0


def check_shadow_salience(salience) -> float:
    """``salience`` as a float; ValueError (one line) unless it is a number in (0, 4]."""
    expected = f"shadow_salience: expected a number > 0 and <= {MAX_SHADOW_SALIENCE:g}"
    if isinstance(salience, bool) or not isinstance(salience, (int, float, np.integer, np.floating)):
        raise ValueError(f"{expected}, got {salience!r}")
    if not np.isfinite(salience) or not 0 < salience <= MAX_SHADOW_SALIENCE:
        raise ValueError(f"{expected}, got {salience!r}")
    return float(salience)


def salient_shadow(core, half_width, labelled, salience: float = DEFAULT_SHADOW_SALIENCE):
    """Core factors and half-widths ``(n,)`` of one shadow slot at shadow salience ``salience``.

    Where ``labelled``, ``core ** salience`` and ``half_width * sqrt(salience)``; elsewhere
    (faint shadows) as given. Salience 1 returns the arrays unchanged.
    """
    if salience == DEFAULT_SHADOW_SALIENCE:
        return core, half_width
    core = np.where(labelled, np.power(core, salience), core)
    half_width = np.where(labelled, half_width * np.sqrt(salience), half_width)
    return core, half_width


def sector(geom: Geometry, distance, angle, half_width, core) -> np.ndarray:
    """Factor ``(n, H, W)`` of one shadow per image: ``core`` behind the caster, 1 elsewhere.

    Args:
        distance: apex distance (pixels) of the caster's far side, ``(n,)``.
        angle: beam angle of the sector's centre line, ``(n,)``.
        half_width: angular half-width (radians), ``(n,)``.
        core: factor in the sector's core, ``(n,)`` in (0, 1]; 1 casts nothing.
    """
    soft = 0.35 * half_width
    across = np.abs(geom.angle[None] - col(angle))
    across = smoothstep((col(half_width) - across) / col(2 * soft) + 0.5)
    behind = smoothstep((geom.radius[None] - col(distance)) / np.float32(0.03 * geom.unit) + 0.5)
    across *= behind
    across *= col(core - 1.0)
    across += 1.0
    return across


def aimed_rib(rng, geom: Geometry, canvas: Canvas, body: Body, target, width, present) -> tuple:
    """A rib on the near body wall on the beam through ``target`` (jittered within ``width``).

    Draws the rib where ``present`` (``(n,)`` bool) and returns its caster ``(distance, angle, half_width)``; the shadow
    then falls across the target.
    """
    n = len(canvas)
    ty, tx = target
    angle = np.arctan2(tx - geom.apex_x, ty - geom.apex_y) + rng.uniform(-0.5, 0.5, n) * width
    angle = np.clip(angle, -geom.half_angle + width, geom.half_angle - width)
    skin = np.maximum(0.04 * body.a, 0.8)
    entry, hit = ray_entry(geom, angle, body.cy, body.cx, body.a + skin, body.b + skin, body.theta)
    entry = np.where(hit, entry, geom.near + 0.1 * geom.unit)
    entry = np.clip(entry + 0.03 * body.a, geom.near + 0.03 * geom.unit, geom.far)
    ry, rx = geom.polar_to_pixel(entry, angle)
    thickness = np.maximum(0.035 * body.a, 0.6)
    lateral = np.maximum(entry * np.tan(width), 0.6)
    coverage = ellipse(geom, ry, rx, lateral, thickness, -angle)
    coverage *= col(present)
    canvas.paint(coverage, rng.uniform(*BONE, n), "bone")
    return entry + thickness, angle, width


def shadow_factor(geom: Geometry, casters, cores) -> np.ndarray:
    """Product ``(n, H, W)`` of the sectors of every caster ``(distance, angle, half_width)``."""
    factor = None
    for (distance, angle, half), core in zip(casters, cores):
        if np.all(core >= 1.0):
            continue
        part = sector(geom, distance, angle, half, core)
        factor = part if factor is None else factor * part
    if factor is None:
        factor = np.ones((len(cores[0]), geom.height, geom.width), np.float32)
    return factor
