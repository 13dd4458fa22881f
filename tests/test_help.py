"""``--help`` states each default's value, including those the method decides."""

from __future__ import annotations

from click.testing import CliRunner


def _help(main, flag="--help") -> str:
    result = CliRunner().invoke(main, [flag], terminal_width=100)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_train_help_gives_the_values_of_the_method_decided_defaults():
    from disentangle_tf.cli.train import main

    text = _help(main, "--help-all")
    assert "the method's" not in text
    # The default method's settings are the recommended setting's; where the paper's method differs, both are given.
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


def test_train_help_shows_at_most_25_options_and_help_all_every_one_each_still_accepted(monkeypatch):
    import click

    from disentangle_tf.cli import train

    def listed(flag):
        result = CliRunner().invoke(train.main, [flag], terminal_width=100)
        assert result.exit_code == 0, result.output
        return [line.split()[0].rstrip(",") for line in result.output.splitlines() if line.startswith("  -")]

    shown, every = listed("--help"), listed("--help-all")
    assert len(shown) <= 25 and "--set" in shown and "--help-all" in shown
    options = [p for p in train.main.params if isinstance(p, click.Option)]
    assert len(every) == len(options) + 1  # and --help
    # A hidden option is still an option: it reaches the configuration.
    seen = {}

    def stand_in(config_file, options, method, set_options=()):
        seen.update(options)
        raise SystemExit(0)

    monkeypatch.setattr(train, "resolve_config_and_given", stand_in)
    result = CliRunner().invoke(train.main, ["--adversary-steps", "3", "--no-flip"])
    assert result.exit_code == 0, result.output
    assert seen["adversary_steps"] == 3 and seen["flip"] is False

