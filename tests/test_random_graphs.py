"""The random-graph differential fuzzer's seeded slice: random functional and Sequential models match Keras.

Hypothesis draws each graph's decisions (tests/random_graphs.py), so a failure shrinks to a
small graph, printed step by step. Each graph is saved in every format its Keras writes,
converted, built in both input layouts and exported, and compared with Keras
(tests/graph_fuzz.py). The long run is `sweeps/random_graphs.py` (figures in the README).
"""
from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_fuzz import run_graph
from random_choices import DrawChooser
from random_graphs import generate_time_distributed

OUTCOMES: dict[str, collections.Counter[str]] = {"keras3": collections.Counter(), "keras2": collections.Counter()}
SEQUENTIAL_MATCHED: collections.Counter[str] = collections.Counter()


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_random_graphs_match_keras(tmp_path, writer):
    outcomes = OUTCOMES[writer]

    @settings(max_examples=100, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        outcome = run_graph(DrawChooser(data), writer, tmp_path, max_steps=6)
        outcomes[outcome.status] += 1
        if outcome.status == "matched" and "as a Sequential" in outcome.description:
            SEQUENTIAL_MATCHED[writer] += 1
        assert not outcome.failed, f"{outcome.status}: {outcome.reason}\n{outcome.description}"

    check()
    # the slice proves something only when most graphs are really compared, Sequential models among them
    assert outcomes["matched"] >= 0.7 * sum(outcomes.values()), dict(outcomes)
    assert SEQUENTIAL_MATCHED[writer] >= 5, dict(SEQUENTIAL_MATCHED)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_random_models_per_time_step_match_keras(tmp_path, writer):
    """TimeDistributed of a random small model (dense, convolution, normalization, elementwise steps on a
    vector or an image), read as that model and built with time folded into the batch."""
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=30, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        outcome = run_graph(DrawChooser(data), writer, tmp_path, generator=generate_time_distributed)
        outcomes[outcome.status] += 1
        assert not outcome.failed, f"{outcome.status}: {outcome.reason}\n{outcome.description}"

    check()
    assert outcomes["matched"] >= 0.7 * sum(outcomes.values()), dict(outcomes)
