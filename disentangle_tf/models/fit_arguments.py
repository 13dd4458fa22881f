"""``Disentangler.fit``: its data checked once, arrays fed as the model's method asks.

A mixin of :class:`~disentangle_tf.models.Disentangler`: every check fails with a
one-line ``ValueError`` naming the argument and what was expected. A model compiled with
a method (``compile(method="recommended")``) trains from arrays as a run of that method
does: its batches, then the steps after the last epoch (:mod:`.post_fit`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..data.combinations import count_combinations
from ..data.labelled_images import MISSING_LABEL, LabelledImages
from ..data.pipeline import make_training_dataset, steps_per_epoch
from ..replicas import model_strategy
from .example_weights import checked_class_weight, checked_sample_weight, labels_per_task, same_tables
from .post_fit import post_fit_callbacks


class FitArguments:
    """The checked ``fit`` of a :class:`~disentangle_tf.models.Disentangler` (a mixin)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._class_weights = None

    @property
    def fit_class_weights(self) -> dict | None:
        """The class weights of the last ``fit``: per task name a float32 ``(num_classes,)``
        table, or None (none given). The training step multiplies each example's losses by
        its label's weight."""
        return self._class_weights

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
            labels = dict(zip(self.task_names, labels_per_task(self.task_names, labels)))
        self._refuse_unknown_tasks("labels", labels)
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

    def _refuse_unknown_tasks(self, what: str, labels: dict) -> None:
        # Labels of a task the model does not have would be dropped without a word.
        unknown = [key for key in labels if key not in self.task_names]
        if unknown:
            raise ValueError(f"{what}: no task {', '.join(map(repr, unknown))} in this model; expected keys "
                             f"{list(self.task_names)}")

    def _check_dataset(self, dataset):
        """Check a dataset's element spec against the model, one line naming what is wrong."""
        spec = dataset.element_spec
        main = spec[0] if isinstance(spec, tuple) and isinstance(spec[0], tuple) else spec
        if not isinstance(main, tuple) or len(main) < 2:
            raise ValueError("dataset: expected (images, labels) or (images, labels, sample_weight) elements")
        images, labels = main[0], main[1]
        if images.shape.rank is not None and images.shape.rank >= 3:
            self._check_images_shape(images.shape[-3:])
        if isinstance(labels, dict):
            self._refuse_unknown_tasks("dataset: labels", labels)
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
            class_weight=None, validation_split=0.0, validation_data=None, seed=0, post_fit_data=None,
            **kwargs):
        """``keras.Model.fit``, with the data checked first and every task weighted.

        Arrays are checked once (image shape, labels' shape, range and dtype; one-hot
        labels are turned into class indices) and a dataset's element spec likewise,
        each failure a ``ValueError`` of one line. A label of :data:`MISSING_LABEL`
        (-1) marks a missing label: the example is skipped by that task's loss and
        accuracy and by the adversaries that predict it.

        A model compiled with a method (``compile(method="recommended")``) given arrays
        trains as ``python -m disentangle_tf.train --method NAME`` does: the batches come
        from :func:`disentangle_tf.data.make_training_dataset` with the method's
        ``sampling`` and ``mixup``, random left-right flips, fresh adversary batches if the method
        uses them, ``batch_size`` and ``seed``, epoch ``e`` in the order ``(seed, e)``
        fixes, ``len(x) // batch_size`` steps per epoch; after the last epoch the
        method's steps run as callbacks, after the others
        (:class:`~disentangle_tf.models.post_fit.PreciseBatchNormalization` with
        ``seed``, then :class:`~disentangle_tf.models.post_fit.LastLayerRetraining`), on
        the training arrays (without the ``validation_split`` part). With the same seed
        as the run and ``keras.utils.set_random_seed(seed)`` before the model is built,
        the model ends with the run's weights. For a task that a left-right flip
        changes, build the dataset with ``make_training_dataset(..., flip=False)``.

        Arrays also record the combinations of labels they hold, with their counts, in
        ``training_combinations`` (without the ``validation_split`` part), as a run does:
        the exported model then flags predictions of a combination absent from training.
        A dataset leaves the record as it is (set it yourself, or train through a run).

        Without a method, arrays are Keras's (shuffled by Keras, no flips), except that
        with ``adversary_batches="fresh"`` they are wrapped by
        :func:`disentangle_tf.data.make_training_dataset` (no flips, ``seed``) so that
        every adversary step sees a fresh batch.

        A ``tf.data.Dataset`` is used as given (its batches, order and flips are its
        own). The steps after training need the training images: with a method that
        has them, pass ``post_fit_data=(images, labels)``; without it, ``fit`` refuses
        the dataset rather than skip them.

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
            seed: seed of the batches' order, flips and fresh adversary batches drawn
                from arrays, and of the batch-norm batches after training (default 0).
                It does not seed the initial weights: ``keras.utils.set_random_seed``
                before building the model does.
            post_fit_data: ``(images, labels)`` for the method's steps after training:
                ``(N, H, W, C)`` float32 images and, per task, ``(N,)`` integer labels
                (or a sequence in task order). Default: the training arrays; needed with
                a dataset when the method has such steps; refused when it has none.
            batch_size: images per batch; with a dataset, only the steps after training
                read it (default: the dataset's batch size if it is fixed, else 32).
            x, y, epochs, shuffle, validation_data: as in ``keras.Model.fit``, and so
                are the other keyword arguments (``callbacks`` a list).

        Raises:
            ValueError: for data or weights that do not fit the model; with arrays and
                a method, for ``sample_weight`` (use ``class_weight``, or a dataset of
                ``(images, labels, sample_weight)``) or ``steps_per_epoch``; for a
                dataset without ``post_fit_data`` when the method has steps after
                training, or ``post_fit_data`` when it has none.
        """
        tables = checked_class_weight(self.tasks, class_weight)
        if not same_tables(tables, self._class_weights):
            self._class_weights = tables
            self.train_function = None  # the class weights are constants of the traced step
        post_fit_batch, training_arrays = batch_size or 32, None
        if isinstance(x, tf.data.Dataset):
            self._check_dataset(x)
            if validation_split:
                raise ValueError("validation_split: needs arrays; with a dataset pass validation_data")
            if sample_weight is not None:
                raise ValueError("sample_weight: with a dataset, yield (images, labels, sample_weight) instead")
            post_fit_batch = batch_size or _fixed_batch_size(x) or 32
        elif x is not None and y is not None:
            images = np.asarray(x)
            if images.ndim != 4:
                raise ValueError(f"images: expected an array of shape (N, H, W, C); got shape {images.shape}")
            self._check_images_shape(images.shape[1:])
            count = images.shape[0]
            y = self._checked_labels(y, count)
            sample_weight = checked_sample_weight(self.task_names, sample_weight, count)
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
            # What the training arrays hold, as a run records it: exported with the model,
            # it flags predictions of a combination never seen in training.
            self.training_combinations = count_combinations(y, self.task_names)
            needs_fresh = self.adversaries and self.adversary_steps and self.adversary_batches == "fresh"
            if self.compiled_method is not None:
                x, kwargs["steps_per_epoch"] = self._method_batches(x, y, sample_weight, post_fit_batch, epochs,
                                                                    shuffle, seed, kwargs)
                training_arrays = (images, y)
                y, batch_size = None, None
            elif needs_fresh:
                if sample_weight is not None:
                    raise ValueError("sample_weight: with adversary_batches='fresh' and arrays, build the "
                                     "dataset yourself (make_training_dataset) or compile with "
                                     "adversary_batches='same'")
                labelled = LabelledImages(images=x, labels=y)
                x = make_training_dataset(labelled, batch_size=batch_size or 32,
                                          adversary_steps=self.adversary_steps, flip=False,
                                          shuffle=shuffle, seed=seed)
                y, batch_size = None, None
        if isinstance(x, tf.data.Dataset):
            shuffle = False  # a dataset carries its own shuffling
        post_fit = self._post_fit_steps(post_fit_data, training_arrays, post_fit_batch, seed)
        if post_fit:  # last, so that they see the weights the other callbacks leave
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or ()), *post_fit]
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
                           sample_weight=sample_weight, validation_data=validation_data, **kwargs)

    def _method_batches(self, images, labels, sample_weight, batch_size, epochs, shuffle, seed, kwargs):
        """The training dataset of arrays for a model compiled with a method, and its steps per
        epoch: what :func:`disentangle_tf.run.training.run` feeds a run of that method."""
        if sample_weight is not None:
            raise ValueError("sample_weight: a model compiled with a method draws its batches from arrays as a run "
                             "does, without weights; use class_weight, or a dataset of (images, labels, "
                             "sample_weight)")
        if kwargs.get("steps_per_epoch") is not None:
            raise ValueError("steps_per_epoch: a model compiled with a method trains on arrays for len(x) // "
                             "batch_size steps per epoch; leave steps_per_epoch out")
        labelled = LabelledImages(images=images, labels=labels)
        fresh = self.adversaries and self.adversary_steps and self.adversary_batches == "fresh"
        dataset = make_training_dataset(
            labelled, batch_size=batch_size, adversary_steps=self.adversary_steps if fresh else 0, flip=True,
            shuffle=shuffle, seed=seed, device="auto" if model_strategy(self) is None else None,
            epochs=epochs, initial_epoch=kwargs.get("initial_epoch", 0), sampling=self.sampling,
            mixup=self.mixup, mixup_partners=self.mixup_partners)
        return dataset, steps_per_epoch(labelled, batch_size)

    def _post_fit_steps(self, data, training_arrays, batch_size, seed) -> list:
        """The callbacks of the method's steps after training, on ``data`` = ``(images, labels)``
        (by default ``training_arrays``, the arrays ``fit`` trains on; None for a dataset)."""
        method = self.compiled_method
        if method is None or not (self.precise_batch_norm_batches or self.last_layer_retraining):
            if data is not None:
                raise ValueError("post_fit_data: the model was compiled without steps after training (they come "
                                 "with a method: compile(method='recommended'))")
            return []
        data = training_arrays if data is None else data
        if data is None:
            raise ValueError(f"post_fit_data: method {method['name']!r} recomputes batch-norm statistics and / or "
                             "refits the last layers on the training images after training; with a dataset pass "
                             "post_fit_data=(images, labels), or fit on arrays")
        images, labels = data
        images = np.asarray(images) if not hasattr(images, "shape") else images
        if len(images.shape) != 4:
            raise ValueError(f"post_fit_data: expected images of shape (N, H, W, C); got shape {images.shape}")
        self._check_images_shape(images.shape[1:])
        return post_fit_callbacks(self, images, self._checked_labels(labels, len(images)), batch_size, seed)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras draws a batch here, under a strategy, to build the model and compiled
        # metrics symbolically; it reduces the distributed batch first, which fails
        # under MultiWorkerMirroredStrategy. This model and its metric trackers are
        # built at construction, so no batch is needed.
        if model_strategy(self) is None:
            return
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)


def _fixed_batch_size(dataset) -> int | None:
    """The batch size of a training dataset's elements if it is fixed (static), else None."""
    spec = dataset.element_spec
    main = spec[0] if isinstance(spec, tuple) and isinstance(spec[0], tuple) else spec
    images = main[0] if isinstance(main, tuple) else main
    shape = getattr(images, "shape", None)
    return int(shape[0]) if shape is not None and shape.rank and shape[0] is not None else None
