"""Image files to model inputs: batched decoding gives each image what it gives alone."""

import numpy as np
import pytest
import tensorflow as tf

from disentangle_tf.data.images import decode_image, image_file_dataset, load_images

SIZE = (12, 10)


def _reference(path, channels: int = 1) -> np.ndarray:
    """One file's model input computed directly with TensorFlow's image ops."""
    image = tf.io.decode_png(tf.io.read_file(str(path)), channels=channels)
    image = tf.image.resize(tf.cast(image, tf.float32), SIZE, antialias=True)
    return tf.image.per_image_standardization(image).numpy()


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


def test_dataset_gives_every_file_once_as_it_would_alone(mixed_files):
    paths, pixels = mixed_files
    seen = {}
    for indices, images in image_file_dataset(paths, SIZE, batch_size=3):
        assert images.shape[0] == indices.shape[0] <= 3
        for index, image in zip(indices.numpy(), images.numpy()):
            assert index not in seen
            seen[int(index)] = image
    assert sorted(seen) == list(range(len(paths)))
    for index, image in seen.items():
        np.testing.assert_allclose(image, _reference(paths[index]), atol=1e-5)


def test_batches_hold_images_of_one_decoded_size(mixed_files):
    paths, pixels = mixed_files
    for indices, _ in image_file_dataset(paths, SIZE, batch_size=4):
        sizes = {pixels[i].shape[:2] for i in indices.numpy()}
        assert len(sizes) == 1


def test_load_images_keeps_the_order_given_and_matches_decode_image(mixed_files):
    paths, pixels = mixed_files
    order = paths[::-1]
    images = load_images(order, SIZE, channels=3).numpy()
    assert images.shape == (len(paths), *SIZE, 3)
    for path, image in zip(order, images):
        expected = decode_image(tf.io.read_file(str(path)), SIZE, channels=3).numpy()
        np.testing.assert_allclose(image, expected, atol=1e-5)
    greyscale = load_images(paths, SIZE).numpy()
    for index in (0, 1, 3, 6):
        np.testing.assert_allclose(greyscale[index], _reference(paths[index]), atol=1e-5)


def test_load_images_names_the_first_file_that_cannot_be_decoded(mixed_files, tmp_path):
    paths, _ = mixed_files
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match=r"broken\.png: cannot decode"):
        load_images([*paths[:5], broken, *paths[5:]], SIZE)
    with pytest.raises(ValueError, match=r"nowhere\.png: no such image file"):
        load_images([paths[0], tmp_path / "nowhere.png"], SIZE)
