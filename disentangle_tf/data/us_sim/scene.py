"""One group of us-sim images: anatomy, bones and shadows, then image formation."""

from __future__ import annotations

import numpy as np

from .anatomy import PLANE_RENDERERS, Canvas, draw_body
from .appearance import APPEARANCE, Appearance
from .formation import form_image
from .geometry import Geometry
from .shadows import DEFAULT_SHADOW_SALIENCE, aimed_rib, salient_shadow, shadow_factor

_CHUNK_PIXELS = 1 << 20  # pixels rendered at once (bounds the working memory)


def render_chunk(rng, geom: Geometry, plane: str, shadow: bool, n: int, cast_shadows: bool = True,
                 record: bool = False, app: Appearance = APPEARANCE,
                 salience: float = DEFAULT_SHADOW_SALIENCE):
    """Raw images, shadow factors (each ``(n, H, W)`` float32) and structure masks of one group.

    The masks are ``{kind: coverage (n, H, W)}`` (``anatomy.STRUCTURES``) if ``record``,
    else None. ``salience`` deepens and widens the labelled shadows
    (:func:`.shadows.salient_shadow`) and nothing else: it takes no draws from ``rng``,
    so every salience gives the same scenes.
    """
    canvas = Canvas(np.empty((n, geom.height, geom.width), np.float32), record)
    body, base, casters = draw_body(rng, geom, canvas, app, abdomen=plane == "Abd")
    target = PLANE_RENDERERS[plane](rng, geom, canvas, body, app, base)

    # Two aimed ribs: the first always drawn, the second with probability 1/2. With a
    # shadow, the first casts a labelled shadow and the second does with probability
    # ``second_shadow``; every other bone casts a faint one.
    on_anatomy = rng.uniform(size=n) < app.shadow_on_anatomy
    anywhere = body.point(rng.uniform(-0.9, 0.9, n), rng.uniform(-0.9, 0.9, n))
    cores = [rng.uniform(*app.shadow_without, n) for _ in casters]
    for slot in range(2):
        width = rng.uniform(*app.shadow_width, n)
        aim = tuple(np.where(on_anatomy if slot == 0 else rng.uniform(size=n) < 0.5, t, a)
                    for t, a in zip(target, anywhere))
        present = np.ones(n, bool) if slot == 0 else rng.uniform(size=n) < 0.5
        labelled = np.full(n, shadow) & (present if slot == 0 else rng.uniform(size=n) < app.second_shadow)
        core = np.where(labelled, rng.uniform(*app.shadow_with, n), rng.uniform(*app.shadow_without, n))
        present |= labelled
        distance, angle, half = aimed_rib(rng, geom, canvas, body, aim, width, present)
        core, half = salient_shadow(core, half, labelled, salience)
        casters.append((distance, angle, half))
        cores.append(np.where(present, core, 1.0))
    factor = shadow_factor(geom, casters, cores)
    raw = form_image(rng, geom, app, canvas.tissue, factor if cast_shadows else None)
    return raw, factor, canvas.masks


def render_group(rng, geom: Geometry, plane: str, shadow: bool, count: int, cast_shadows: bool = True,
                 record: bool = False, salience: float = DEFAULT_SHADOW_SALIENCE):
    """``render_chunk`` over ``count`` images in chunks of about a million pixels."""
    chunk = max(1, _CHUNK_PIXELS // (geom.height * geom.width))
    raws, factors, masks = [], [], []
    for start in range(0, count, chunk):
        raw, factor, mask = render_chunk(rng, geom, plane, shadow, min(chunk, count - start), cast_shadows, record,
                                         salience=salience)
        raws.append(raw)
        factors.append(factor)
        masks.append(mask)
    joined = None
    if record:
        kinds = sorted({kind for mask in masks for kind in mask})
        joined = {kind: np.concatenate([mask.get(kind, np.zeros_like(raw)) for mask, raw in zip(masks, raws)])
                  for kind in kinds}
    return np.concatenate(raws), np.concatenate(factors), joined
