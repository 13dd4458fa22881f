"""``Disentangler.fit``: its data checked once, arrays wrapped for fresh adversary batches.

A mixin of :class:`~disentangle_tf.models.Disentangler`: every check fails with a
one-line ``ValueError`` naming the argument and what was expected.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..data.labelled_images import MISSING_LABEL, LabelledImages
from ..data.pipeline import make_training_dataset
from .example_weights import same_tables


class FitArguments:
    """The checked ``fit`` of a :class:`~disentangle_tf.models.Disentangler` (a mixin)."""

    def check_data(self, data) -> None:
        """Check that labelled images fit this model; ValueError naming what is wrong.

        Args:
            data: a :class:`~disentangle_tf.data.LabelledImages`.
        """
        self._check_images_shape(data.image_shape)
        self._checked_labels(data.labels, len(data))

    def _check_images_shape(self, shape):
        shape = tuple(shape)
        if shape != tuple(self.image_shape):
            shown = ", ".join("?" if d is None else str(d) for d in shape)
            raise ValueError(
                f"images: expected shape (N, {', '.join(map(str, self.image_shape))}), got (N, {shown})"
            )

    def _checked_labels(self, labels, count: int) -> dict:
        """Per task, ``(count,)`` int32 labels; one-hot rows become class indices.

        Raises:
            ValueError: naming the task whose labels are missing, of the wrong shape
                or dtype, or out of ``[MISSING_LABEL, num_classes)``.
        """
        if not isinstance(labels, dict):
            labels = dict(zip(self.task_names, self._task_labels(labels)))
        checked = {}
        for task in self.tasks:
            if task.name not in labels:
                raise ValueError(f"labels: missing task {task.name!r}; expected keys {list(self.task_names)}")
            values = np.asarray(labels[task.name])
            if values.ndim == 2 and values.shape[1] == task.num_classes and values.shape[0] == count:
                one_hot = np.isin(values, (0, 1)).all() and (values.sum(axis=1) == 1).all()
                if not one_hot:
                    raise ValueError(
                        f"labels[{task.name!r}]: a 2-D label array must be one-hot (one 1 per row); "
                        "got other values: pass integer class indices of shape (N,)")
                values = values.argmax(axis=1)
            if values.shape != (count,):
                raise ValueError(
                    f"labels[{task.name!r}]: expected integer class indices of shape ({count},) "
                    f"or one-hot labels of shape ({count}, {task.num_classes}); got shape {values.shape}")
            if not np.issubdtype(values.dtype, np.integer):
                if not (np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values))):
                    raise ValueError(
                        f"labels[{task.name!r}]: expected integer class indices; got dtype {values.dtype}")
            if count and (values.min() < MISSING_LABEL or values.max() >= task.num_classes):
                raise ValueError(
                    f"labels[{task.name!r}]: class indices must be in [0, {task.num_classes}) "
                    f"(or {MISSING_LABEL} for a missing label); found {int(values.min())}..{int(values.max())}"
                )
            checked[task.name] = values.astype(np.int32)
        return checked

    def _check_dataset(self, dataset):
        """Check a dataset's element spec against the model, one line naming what is wrong."""
        spec = dataset.element_spec
        main = spec[0] if isinstance(spec, tuple) and isinstance(spec[0], tuple) else spec
        if not isinstance(main, tuple) or len(main) < 2:
            raise ValueError("dataset: expected (images, labels) or (images, labels, sample_weight) elements")
        images, labels = main[0], main[1]
        if images.shape.rank is not None and images.shape.rank >= 3:
            self._check_images_shape(images.shape[-3:])
        labels = labels if isinstance(labels, dict) else dict(zip(self.task_names, labels if isinstance(
            labels, (tuple, list)) else [labels]))
        for task in self.task_names:
            label_spec = labels.get(task)
            if label_spec is None:
                raise ValueError(f"dataset: labels have no task {task!r}; expected keys {list(self.task_names)}")
            if label_spec.shape.rank is not None and label_spec.shape.rank > 1:
                raise ValueError(
                    f"dataset: labels[{task!r}] have shape {label_spec.shape}; expected integer class "
                    "indices of shape (batch,) (for one-hot labels use argmax)")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, shuffle=True, sample_weight=None,
            class_weight=None, validation_split=0.0, validation_data=None, **kwargs):
        """``keras.Model.fit``, with the data checked first and every task weighted.

        Arrays are checked once (image shape, labels' shape, range and dtype; one-hot
        labels are turned into class indices) and a dataset's element spec likewise,
        each failure a ``ValueError`` of one line. A label of :data:`MISSING_LABEL`
        (-1) marks a missing label: the example is skipped by that task's loss and
        accuracy and by the adversaries that predict it.

        With ``adversary_batches="fresh"`` and array inputs the data are wrapped by
        :func:`disentangle_tf.data.make_training_dataset` so that every adversary step
        sees a fresh batch. Datasets are used as given.

        Args:
            sample_weight: ``(N,)`` weights of the examples, or a dict of them per task
                (datasets may yield ``(images, labels, sample_weight)`` instead). Each
                task's cross-entropy, and the adversaries' that predict its label, are
                the weighted mean ``sum(w * CE) / N``; an example of weight 0 moves
                nothing, and is left out of the independence penalty.
            class_weight: per task a dict ``{class index: weight}`` (for a one-task
                model the inner dict alone), multiplying the sample weights in
                training; classes not named weigh 1.
            validation_split: with arrays, the fraction of examples, taken from the
                end before shuffling as in Keras, held out for validation.
            x, y, batch_size, epochs, shuffle, validation_data: as in
                ``keras.Model.fit``, and so are the other keyword arguments.

        Raises:
            ValueError: for data or weights that do not fit the model.
        """
        tables = self._checked_class_weight(class_weight)
        if not same_tables(tables, self._class_weights):
            self._class_weights = tables
            self.train_function = None  # the class weights are constants of the traced step
        if isinstance(x, tf.data.Dataset):
            self._check_dataset(x)
            if validation_split:
                raise ValueError("validation_split: needs arrays; with a dataset pass validation_data")
            if sample_weight is not None:
                raise ValueError("sample_weight: with a dataset, yield (images, labels, sample_weight) instead")
        elif x is not None and y is not None:
            images = np.asarray(x)
            if images.ndim != 4:
                raise ValueError(f"images: expected an array of shape (N, H, W, C); got shape {images.shape}")
            self._check_images_shape(images.shape[1:])
            count = images.shape[0]
            y = self._checked_labels(y, count)
            sample_weight = self._checked_sample_weight(sample_weight, count)
            if not 0 <= float(validation_split) < 1:
                raise ValueError(f"validation_split: expected a fraction in [0, 1); got {validation_split!r}")
            if validation_split:
                if validation_data is not None:
                    raise ValueError("validation_split: give either validation_split or validation_data")
                cut = int(count * (1.0 - float(validation_split)))
                if cut == 0 or cut == count:
                    raise ValueError(f"validation_split: {validation_split} of {count} images leaves no "
                                     "training or no validation image")
                head = lambda value: value[:cut] if not isinstance(value, dict) else {  # noqa: E731
                    k: v[:cut] for k, v in value.items()}
                tail = lambda value: value[cut:] if not isinstance(value, dict) else {  # noqa: E731
                    k: v[cut:] for k, v in value.items()}
                validation_data = (images[cut:], tail(y)) + (() if sample_weight is None else (
                    tail(sample_weight),))
                images, y = images[:cut], head(y)
                sample_weight = None if sample_weight is None else head(sample_weight)
            x = images
            needs_fresh = self.adversaries and self.adversary_steps and self.adversary_batches == "fresh"
            if needs_fresh:
                if sample_weight is not None:
                    raise ValueError("sample_weight: with adversary_batches='fresh' and arrays, build the "
                                     "dataset yourself (make_training_dataset) or compile with "
                                     "adversary_batches='same'")
                labelled = LabelledImages(images=x, labels=y)
                x = make_training_dataset(labelled, batch_size=batch_size or 32,
                                          adversary_steps=self.adversary_steps, flip=False,
                                          shuffle=shuffle)
                y, batch_size = None, None
        if isinstance(x, tf.data.Dataset):
            shuffle = False  # a dataset carries its own shuffling
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
                           sample_weight=sample_weight, validation_data=validation_data, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras draws a batch here, under a strategy, to build the model and compiled
        # metrics symbolically; it reduces the distributed batch first, which fails
        # under MultiWorkerMirroredStrategy. This model and its metric trackers are
        # built at construction, so no batch is needed.
        if self._distribute_strategy is None:
            return
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)
