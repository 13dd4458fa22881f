"""The parameters that set how hard the simulated images are (chosen by calibration).

``APPEARANCE`` holds the values the simulator uses; ``experiments/us_sim_calibration.py``
records them with every calibration run, and docs/ultrasound.rst explains the choice.
Ranges are ``(low, high)`` of a uniform draw per image.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Appearance:
    """Difficulty parameters of us-sim.

    Attributes:
        speckle_grain: paper-size (224 x 288) pixels per speckle grain; a smaller image
            averages ``grain * H * W / (224 * 288)`` grains per pixel, which lowers the
            speckle contrast to ``sqrt`` of that (at most 1).
        clutter: standard deviation of the log of the smooth echogenicity texture
            (tissue inhomogeneity) multiplying the whole scene.
        specks: fraction of speckle cells holding a bright point scatterer.
        wall_contrast: how much brighter than the surrounding tissue the walls of the
            heart and vessels are (relative; 0.5 means 1.5 times).
        zoom: scale of the fetal body relative to the fan (the depth setting).
        gain: overall gain before log compression, ``log(1 + gain * envelope)``.
        attenuation: ``alpha`` of ``exp(-alpha * depth)``, per unit ``L`` of depth.
        shadow_with: shadow factor in the core of a labelled acoustic shadow.
        shadow_without: shadow factor behind bone in images labelled without shadow
            (faint attenuation, not an artefact a sonographer would mark).
        shadow_width: angular half-width (radians) of a labelled shadow.
        shadow_on_anatomy: probability that a labelled shadow is aimed through the
            plane's key anatomy (heart, vessels, stomach).
        second_shadow: probability of a second labelled shadow.
        distractors: probability of the structures that make the planes alike: an
            extra vessel cross-section beside the LVOT, a pulmonary trunk drawn as a
            short tube in the 3VV, the umbilical vein in the Abd.
    """

    speckle_grain: float = 8.0
    clutter: float = 0.18
    specks: float = 0.01
    wall_contrast: tuple[float, float] = (0.8, 1.5)
    zoom: tuple[float, float] = (1.0, 1.3)
    gain: tuple[float, float] = (2.0, 10.0)
    attenuation: tuple[float, float] = (0.4, 1.8)
    shadow_with: tuple[float, float] = (0.15, 0.6)
    shadow_without: tuple[float, float] = (0.8, 1.0)
    shadow_width: tuple[float, float] = (0.05, 0.12)
    shadow_on_anatomy: float = 0.75
    second_shadow: float = 0.4
    distractors: float = 0.6


APPEARANCE = Appearance()
"""The parameters the simulator uses."""


def appearance_parameters() -> dict:
    """``APPEARANCE`` as a JSON-ready dict (ranges as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(APPEARANCE).items()}
