"""Image files to model inputs: batched, parallel reading gives each image what it gives alone."""

import numpy as np
import pytest
import tensorflow as tf

from disentangle_tf.data import images as images_module
from disentangle_tf.data.images import ImageReadError, iter_image_batches, load_images, read_images

SIZE = (12, 10)


def _reference(pixels: np.ndarray) -> np.ndarray:
    """One image's model input computed directly with TensorFlow's image ops."""
    image = tf.image.resize(tf.constant(pixels, tf.float32), SIZE, antialias=True)
    return tf.image.per_image_standardization(image).numpy()


def _grey(pixels: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, the greyscale conversion the package documents."""
    return (pixels.astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32))[..., None]


@pytest.fixture
def mixed_files(tmp_path):
    """PNG files of four sizes, greyscale and colour, interleaved."""
    rng = np.random.default_rng(0)
    shapes = [(30, 40, 1), (17, 23, 3), (30, 40, 1), (64, 48, 1), (17, 23, 3), (30, 40, 1), (5, 7, 1)]
    paths, pixels = [], []
    for index, shape in enumerate(shapes * 2):
        image = rng.integers(0, 256, shape).astype(np.uint8)
        path = tmp_path / f"image{index}.png"
        tf.io.write_file(str(path), tf.io.encode_png(image))
        paths.append(path)
        pixels.append(image)
    return paths, pixels


def test_batches_give_every_file_once_as_it_would_alone(mixed_files):
    paths, pixels = mixed_files
    seen = {}
    for indices, batch in iter_image_batches(paths, SIZE, channels=3, batch_size=3):
        assert batch.shape[0] == indices.shape[0] <= 3
        for index, image in zip(indices, batch):
            assert index not in seen
            seen[int(index)] = image
    assert sorted(seen) == list(range(len(paths)))
    for index, image in seen.items():
        rgb = pixels[index] if pixels[index].shape[-1] == 3 else np.repeat(pixels[index], 3, -1)
        np.testing.assert_allclose(image, _reference(rgb), atol=1e-5)


def test_batches_hold_images_of_one_decoded_size(mixed_files):
    paths, pixels = mixed_files
    for indices, _ in iter_image_batches(paths, SIZE, batch_size=4):
        sizes = {pixels[i].shape[:2] for i in indices}
        assert len(sizes) == 1


def test_load_images_keeps_the_order_given(mixed_files):
    paths, pixels = mixed_files
    order = list(range(len(paths)))[::-1]
    loaded = load_images([paths[i] for i in order], SIZE).numpy()
    assert loaded.shape == (len(paths), *SIZE, 1) and loaded.dtype == np.float32
    for row, index in enumerate(order):
        image = pixels[index]
        grey = image.astype(np.float32) if image.shape[-1] == 1 else _grey(image)
        np.testing.assert_allclose(loaded[row], _reference(grey), atol=1e-4)


def test_load_images_names_the_first_file_that_cannot_be_decoded(mixed_files, tmp_path):
    paths, _ = mixed_files
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    later = tmp_path / "later.png"
    later.write_bytes(b"\x89PNG\r\n\x1a\nnot either")
    with pytest.raises(ValueError, match=r"broken\.png: cannot decode as PNG") as caught:
        load_images([*paths[:5], broken, *paths[5:], later], SIZE)
    assert "\n" not in str(caught.value) and caught.value.index == 5
    with pytest.raises(ValueError, match=r"nowhere\.png: no such image file"):
        load_images([paths[0], tmp_path / "nowhere.png"], SIZE)


def test_files_are_checked_before_any_is_decoded(mixed_files, tmp_path, monkeypatch):
    paths, _ = mixed_files
    unknown = tmp_path / "notes.png"
    unknown.write_text("not an image\n")

    def decode(*args, **kwargs):
        raise AssertionError("a file was decoded before every file was checked")

    monkeypatch.setattr(images_module, "read_pixels", decode)
    with pytest.raises(ImageReadError, match=r"notes\.png: cannot decode: not a PNG, JPEG, BMP, GIF, TIFF or DICOM file"):
        read_images([*paths, unknown], SIZE)


def test_channels_other_than_one_or_three_are_refused(mixed_files):
    paths, _ = mixed_files
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        read_images(paths[:1], SIZE, channels=2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constant_images_are_reported_by_index_and_no_other(tmp_path, seed):
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths, expected = [], {1: [], 3: []}  # constant indices when read as grey / as RGB
    for index in range(12):
        kind = rng.choice(["random", "constant grey", "constant 16-bit", "one pixel", "one pixel differs",
                           "constant colour"])
        height, width = (1, 1) if kind == "one pixel" else tuple(rng.integers(2, 30, size=2))
        path = tmp_path / f"{index}.png"
        if kind == "random":
            Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L").save(path)
        elif kind in ("constant grey", "one pixel"):
            Image.fromarray(np.full((height, width), rng.integers(0, 256), np.uint8), "L").save(path)
        elif kind == "constant 16-bit":
            Image.fromarray(np.full((height, width), rng.integers(0, 65536), np.uint16)).save(path)
        elif kind == "one pixel differs":
            pixels = np.full((height, width), 100, np.uint8)
            pixels[rng.integers(height), rng.integers(width)] = 101
            Image.fromarray(pixels, "L").save(path)
        else:  # one colour everywhere whose channels differ: constant in grey, not in RGB
            colour = rng.choice(256, size=3, replace=False).astype(np.uint8)
            Image.fromarray(np.broadcast_to(colour, (height, width, 3)).copy(), "RGB").save(path)
        paths.append(str(path))
        for channels in (1, 3):
            if kind in ("constant grey", "one pixel", "constant 16-bit") or (kind == "constant colour" and channels == 1):
                expected[channels].append(index)
    for channels in (1, 3):
        found = []
        images = read_images(paths, (8, 10), channels, constant=found)
        assert sorted(found) == expected[channels], channels
        # Those images, and only those, are read as zeros, exactly (not the resize's rounding, magnified).
        zeros = [i for i in range(len(paths)) if not np.any(images[i])]
        assert zeros == expected[channels]
