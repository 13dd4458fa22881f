"""Per-image intensity normalisation.

Meng et al. (2019), "Representation Disentanglement for Multi-task Learning with
application to Fetal Ultrasound", z-score normalise every input image. This module
implements that step in NumPy with the convention of
``tf.image.per_image_standardization``: the standard deviation is floored at
``1 / sqrt(number of elements per image)`` so that constant images do not divide by
zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["standardize_per_image"]


def standardize_per_image(images: np.ndarray) -> np.ndarray:
    """Z-score normalise each image over its height, width and channels.

    Each image ``x`` becomes ``(x - mean(x)) / max(std(x), 1 / sqrt(H * W * C))``,
    the convention of ``tf.image.per_image_standardization``. Statistics are
    accumulated in float64; the result is float32.

    Args:
        images: array of shape ``(N, H, W, C)`` (any real dtype).

    Returns:
        A new float32 array of shape ``(N, H, W, C)`` in which every image has mean 0
        and standard deviation 1 (or less, for nearly constant images).

    Raises:
        ValueError: if ``images`` is not four-dimensional.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((2, 8, 8, 1), dtype=np.float32)
        >>> y = standardize_per_image(x)
        >>> bool(np.allclose(y.mean(axis=(1, 2, 3)), 0, atol=1e-6))
        True
        >>> bool(np.allclose(y.std(axis=(1, 2, 3)), 1, atol=1e-5))
        True
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images: expected an array of shape (N, H, W, C), got shape {images.shape}"
        )
    images = images.astype(np.float32, copy=False)
    count = images.shape[0]
    elements = int(np.prod(images.shape[1:]))
    if count == 0 or elements == 0:
        return images.copy()
    axes = (1, 2, 3)
    mean = images.mean(axis=axes, dtype=np.float64, keepdims=True)
    centred = images - mean.astype(np.float32)
    variance = np.einsum("nhwc,nhwc->n", centred, centred, dtype=np.float64) / elements
    # Two-pass variance: correct for the float32 rounding of the mean.
    residual = centred.mean(axis=axes, dtype=np.float64)
    variance = np.maximum(variance - residual**2, 0.0)
    scale = 1.0 / np.maximum(np.sqrt(variance), 1.0 / np.sqrt(elements))
    centred *= scale.astype(np.float32).reshape(count, 1, 1, 1)
    return centred
