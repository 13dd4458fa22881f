"""TaskSpec's class labels: its class names, or the class indices as text."""

from disentangle_tf.task_spec import TaskSpec


def test_class_labels_are_the_names_or_the_indices():
    assert TaskSpec("shape", 2, class_names=("circle", "rectangle")).class_labels == ("circle", "rectangle")
    assert TaskSpec("plane", 3).class_labels == ("0", "1", "2")
