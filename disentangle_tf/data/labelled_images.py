"""Images (in memory, or read on demand) with one integer label array per task."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from .streaming import LazyImages

MISSING_LABEL = -1
"""The label of an image that has no label for a task: it is left out of that task's
loss, accuracy and scores, and of the adversaries predicting that task. The same value
as :data:`disentangle_tf.models.MISSING_LABEL` (defined here too, so that reading data
does not load TensorFlow)."""


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """A set of images with integer labels for each task.

    Args:
        images: float32 array of shape ``(N, H, W, C)``, or a
            :class:`~disentangle_tf.data.streaming.LazyImages` of that shape, which
            decodes images on demand (a data set larger than memory); it is kept
            as it is, not read.
        labels: mapping from task name to an integer array of shape ``(N,)``:
            class indices ``>= 0``, or :data:`MISSING_LABEL` (-1) where an image has
            no label for that task.
        class_names: optional mapping from task name to the names of its classes,
            index ``k`` naming label ``k``.
        groups: optional array of shape ``(N,)`` naming the group of each image
            (for example ``"circle-white"``), used in reports.

    Raises:
        ValueError: if the shapes disagree or a label is below -1.
    """

    images: np.ndarray
    labels: Mapping[str, np.ndarray]
    class_names: Mapping[str, tuple] | None = None
    groups: np.ndarray | None = None

    def __post_init__(self):
        images = self.images if isinstance(self.images, LazyImages) else np.asarray(self.images)
        if images.ndim != 4:
            raise ValueError(
                f"images: expected an array of shape (N, H, W, C), got shape {images.shape}"
            )
        count = images.shape[0]
        for task, values in self.labels.items():
            values = np.asarray(values)
            if values.shape != (count,):
                raise ValueError(
                    f"labels[{task!r}]: expected shape ({count},) to match {count} images, "
                    f"got {values.shape}"
                )
            if not np.issubdtype(values.dtype, np.integer):
                raise ValueError(
                    f"labels[{task!r}]: expected integer class indices, got dtype {values.dtype}"
                )
            if count and values.min() < MISSING_LABEL:
                raise ValueError(
                    f"labels[{task!r}]: class indices must be >= 0, or {MISSING_LABEL} for a missing "
                    f"label; found {int(values.min())}"
                )
        if self.groups is not None and np.asarray(self.groups).shape != (count,):
            raise ValueError(
                f"groups: expected shape ({count},), got {np.asarray(self.groups).shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.images.shape[1:])

    def subset(self, mask: np.ndarray) -> "LabelledImages":
        """The images selected by a boolean mask or an index array.

        Lazy images stay lazy: the subset is a view of the same source, nothing is
        decoded.
        """
        return LabelledImages(
            images=self.images[mask],
            labels={task: values[mask] for task, values in self.labels.items()},
            class_names=self.class_names,
            groups=None if self.groups is None else self.groups[mask],
        )
