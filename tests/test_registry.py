"""No rule ships untested: every registered layer kind has a test against Keras."""
from __future__ import annotations

import re

import converter
import converter.kinds
from helpers import ROOT, fixture
from test_outputs_match_keras import CASES


def test_every_rule_is_built_in_keras_by_a_layer_test():
    """Each registered class is built as `keras.layers.<Class>` or named in a test of tests/layers/."""
    sources = "\n".join(path.read_text() for path in (ROOT / "tests" / "layers").glob("test_*.py"))
    sources += "\n".join((ROOT / "tests" / name).read_text() for name in (
        "test_applications.py", "kind_cases.py", "more_kind_cases.py", "case_builders.py", "operation_cases.py"))
    # TensorFlow Addons' layers: built by the TensorFlow that ran tfa, with outputs tests/test_tf_addons.py compares
    sources += (ROOT / "fixtures" / "make_tf_addons.py").read_text()
    untested = [kind.class_name for kind in converter.kinds.distinct() if kind.weighted
                and not re.search(rf"(layers\.{kind.class_name}\(|[\"']{kind.class_name}[\"'])", sources)]
    assert not untested, f"rules without a test against Keras: {untested}"


def test_every_rule_records_what_its_tests_cover():
    for kind in converter.kinds.distinct():
        assert kind.tested and kind.description, kind.name


def test_dense_is_covered_by_the_fixture_comparisons():
    covered: set[str] = set()
    for source, *_ in CASES:
        with converter.read(fixture(source)) as graph:
            covered |= {layer.class_name for layer in graph.walk() if layer.tensors}
    assert "Dense" in covered


def test_every_permutation_writes_both_shapes():
    for (source, target), permutation in converter.PERMUTATIONS.items():
        assert permutation.source is source and permutation.target is target
        assert permutation.source_shape.count(",") + 1 == len(permutation.axes)
        assert permutation.target_shape.count(",") + 1 == len(permutation.axes)
        assert sorted(permutation.axes) == list(range(len(permutation.axes)))
