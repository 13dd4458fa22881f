"""B-mode image formation of us-sim: texture, speckle, attenuation, gain, log compression.

The echogenicity of the scene is multiplied by a smooth tissue texture (clutter), bright
point scatterers and speckle (the magnitude of complex Gaussian noise on a polar grid,
smoothed slightly along the beam), by the depth attenuation ``exp(-alpha * depth)`` and
by the shadows, then log-compressed: ``log(1 + gain * envelope)``, 0 outside the fan.
"""

from __future__ import annotations

import math

import numpy as np

from .appearance import Appearance
from .geometry import PAPER_IMAGE_SIZE, Geometry, col

_SPECKLE_MEAN = math.sqrt(0.375) * math.sqrt(math.pi / 2)  # E|z| after the along-beam smoothing


def _smooth(grid: np.ndarray, passes: int, axes=(-2, -1)) -> np.ndarray:
    """Binomial ``[1, 2, 1] / 4`` smoothing along ``axes``, ``passes`` times (edges repeated)."""
    for _ in range(passes):
        for axis in axes:
            pad = [(0, 0)] * grid.ndim
            pad[axis] = (1, 1)
            padded = np.pad(grid, pad, mode="edge")
            size = grid.shape[axis]
            take = lambda start: np.take(padded, np.arange(start, start + size), axis=axis)  # noqa: E731
            grid = 0.25 * take(0) + 0.5 * take(1) + 0.25 * take(2)
    return grid


def form_image(rng, geom: Geometry, app: Appearance, tissue: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """Raw images ``(n, H, W)`` float32 from echogenicity ``tissue`` and a shadow ``factor``.

    ``tissue`` is overwritten. ``factor`` None leaves the shadows out (the draws from
    ``rng`` are the same either way).
    """
    n = len(tissue)
    rows, cols = max(8, geom.height), max(8, geom.width // 2)
    row, column = geom.polar_grid(rows, cols)
    # Smooth echogenicity texture (tissue inhomogeneity) and bright point scatterers.
    texture = _smooth(rng.standard_normal((n, rows, cols), dtype=np.float32), 4)
    texture *= np.float32(app.clutter / 0.19)  # the smoothing leaves a standard deviation of about 0.19
    texture = np.exp(texture)
    texture *= 1.0 + (rng.uniform(size=(n, rows, cols)) < app.specks) * rng.uniform(1.0, 3.0, (n, rows, cols))
    # Speckle; a small image averages several grains per pixel, which lowers its contrast.
    z = rng.standard_normal((2, n, rows, cols), dtype=np.float32)
    z = _smooth(z, 1, axes=(-2,))
    speckle = np.hypot(z[0], z[1]) / np.float32(_SPECKLE_MEAN)
    contrast = min(1.0, math.sqrt(app.speckle_grain * geom.height * geom.width
                                  / (PAPER_IMAGE_SIZE[0] * PAPER_IMAGE_SIZE[1])))
    if contrast < 1.0:
        speckle = 1.0 + contrast * (speckle - 1.0)
    texture *= speckle
    envelope = tissue
    envelope *= texture[:, row, column]
    alpha = rng.uniform(*app.attenuation, n) / geom.unit
    envelope *= np.exp(-col(alpha) * (geom.radius[None] - geom.near))
    gain = rng.uniform(*app.gain, n)
    if factor is not None:
        envelope *= factor
    envelope *= col(gain)
    raw = np.log1p(np.maximum(envelope, 0.0), dtype=np.float32)
    raw *= geom.fan[None]
    return raw.astype(np.float32, copy=False)
