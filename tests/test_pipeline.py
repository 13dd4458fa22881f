"""The tf.data training pipeline: batches, fresh adversary batches, flips, epoch order."""

import numpy as np
import pytest

from disentangle_tf.data import LabelledImages, make_evaluation_dataset, make_training_dataset
from disentangle_tf.data.pipeline import random_flip_batch, steps_per_epoch


def indexed_data(count=20, height=4, width=6):
    """Images whose pixels encode their index (left half) and an asymmetric marker."""
    images = np.zeros((count, height, width, 1), np.float32)
    images[..., : width // 2, 0] = np.arange(count)[:, None, None]
    images[..., width // 2:, 0] = -1.0  # right half marks the orientation
    labels = {"index": np.arange(count, dtype=np.int64), "parity": np.arange(count, dtype=np.int64) % 2}
    return LabelledImages(images, labels)


def image_index(image):
    """Recover the index of an image, flipped or not; also whether it was flipped."""
    left, right = image[:, : image.shape[1] // 2], image[:, image.shape[1] // 2:]
    flipped = bool(np.all(left == -1.0))
    values = right if flipped else left
    return int(values[0, 0, 0]), flipped


def test_epoch_is_a_permutation_of_full_batches():
    data = indexed_data(23)
    batches = list(make_training_dataset(data, batch_size=5, flip=False, device=None))
    assert len(batches) == steps_per_epoch(data, 5) == 4
    seen = np.concatenate([y["index"].numpy() for _, y in batches])
    assert len(seen) == 20 and len(set(seen)) == 20  # no repeats within an epoch
    for x, y in batches:
        assert [image_index(img)[0] for img in x.numpy()] == list(y["index"].numpy())
        np.testing.assert_array_equal(y["parity"].numpy(), y["index"].numpy() % 2)


def test_each_iteration_is_a_new_order_but_seeded():
    data = indexed_data(30)
    first = make_training_dataset(data, batch_size=10, flip=False, device=None, seed=4)
    orders = [np.concatenate([y["index"].numpy() for _, y in first]) for _ in range(2)]
    assert not np.array_equal(orders[0], orders[1])
    again = make_training_dataset(data, batch_size=10, flip=False, device=None, seed=4)
    np.testing.assert_array_equal(np.concatenate([y["index"].numpy() for _, y in again]), orders[0])


def test_epoch_stream_resumes_with_the_same_order():
    data = indexed_data(30)

    def indices(**kwargs):
        dataset = make_training_dataset(data, batch_size=10, adversary_steps=2, device=None, seed=1, **kwargs)
        return [(m[1]["index"].numpy(), a[1]["index"].numpy(), m[0].numpy()) for m, a in dataset]

    whole = indices(epochs=4)
    resumed = indices(epochs=4, initial_epoch=2)
    assert len(whole) == 12 and len(resumed) == 6
    for (m1, a1, x1), (m2, a2, x2) in zip(whole[6:], resumed):
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(x1, x2)  # flips too
    assert not np.array_equal(whole[0][0], whole[3][0])  # epochs differ from each other


def test_fresh_adversary_batches_layout():
    data = indexed_data(40)
    dataset = make_training_dataset(data, batch_size=4, adversary_steps=3, flip=False, device=None)
    (images, labels), (adversary_images, adversary_labels) = next(iter(dataset))
    assert images.shape == (4, 4, 6, 1)
    assert adversary_images.shape == (4, 3, 4, 6, 1)
    assert adversary_labels["index"].shape == (4, 3)
    for row in range(4):
        for step in range(3):
            index, _ = image_index(adversary_images.numpy()[row, step])
            assert index == adversary_labels["index"].numpy()[row, step]
    # The adversary batches of one step hold distinct images.
    assert len(set(adversary_labels["index"].numpy().ravel())) == 12


def test_flips_mirror_about_half_the_images():
    data = indexed_data(200, width=8)
    flipped = []
    for x, y in make_training_dataset(data, batch_size=50, flip=True, device=None):
        for image, index in zip(x.numpy(), y["index"].numpy()):
            recovered, was_flipped = image_index(image)
            assert recovered == index
            original = data.images[index]
            expected = original[:, ::-1] if was_flipped else original
            np.testing.assert_array_equal(image, expected)
            flipped.append(was_flipped)
    assert 0.35 < np.mean(flipped) < 0.65


def test_random_flip_batch_on_five_dimensional_input():
    import tensorflow as tf

    x = tf.reshape(tf.range(2 * 3 * 2 * 4 * 1, dtype=tf.float32), (2, 3, 2, 4, 1))
    y = random_flip_batch(x, tf.constant([1, 2], tf.int64)).numpy()
    for i in range(2):
        for j in range(3):
            assert np.array_equal(y[i, j], x.numpy()[i, j]) or np.array_equal(y[i, j], x.numpy()[i, j, :, ::-1])


def test_copy_to_device_gives_the_same_batches():
    data = indexed_data(20)
    on_host = list(make_training_dataset(data, batch_size=5, adversary_steps=1, device=None, seed=2))
    on_device = list(make_training_dataset(data, batch_size=5, adversary_steps=1, device="/cpu:0", seed=2))
    assert len(on_host) == len(on_device) == 4
    for (m1, a1), (m2, a2) in zip(on_host, on_device):
        np.testing.assert_array_equal(m1[0].numpy(), m2[0].numpy())
        np.testing.assert_array_equal(a1[0].numpy(), a2[0].numpy())


def test_evaluation_dataset_keeps_order_and_partial_batch():
    data = indexed_data(7)
    batches = list(make_evaluation_dataset(data, batch_size=3))
    assert [len(y["index"]) for _, y in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([y["index"].numpy() for _, y in batches]), np.arange(7))


def test_too_small_training_split():
    with pytest.raises(ValueError, match="fewer than one batch of 50"):
        make_training_dataset(indexed_data(10), batch_size=50)


def test_an_augmentation_reaches_every_main_and_adversary_batch():
    import keras

    from conftest import build_random_data

    data = build_random_data(("a", "b"), count=12, seed=3)
    constant = keras.layers.Lambda(lambda images: images * 0.0 + 7.0)
    dataset = make_training_dataset(data, batch_size=4, adversary_steps=2, flip=False, device=None,
                                    augmentation=lambda images, training: constant(images))
    (images, labels), (adversary_images, adversary_labels) = next(iter(dataset))
    assert images.shape == (4, *data.image_shape) and adversary_images.shape == (4, 2, *data.image_shape)
    assert np.all(images.numpy() == 7.0) and np.all(adversary_images.numpy() == 7.0)


def test_keras_preprocessing_layers_augment_without_changing_shapes_or_labels():
    import keras

    from conftest import build_random_data

    data = build_random_data(("a", "b"), count=12, seed=3)
    plain = make_training_dataset(data, batch_size=4, flip=False, device=None, seed=5)
    rotated = make_training_dataset(data, batch_size=4, flip=False, device=None, seed=5,
                                    augmentation=keras.layers.RandomRotation(0.25, seed=1))
    (x0, y0), (x1, y1) = next(iter(plain)), next(iter(rotated))
    assert x1.shape == x0.shape
    for task in y0:
        np.testing.assert_array_equal(y0[task].numpy(), y1[task].numpy())
    assert not np.allclose(x0.numpy(), x1.numpy())
