"""Per-class scores of one task (disentangle_tf.evaluation.scores), their figures and TensorBoard scalars.

Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_tf.evaluation.scores import classification_scores

NAMES = ("a", "b", "c")
# Row 5 has no label (-1): it must change nothing, whatever its probabilities.
LABELS = np.array([0, 0, 1, 1, 2, -1])
PROBABILITIES = np.array([
    [0.80, 0.10, 0.10],  # a, predicted a (right), confidence 0.80
    [0.30, 0.65, 0.05],  # a, predicted b (wrong), confidence 0.65
    [0.20, 0.75, 0.05],  # b, predicted b (right), confidence 0.75
    [0.10, 0.15, 0.75],  # b, predicted c (wrong), confidence 0.75
    [0.05, 0.10, 0.85],  # c, predicted c (right), confidence 0.85
    [0.05, 0.05, 0.90],  # missing label
])


def test_scores_of_a_tiny_case_worked_out_by_hand():
    scores = classification_scores(LABELS, PROBABILITIES, NAMES)
    assert scores["images"] == 5
    assert scores["accuracy"] == pytest.approx(3 / 5)
    # Recall: a 1 of 2, b 1 of 2, c 1 of 1; balanced accuracy their mean.
    assert scores["class_accuracy"] == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    assert scores["balanced_accuracy"] == pytest.approx(2 / 3)
    assert scores["support"] == {"a": 2, "b": 2, "c": 1}
    assert scores["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    # One-vs-rest AUC: the fraction of (positive, negative) pairs ranked right.
    # a: positives 0.80, 0.30 against negatives 0.20, 0.10, 0.05: all 6 pairs right.
    # b: positives 0.75, 0.15 against 0.10, 0.65, 0.10: 0.75 beats all 3, 0.15 beats two.
    # c: positive 0.85 against 0.10, 0.05, 0.05, 0.75: all 4 right.
    assert scores["roc_auc"] == pytest.approx({"a": 1.0, "b": 5 / 6, "c": 1.0})
    assert scores["roc_auc_mean"] == pytest.approx((1 + 5 / 6 + 1) / 3)
    # Confidence bins of width 0.1: (0.6, 0.7] holds 0.65 (wrong); (0.7, 0.8] holds
    # 0.80 (right), 0.75 (right) and 0.75 (wrong); (0.8, 0.9] holds 0.85 (right).
    reliability = scores["reliability"]
    assert reliability["bins"] == 10
    assert reliability["images"] == [1, 3, 1]
    assert reliability["accuracy"] == pytest.approx([0.0, 2 / 3, 1.0])
    assert reliability["confidence"] == pytest.approx([0.65, (0.80 + 0.75 + 0.75) / 3, 0.85])
    ece = (1 * abs(0 - 0.65) + 3 * abs(2 / 3 - 2.30 / 3) + 1 * abs(1 - 0.85)) / 5
    assert scores["expected_calibration_error"] == pytest.approx(ece)


def test_a_missing_label_changes_no_score_whatever_its_prediction():
    other = PROBABILITIES.copy()
    other[5] = [0.9, 0.05, 0.05]
    assert classification_scores(LABELS, other, NAMES) == classification_scores(LABELS, PROBABILITIES, NAMES)
    assert classification_scores(LABELS[:5], PROBABILITIES[:5], NAMES) == classification_scores(
        LABELS, PROBABILITIES, NAMES)


def test_an_absent_class_has_no_accuracy_and_no_auc_and_balanced_accuracy_skips_it():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]])
    scores = classification_scores(labels, probabilities, NAMES)
    assert scores["class_accuracy"] == {"a": 0.5, "b": 1.0, "c": None}
    assert scores["balanced_accuracy"] == pytest.approx(0.75)  # (0.5 + 1) / 2: 'c' is not a class here
    assert scores["roc_auc"]["c"] is None
    assert scores["support"]["c"] == 0
    assert scores["confusion_matrix"][0] == [1, 0, 1]


def test_a_class_that_is_every_labelled_row_has_no_auc():
    scores = classification_scores(np.array([1, 1, -1]), np.array([[0.4, 0.6], [0.7, 0.3], [0.5, 0.5]]), ("x", "y"))
    assert scores["roc_auc"] == {"x": None, "y": None}
    assert scores["roc_auc_mean"] is None
    assert scores["class_accuracy"] == {"x": None, "y": 0.5}


def test_no_labelled_row_gives_none():
    assert classification_scores(np.array([-1, -1]), np.full((2, 2), 0.5), ("x", "y")) is None
    assert classification_scores(np.zeros(0, np.int64), np.zeros((0, 2)), ("x", "y")) is None


@pytest.mark.parametrize("labels, probabilities, message", [
    (np.array([0, 1]), np.full((2, 3), 1 / 3), "expected shape (2, 2)"),
    (np.array([0, 2]), np.full((2, 2), 0.5), "class indices must be in [0, 2) or -1"),
    (np.array([0, -2]), np.full((2, 2), 0.5), "found -2..0"),
    (np.array([0.0, 1.0]), np.full((2, 2), 0.5), "integer class indices"),
    (np.array([0, 1]), np.array([[1.5, -0.5], [0.5, 0.5]]), "finite values in [0, 1]"),
])
def test_bad_input_is_refused_in_one_line(labels, probabilities, message):
    with pytest.raises(ValueError) as error:
        classification_scores(labels, probabilities, ("x", "y"))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_write_evaluation_draws_every_scored_task_and_nothing_else(tmp_path):
    from disentangle_tf.evaluation.evaluate import write_evaluation

    scores = classification_scores(LABELS, PROBABILITIES, NAMES)
    metrics = {
        "test seen": {"scores": {"plane": scores, "shadow": None}},
        "others": {"scores": {"plane": None}},
    }
    written = write_evaluation(metrics, tmp_path / "run")
    figures = tmp_path / "run" / "figures"
    assert written == [figures / "confusion_test_seen_plane.png", figures / "reliability_test_seen_plane.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in figures.iterdir()) == sorted(p.name for p in written)
    # The scores are in metrics.json and TensorBoard's table of final results, not one chart each.
    assert not (tmp_path / "run" / "logs").exists()
