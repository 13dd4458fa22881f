"""The model's defaults and choices, readable without TensorFlow.

:class:`~disentangle_tf.models.Disentangler` takes its architecture defaults from
:class:`Architecture` and its compile choices from the tuples here; the run
configuration (:class:`~disentangle_tf.run.config.ModelConfig`,
:class:`~disentangle_tf.run.config.TrainConfig`) reads the same values, so that a default
or a choice is written once.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Architecture:
    """Architecture of encoders and heads (paper, Sect. 2 and Fig. 2).

    Args:
        encoder_filters: filters of each residual block (paper: six blocks).
        encoder_strides: stride of each residual block.
        stem_filters: filters of the initial 3x3 convolution (authors' code: 8).
        activation: activation inside the residual blocks.
        feature_pooling: ``"average"`` (global average pooling; the default, see
            ``docs/method.rst``) or ``"flatten"`` (authors' code) to turn the last
            feature map into a feature vector.
        head_units: hidden units of each classifier / adversary head.
        l2_weight: L2 penalty on every convolution and dense kernel.
        synchronized_batch_norm: batch statistics over all replicas' batches
            (turned on by the training run whenever there is more than one replica).
        conditional_adversaries: each adversary also reads the one-hot label of
            the features' own task (not in the paper).
    """

    encoder_filters: tuple[int, ...] = (16, 16, 32, 32, 64, 64)
    encoder_strides: tuple[int, ...] = (2, 1, 2, 1, 2, 1)
    stem_filters: int = 8
    activation: str = "leaky_relu"
    feature_pooling: str = "average"
    head_units: tuple[int, ...] = (256,)
    l2_weight: float = 1e-5
    synchronized_batch_norm: bool = False
    conditional_adversaries: bool = False


#: Adam learning rate of encoders and classifiers (raised from the authors' 1e-5 so
#: that a run of a few minutes on a CPU converges; ``docs/method.rst``).
LEARNING_RATE = 1e-3

#: SGD learning rate and momentum of the adversaries (the authors' code).
ADVERSARY_LEARNING_RATE = 1e-2
ADVERSARY_MOMENTUM = 0.9

#: How a feature map becomes the feature vector (:class:`~disentangle_tf.models.ResidualEncoder`).
FEATURE_POOLING = ("flatten", "average")

#: What the encoders do to their adversaries (:mod:`~disentangle_tf.models.objectives`):
#: maximise their cross-entropy (the paper) or push their predictions towards uniform.
ADVERSARIAL_OBJECTIVES = ("maximize_cross_entropy", "uniform")

#: Where the independence penalty's Gaussian kernel takes its median bandwidth:
#: within each class, or over the batch
#: (:func:`~disentangle_tf.models.objectives.conditional_hsic`).
BANDWIDTHS = ("class", "batch")

#: The independence penalties by name: each the import path ``"module:function"`` of a
#: function ``(features, other_labels, own_labels, num_own_classes, num_other_classes,
#: mask=None) -> scalar`` (:mod:`disentangle_tf.models.penalties`). ``independence_penalty``
#: takes a name of this table or such a path.
INDEPENDENCE_PENALTIES = {
    "hsic": "disentangle_tf.models.objectives:conditional_hsic",
    "coral": "disentangle_tf.models.coral:conditional_coral",
}

#: Which batches the adversary steps of Eq. 2 read: fresh ones (the authors' code) or
#: the main batch's features.
ADVERSARY_BATCHES = ("fresh", "same")

#: How Eq. 1's adversarial term reaches the encoders: alternating updates (the paper) or
#: a gradient reversal layer (Ganin & Lempitsky 2015).
ADVERSARIAL_TRAINING = ("alternating", "gradient_reversal")

#: Where the independence penalty reads each encoder: its features only, also the
#: globally averaged output of every residual block, also every block's output map,
#: each cell of a grid of :data:`BLOCK_MAP_GRID` cells a sample of local features, or
#: also both (a two-level spatial pyramid: the global average and the grid cells).
INDEPENDENCE_LAYERS = ("features", "blocks", "block_maps", "block_pyramid")

#: Rows and columns of the grid a block's output map is averaged to for
#: ``independence_layers="block_maps"`` (fewer where the map is smaller).
BLOCK_MAP_GRID = 2
