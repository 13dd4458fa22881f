"""The rows of a candidate under comparison are no method to choose, and reproduce runs each
with the settings its protocol fixes: the ``long`` rows train every model, the held-out
ones of ``selected long`` included, up to 45 epochs with the best validation epoch kept."""

from __future__ import annotations

import pytest

from disentangle_tf.experiments.candidates import CANDIDATE_METHODS
from disentangle_tf.experiments.reproduce import resolve_methods
from disentangle_tf.models.methods import METHODS, model_methods
from disentangle_tf.errors import UserError

from test_former_methods import NEUTRAL_VALUES

#: Written out here as experiments/protocols/generalisation-5.md fixes them, not read from the
#: package, so that a change to the recommended setting cannot change what the rows train.
LONG = {"epochs": 45, "restore_best_weights": True}
RECOMMENDED_AS_FIXED = {"independence_weight": 10.0, "independence_layers": "block_maps", "sampling": "group_balanced",
                        "precise_batch_norm": 30, "last_layer_retraining": True}


def test_the_candidate_rows_are_no_method_to_choose():
    from disentangle_tf.cli.train import main

    assert set(CANDIDATE_METHODS) == {"lambda=0 precise-bn long", "selected long", "oracle long", "lambda=0 mixup",
                                      "lambda=0 mixup across"}
    method_option = next(p for p in main.params if p.name == "method")
    for name in CANDIDATE_METHODS:
        assert name not in METHODS and name not in model_methods() and name not in method_option.type.choices


@pytest.mark.parametrize("dataset", ["digits-shadow", "us-sim"])
def test_reproduce_resolves_the_long_rows_to_up_to_45_epochs_with_the_best_epoch_kept(dataset):
    reference, selected, oracle = resolve_methods(dataset, ["lambda=0 precise-bn long", "selected long",
                                                            "oracle long"])
    assert reference.grid() == [{**NEUTRAL_VALUES, "precise_batch_norm": 30, **LONG}]
    assert not reference.oracle and oracle.oracle
    assert oracle.grid() == reference.grid()
    # Two points, every training of each (the held-out ones are made from these settings) long.
    assert selected.selection == "held-out-combination"
    assert selected.grid() == [
        {**NEUTRAL_VALUES, **RECOMMENDED_AS_FIXED, **LONG, "independence_weight": 0.0,
         "independence_layers": "features"},
        {**NEUTRAL_VALUES, **RECOMMENDED_AS_FIXED, **LONG, "independence_weight": 2.0,
         "independence_layers": "block_maps"},
    ]


@pytest.mark.parametrize("dataset", ["digits-shadow", "us-sim"])
def test_reproduce_resolves_the_mixup_rows_to_lambda_0_with_the_protocol_s_mixup(dataset):
    # Written out as experiments/protocols/generalisation-6.md fixes them.
    plain, across = resolve_methods(dataset, ["lambda=0 mixup", "lambda=0 mixup across"])
    assert plain.grid() == [{**NEUTRAL_VALUES, "precise_batch_norm": 30, "mixup": 0.4, "mixup_partners": "any"}]
    assert across.grid() == [{**NEUTRAL_VALUES, "precise_batch_norm": 30, "mixup": 1.0,
                              "mixup_partners": "other_combination"}]
    assert not plain.oracle and not across.oracle and not plain.selection and not across.selection


def test_an_unknown_row_names_the_candidates_among_the_choices():
    with pytest.raises(UserError) as info:
        resolve_methods("digits-shadow", ["selected longer"])
    message = str(info.value)
    assert "unknown method 'selected longer'" in message and "'selected long'" not in message
    assert ("disentangle_tf.experiments.candidates: lambda=0 precise-bn long, selected long, oracle long, "
            "lambda=0 mixup, lambda=0 mixup across") in message
    assert len(message.splitlines()) == 1


def test_reproduce_help_lists_the_candidate_rows():
    from click.testing import CliRunner

    from disentangle_tf.cli.reproduce import main

    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert ("or a candidate's: lambda=0 precise-bn long, selected long, oracle long, lambda=0 mixup, "
            "lambda=0 mixup across.") in text
