"""``--help`` states each default's value, including those the method decides."""

from __future__ import annotations

from click.testing import CliRunner


def _help(main) -> str:
    result = CliRunner().invoke(main, ["--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_train_help_gives_the_values_of_the_method_decided_defaults():
    from disentangle_tf.cli.train import main

    text = _help(main)
    assert "the method's" not in text
    # The default method is the recommended setting; where the paper's method differs, both are given.
    assert "lambda of Eq. 1. [default: 0; --method paper: 0.01]" in text
    assert "reuse the main batch. [default: same; --method paper: fresh]" in text
    assert "(0: off, the paper). [default: 10; --method paper: 0]" in text
    assert "or both (block_pyramid). [default: block_maps; --method paper: features]" in text
    assert "the final weights (0: off). [default: 30; --method paper: 0]" in text
    assert "(class-balanced logistic regression). [default: on; --method paper: off]" in text
    assert "Adversary updates per main update. [default: 5]" in text  # the same under both


def test_reproduce_help_says_why_its_scale_differs_from_train():
    from disentangle_tf.cli.reproduce import main

    text = _help(main)
    assert "[default: 1, the paper's size for its table; the train command's default, 0.5" in text
    assert "hdf5" in text.split("Options:")[0]
