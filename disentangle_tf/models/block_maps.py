"""Block output maps pooled for the independence penalty (``independence_layers`` ``"blocks"``,
``"block_maps"``, ``"block_pyramid"``)."""

from __future__ import annotations

import keras
from keras import ops

from .defaults import BLOCK_MAP_GRID


def grid_cells(maps, grid: int = BLOCK_MAP_GRID):
    """Feature maps averaged over a grid of cells: ``(N, H, W, C)`` -> ``(N, G, C)``.

    The map is cut into ``min(grid, H)`` x ``min(grid, W)`` cells of ``H // rows`` x
    ``W // columns`` pixels (the last rows and columns that do not fill a cell are left
    out); ``G`` is the number of cells, in row-major order.

    Args:
        maps: ``(N, H, W, C)`` feature maps (static ``H`` and ``W``), any float dtype.
        grid: cells per side at most.

    Returns:
        ``(N, G, C)`` cell averages, in the dtype of ``maps``. Each cell of each image
        is one sample of the class-conditional HSIC
        (:func:`~disentangle_tf.models.objectives.conditional_hsic`), labelled as its
        image: the package's extension of the penalty to local features.
    """
    height, width = maps.shape[1], maps.shape[2]
    rows, columns = min(grid, height), min(grid, width)
    cell = (height // rows, width // columns)
    maps = maps[:, : rows * cell[0], : columns * cell[1], :]
    pooled = ops.average_pool(maps, pool_size=cell, strides=cell, padding="valid")
    return ops.reshape(pooled, (-1, rows * columns, maps.shape[-1]))


def global_average(maps):
    """Feature maps averaged over their positions: ``(N, H, W, C)`` -> ``(N, C)``.

    The pooling of ``independence_layers="blocks"`` (one sample per image).
    """
    return ops.mean(maps, axis=(1, 2))


def block_taps(encoders, independence_layers: str) -> list:
    """Per encoder, a ``keras.Model`` sharing its layers that returns every residual block's
    output map (the layers named ``block<i>_add``) and then the features.

    Raises:
        ValueError: for an encoder without such layers, naming it and ``independence_layers``.
    """
    taps = []
    for encoder in encoders:
        names = [layer.name for layer in encoder.layers if layer.name.startswith("block")
                 and layer.name.endswith("_add")]
        if not names:
            raise ValueError(
                f"independence_layers={independence_layers!r} reads residual blocks (layers named block<i>_add); "
                f"encoder {encoder.name!r} has none"
            )
        taps.append(keras.Model(encoder.inputs, [*[encoder.get_layer(n).output for n in names], encoder.output],
                                name=f"{encoder.name}_taps"))
    return taps
