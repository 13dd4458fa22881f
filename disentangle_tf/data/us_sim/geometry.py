"""Pixel grid, sector field of view and anti-aliased drawing primitives of us-sim.

Every primitive draws a batch: its parameters are arrays of shape ``(n,)`` (one value
per image) and it returns a coverage ``(n, H, W)`` in [0, 1]. Lengths are in pixels,
angles in radians.
"""

from __future__ import annotations

import numpy as np

from ..arguments import check_image_size

PAPER_IMAGE_SIZE: tuple[int, int] = (224, 288)
"""Image size ``(height, width)`` used in the paper."""

DEFAULT_IMAGE_SIZE: tuple[int, int] = (48, 60)
"""Default ``(height, width)``: the paper's aspect, small enough for a CPU."""

ASPECT = PAPER_IMAGE_SIZE[1] / PAPER_IMAGE_SIZE[0]
FAN_HALF_ANGLE = 0.66  # radians, about 38 degrees
FAN_NEAR = 0.10  # near-field edge of the fan, in units of L
FAN_FAR = 0.97  # far edge of the fan, in units of L


class Geometry:
    """Pixel grid and fan of one image size (lengths in pixels).

    ``unit`` is ``L = min(H, W * 224 / 288)``; the apex of the fan is at the top centre;
    ``radius`` and ``angle`` are every pixel's polar coordinates about the apex (angle 0
    straight down, positive to the right); ``fan`` is True inside the field of view.
    """

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.unit = min(height, width / ASPECT)
        self.apex_y, self.apex_x = 0.0, (width - 1) / 2.0
        self.near, self.far = FAN_NEAR * self.unit, FAN_FAR * self.unit
        self.half_angle = FAN_HALF_ANGLE
        yy, xx = np.meshgrid(
            np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij"
        )
        self.yy, self.xx = yy, xx
        dy, dx = yy - self.apex_y, xx - self.apex_x
        self.radius = np.sqrt(dy * dy + dx * dx)
        self.angle = np.arctan2(dx, dy)
        self.fan = (
            (self.radius >= self.near)
            & (self.radius <= self.far)
            & (np.abs(self.angle) <= self.half_angle)
        )

    def polar_to_pixel(self, radius, angle):
        """Pixel ``(y, x)`` at ``radius`` from the apex along beam ``angle``."""
        return self.apex_y + radius * np.cos(angle), self.apex_x + radius * np.sin(angle)

    def polar_grid(self, rows: int, cols: int):
        """Index arrays ``(H, W)`` of every pixel into a ``(rows, cols)`` grid on the fan.

        Rows run along the beam (depth), columns across it (angle).
        """
        depth = (self.radius - self.near) / (self.far - self.near)
        lateral = (self.angle + self.half_angle) / (2 * self.half_angle)
        row = np.clip((depth * rows).astype(np.int64), 0, rows - 1)
        col = np.clip((lateral * cols).astype(np.int64), 0, cols - 1)
        return row, col


def fan_mask(image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the sector field of view (True inside the fan).

    Raises:
        ValueError: if ``image_size`` is not two integers >= 16.

    Example:
        >>> mask = fan_mask((48, 60))
        >>> bool(mask[0, 0]), bool(mask[30, 30])
        (False, True)
    """
    height, width = check_image_size(image_size)
    return Geometry(height, width).fan.copy()


def col(values) -> np.ndarray:
    """Per-image parameters ``(n,)`` as a broadcastable ``(n, 1, 1)`` float32 array."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def frame(geom: Geometry, cy, cx, phi):
    """Coordinates ``(u, v)`` of every pixel in frames centred at ``(cy, cx)``.

    ``u`` runs along the direction ``phi`` (from the x axis towards +y).
    """
    dy = geom.yy[None] - col(cy)
    dx = geom.xx[None] - col(cx)
    cos, sin = col(np.cos(phi)), col(np.sin(phi))
    return dx * cos + dy * sin, dy * cos - dx * sin


def ellipse(geom: Geometry, cy, cx, a, b, phi=None) -> np.ndarray:
    """Coverage of filled ellipses, semi-axis ``a`` along ``phi`` (edge about 1 pixel)."""
    if phi is None:
        u = geom.xx[None] - col(cx)
        v = geom.yy[None] - col(cy)
    else:
        u, v = frame(geom, cy, cx, phi)
    a = np.maximum(np.asarray(a, np.float32), 0.3)
    b = np.maximum(np.asarray(b, np.float32), 0.3)
    u /= col(a)
    v /= col(b)
    q = u * u
    q += v * v
    # Near the edge 1 - sqrt(q) ~ (1 - q) / 2: a signed distance in units of the radius.
    q = 1.0 - q
    q *= col(0.5 * np.sqrt(a * b))
    q += 0.5
    return np.clip(q, 0.0, 1.0, out=q)


def bar(geom: Geometry, cy, cx, half_length, half_width, phi) -> np.ndarray:
    """Coverage of rectangles centred at ``(cy, cx)``, long side along ``phi``."""
    u, v = frame(geom, cy, cx, phi)
    along = np.clip(col(half_length) + 0.5 - np.abs(u), 0.0, 1.0)
    across = np.clip(col(half_width) + 0.5 - np.abs(v), 0.0, 1.0)
    along *= across
    return along


def smoothstep(x: np.ndarray) -> np.ndarray:
    """``3 x^2 - 2 x^3`` of ``x`` clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def ray_entry(geom: Geometry, angle, cy, cx, a, b, phi):
    """Distance from the apex along beam ``angle`` to where it enters an ellipse.

    Returns ``(distance, hit)``: arrays ``(n,)``; where the beam misses the ellipse
    (``hit`` False) the distance is that of the beam's closest approach.
    """
    dy, dx = np.cos(angle), np.sin(angle)
    oy, ox = geom.apex_y - cy, geom.apex_x - cx
    cos, sin = np.cos(phi), np.sin(phi)
    # In the ellipse's frame, scaled to the unit circle.
    pu, pv = (ox * cos + oy * sin) / a, (oy * cos - ox * sin) / b
    du, dv = (dx * cos + dy * sin) / a, (dy * cos - dx * sin) / b
    qa = du * du + dv * dv
    qb = 2 * (pu * du + pv * dv)
    qc = pu * pu + pv * pv - 1.0
    disc = qb * qb - 4 * qa * qc
    hit = disc >= 0
    root = (-qb - np.sqrt(np.maximum(disc, 0.0))) / (2 * qa)
    closest = -qb / (2 * qa)
    return np.where(hit, root, closest), hit
