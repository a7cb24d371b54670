"""No rule ships untested: every registered layer kind is in a fixture checked against Keras."""
from __future__ import annotations

import converter
from helpers import fixture
from test_outputs_match_keras import CASES


def test_every_rule_is_covered_by_a_keras_comparison():
    covered: set[str] = set()
    for source, *_ in CASES:
        with converter.read(fixture(source)) as graph:
            covered |= {layer.class_name for layer in graph.walk() if layer.tensors}
    assert set(converter.RULES) <= covered, f"rules without a Keras comparison: {set(converter.RULES) - covered}"


def test_every_permutation_writes_both_shapes():
    for (source, target), permutation in converter.PERMUTATIONS.items():
        assert permutation.source is source and permutation.target is target
        assert permutation.source_shape.count(",") + 1 == len(permutation.axes)
        assert permutation.target_shape.count(",") + 1 == len(permutation.axes)
        assert sorted(permutation.axes) == list(range(len(permutation.axes)))
