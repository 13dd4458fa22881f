"""Simulated fetal ultrasound ("us-sim"), after Experiment 2 of Meng et al. (2019).

Meng, Q., Pawlowski, N., Rueckert, D., Kainz, B. (2019), "Representation
Disentanglement for Multi-task Learning with application to Fetal Ultrasound".
The paper's fetal screening images are private; this package simulates images with the
same two tasks and the same split (Table 1 of the paper) so that the protocol can be
run end to end:

* ``"plane"``: 0 = ``"3VV"`` (three-vessel view), 1 = ``"LVOT"`` (left ventricular
  outflow tract), 2 = ``"Abd"`` (abdominal circumference plane);
* ``"shadow"``: 0 = ``"without"``, 1 = ``"with"`` an acoustic shadow.

The images are meant to be hard in the ways real screening images are, so that a
classifier of the plane can be tempted by the shortcut "a shadow, so not LVOT" (in
training, 3VV and Abd images often have shadows and LVOT images never do):

* *The planes share structures.* Each image is a cross-section of the fetal trunk
  (:mod:`.anatomy`): skin outline, spine, ribs and descending aorta, lying in dark
  amniotic fluid below the maternal wall. The 3VV and the LVOT both show a heart (bright
  myocardium around two dark chambers) and vessel cross-sections at the same scale; the
  LVOT differs by the aorta leaving the left ventricle as a tube, the 3VV by three
  vessels in a row of graded size beside a smaller heart. The Abd shows a stomach bubble
  and the umbilical vein, dark structures without bright walls. ``"Others"`` (never a
  plane-task class) show kidneys, a four-chamber heart, a femur or the lips.
* *Acquisition varies* (:mod:`.formation`): speckle, smooth tissue texture and bright
  point scatterers; gain, depth attenuation and the body's size (the depth setting)
  vary per image; large bodies are cut by the edges of the fan (partial views).
* *Shadows are cast by bone* (:mod:`.shadows`): a dark radial band from the apex,
  behind a rib or the spine. A labelled shadow (``"with"``) is aimed through the key
  anatomy most of the time; behind every other bone, and in images labelled
  ``"without"``, the shadow is faint. Bright ribs on the beam through the anatomy are
  drawn in every image, so the reflector alone does not give the label away.

How strong each effect is (``appearance.APPEARANCE``) was calibrated on the validation
and ``test_seen`` splits only (docs/ultrasound.rst). One argument of the generators,
``shadow_salience`` (default 1, the calibrated images), makes the labelled shadows
deeper and wider (:mod:`.shadows`), so that the shadow becomes a stronger shortcut
for the plane.

The split follows Table 1 of the paper (``SPLIT_COUNTS``); ``scale`` shrinks every
group (``split_counts``). In training, LVOT never has a shadow; ``"lvot_with_shadow"``
tests that unseen combination, and ``"others"`` tests the shadow task on unseen
anatomy. The images of ``"others"`` carry only the ``"shadow"`` label: their plane is
none of the three classes, so the plane task is not evaluated there. ``"oracle"``
holds more LVOT images with a shadow, from their own random stream, that only the
oracle row of ``python -m disentangle_tf.reproduce`` uses: it adds them to training (a
ceiling); a run neither trains nor evaluates on them.

Sizes are fractions of ``L = min(H, W * 224 / 288)``, so the scene scales with the
image; the default image size (48 x 60) has the paper's aspect (224 x 288). The output
is a deterministic function of the arguments (seed, split, size, scale, shadow salience).
"""

from .appearance import APPEARANCE, Appearance, appearance_parameters
from .geometry import DEFAULT_IMAGE_SIZE, PAPER_IMAGE_SIZE, fan_mask
from .shadows import DEFAULT_SHADOW_SALIENCE, MAX_SHADOW_SALIENCE, check_shadow_salience
from .splits import (
    CLASS_NAMES,
    DEFAULT_SCALE,
    GROUPS,
    PLANES,
    SPLIT_COUNTS,
    SPLITS,
    TASKS,
    load_us_sim,
    make_us_sim_split,
    make_us_sim_splits,
    render_anatomy,
    render_raw,
    split_counts,
)

__all__ = [
    "APPEARANCE",
    "Appearance",
    "CLASS_NAMES",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SCALE",
    "DEFAULT_SHADOW_SALIENCE",
    "GROUPS",
    "MAX_SHADOW_SALIENCE",
    "PAPER_IMAGE_SIZE",
    "PLANES",
    "SPLITS",
    "SPLIT_COUNTS",
    "TASKS",
    "appearance_parameters",
    "check_shadow_salience",
    "fan_mask",
    "load_us_sim",
    "make_us_sim_split",
    "make_us_sim_splits",
    "render_anatomy",
    "render_raw",
    "split_counts",
]
