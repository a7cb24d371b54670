"""Property-based checks of the config checks and the generated source (hypothesis).

Whatever a config holds (wrong types, zero or negative sizes, unknown modes, strings of
code, names Python reserves), reading, converting and writing a model's source either
stops with a `ConverterError` or gives source that compiles and in which no value from
the file is code: the sentinel name planted in every string never appears as a name.
"""
from __future__ import annotations

import ast
import keyword
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.convert import convert_graph
from converter.errors import ConverterError
from converter.graph import BFLOAT16, ModelGraph, Tensor
from converter.kinds import KINDS, lookup, tag_graph
from converter.kinds.tf_ops import FUNCTIONS
from converter.readers.keras_config import parse_model
from converter.source import RESERVED, Namer, literal
from converter.torch_build import model_source, raised_by_torch

LAYER_CLASSES = sorted({name.rsplit(".", 1)[1] for name in KINDS if name.startswith("keras.layers.")})

SENTINEL = "pwned_sentinel"
PAYLOADS = [f"{SENTINEL}()", f"1); {SENTINEL}(", f'"""\n{SENTINEL}()\n"""', f"x = {SENTINEL}", "forward", "class",
            "self", "F", "torch", "None", "__init__", "_modules", "1st", "a-b", "a b", ""]
FIELDS = ["units", "filters", "kernel_size", "strides", "dilation_rate", "padding", "data_format", "axis",
          "activation", "use_bias", "epsilon", "momentum", "groups", "pool_size", "size", "interpolation",
          "cropping", "target_shape", "dims", "n", "rate", "max_value", "negative_slope", "threshold", "alpha",
          "theta", "scale", "offset", "center", "mean", "variance", "mask_zero", "mask_value", "keepdims",
          "return_sequences", "return_state", "go_backwards", "reset_after", "merge_mode", "num_heads", "key_dim",
          "output_padding", "depth_multiplier", "input_dim", "output_dim", "layer", "axes", "normalize",
          "recurrent_activation", "invert", "rms_scaling", "use_causal_mask", "equation", "bias_axes"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 9), st.sampled_from([2 ** 40, -2 ** 63]),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(PAYLOADS),
                    st.sampled_from(["same", "valid", "causal", "full", "channels_first", "channels_last", "relu",
                                     "tanh", "linear", "concat", "bilinear", "nearest"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(["class_name", "config",
                                                                                        "name", "module"]),
                                                                       inner, max_size=3)), max_leaves=8)
configs = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
names = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=12))


def layer_entry(class_name: str, name: str, config: dict, inbound: str) -> dict:
    history = {"class_name": "__keras_tensor__", "config": {"keras_history": [inbound, 0, 0]}}
    # its module, as Keras 3 writes it: an entry without one whose config lacks `trainable` is read as an operation
    # that Keras 3's legacy .h5 writer saved (refused by name), which left most drawn configs untried
    return {"module": "keras.layers", "class_name": class_name, "name": name, "config": {**config, "name": name},
            "inbound_nodes": [{"args": [history], "kwargs": {}}]}


def model_config(class_name: str, name: str, config: dict, shape: list[int], model_name: str) -> dict:
    input_name = "x" if name != "x" else "input"
    layers = [{"class_name": "InputLayer", "name": input_name, "inbound_nodes": [],
               "config": {"name": input_name, "batch_shape": [None] + shape, "dtype": "float32"}},
              layer_entry(class_name, name, config, input_name)]
    return {"class_name": "Functional", "config": {"name": model_name, "layers": layers,
                                                   "input_layers": [input_name, 0, 0],
                                                   "output_layers": [name, 0, 0]}}


def graph_of(model: dict, source: str = "<test>") -> ModelGraph:
    """The graph of a Keras 3 model config, as a `.keras` archive of Keras 3.15 would give it."""
    root, inputs = parse_model(model, "<h>")
    return ModelGraph(layers=root.children or [], source=source, format="keras-archive", keras_version="3.15.1",
                      inputs=inputs, root=root)


def attach_tensors(graph: ModelGraph, data: st.DataObject) -> None:
    """Tensors of random small shapes for what the rule expects: consistent or not."""
    for layer in graph.walk():
        found = lookup(layer)
        if found is None or found.variables is None:
            continue
        try:
            variables = found.variables(layer.config)
        except ConverterError:
            return
        for variable in variables:
            shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
            array = np.random.default_rng(0).normal(size=shape).astype(np.float32)
            layer.tensors.append(Tensor(variable.store_path, shape, "float32", f"<hypothesis>/{variable.store_path}",
                                        lambda array=array: array))


def assert_safe(generated: Any) -> None:
    """The source compiles, no value from the file is code in it, and its module is made: torch may refuse
    arguments that contradict each other (build_module says so by name), nothing else may stop it (a ragged
    constant stopped torch.tensor with a TypeError, `3.flatten()` with an AttributeError)."""
    tree = ast.parse(generated.source)  # it compiles
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id != SENTINEL, "a value from the file became code"
        if isinstance(node, ast.Attribute):
            assert node.attr != SENTINEL, "a value from the file became code"
    namespace: dict[str, Any] = {"__name__": "weightport_generated"}
    exec(compile(generated.source, "<generated>", "exec"), namespace)  # noqa: S102 (checked above: our own text)
    try:
        namespace[generated.root]()
    except (RuntimeError, ValueError) as error:
        if not raised_by_torch(error):
            raise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(class_name=st.sampled_from(LAYER_CLASSES), name=names, config=configs,
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), model_name=names, data=st.data())
def test_any_config_is_refused_or_gives_safe_source(class_name, name, config, shape, model_name, data):
    try:
        graph = graph_of(model_config(class_name, name or "layer", config, shape, model_name), "<hypothesis>")
        attach_tensors(graph, data)
        tag_graph(graph)
        generated = model_source(graph, convert_graph(graph), data.draw(st.sampled_from(["torch", "keras"])))
    except ConverterError:
        return
    assert_safe(generated)


@pytest.mark.parametrize("dims", [[None, 1], [1, "2"], [2, True], [[1], 2]])
def test_a_permutation_of_other_than_axis_numbers_is_refused(dims):
    """Found by mutating saved configs (a None among Permute's dims): sorting them raised a TypeError, a bug."""
    graph = graph_of(model_config("Permute", "permute", {"dims": dims}, [3, 4], "model"))
    tag_graph(graph)
    with pytest.raises(ConverterError, match="dims"):
        model_source(graph, convert_graph(graph), "torch")


def test_names_the_generated_file_defines_are_reserved():
    """Every name a generated model file defines at its top level (its imports, the runtime helpers and the
    padding functions copied beside them, export's loader) is reserved: a model or nested model named after one
    (`einsum_dense` -> class EinsumDense) would otherwise replace it, and the module would fail or compute
    otherwise."""
    import inspect

    from converter import modeling, padding
    from converter.torch_build import _HEADER, runtime, runtime_dtypes, runtime_modules, runtime_recurrent

    source = "\n".join([_HEADER, inspect.getsource(runtime), inspect.getsource(runtime_dtypes),
                        inspect.getsource(runtime_recurrent),
                        inspect.getsource(runtime_modules),
                        inspect.getsource(padding),
                        modeling._LOADER.format(root="Model", weights="''")])
    defined = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0
                                              and node.module != "__future__"):  # not weightport's own modules
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    defined.discard("Model")
    assert defined - RESERVED == set()


@given(st.lists(st.text(max_size=20), max_size=20))
def test_namer_gives_unique_safe_identifiers(texts):
    namer = Namer()
    made = [namer.name(text) for text in texts]
    assert len(set(made)) == len(made)
    for name in made:
        assert name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
        assert name not in RESERVED and not name.startswith("_")


literals = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                        lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple)),
                        max_leaves=10)


@given(literals)
def test_literals_are_constants(value):
    tree = ast.parse(literal(value), mode="eval")
    allowed = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Load, ast.UnaryOp, ast.USub, ast.Call, ast.Name)
    for node in ast.walk(tree):
        assert isinstance(node, allowed), ast.dump(node)
        if isinstance(node, ast.Call):  # float('inf') / float('nan') only
            assert isinstance(node.func, ast.Name) and node.func.id == "float"
        if isinstance(node, ast.Name):
            assert node.id == "float"


def test_literal_refuses_other_types():
    for value in ({"a": 1}, {1, 2}, object(), b"bytes", BFLOAT16.encode()):
        try:
            literal(value)
        except ConverterError:
            continue
        raise AssertionError(f"literal accepted {value!r}")


def test_a_graph_whose_calls_read_each_other_is_refused():
    """Found by mutating saved configs (a layer's input renamed to a later layer): ordering a Keras 3.8+ graph's
    calls walked the cycle forever, its stack growing until the machine's memory ran out."""
    import signal

    config = model_config("ReLU", "first", {}, [3], "model")
    config["config"]["layers"][1] = layer_entry("ReLU", "first", {}, "second")  # reads second, which reads first
    config["config"]["layers"].append(layer_entry("ReLU", "second", {}, "first"))
    config["config"]["output_layers"] = ["second", 0, 0]
    graph = graph_of(config)
    tag_graph(graph)

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError("ordering the calls did not end")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    try:
        with pytest.raises(ConverterError, match="cannot be ordered"):
            model_source(graph, convert_graph(graph), "torch")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


OPERATION_KINDS = sorted(name for name in KINDS if name.startswith("keras.ops."))
OPERATION_FIELDS = ["axis", "keepdims", "dtype", "newshape", "axes", "subscripts", "x_min", "x_max", "num_classes",
                    "initial", "decimals", "repeats", "k", "order", "ord", "size", "interpolation", "approximate",
                    "negative_slope", "alpha", "nan", "posinf", "neginf", "pad_width", "mode", "source",
                    "destination", "axis1", "axis2", "sparse", "ragged", "data_format", "indices_or_sections", "shift",
                    "n"]
operation_configs = st.dictionaries(st.sampled_from(OPERATION_FIELDS), values, max_size=5)


def operation_source(kind: str, name: str, config: dict, shape: list[int], operands: list, layout: str) -> Any:
    """The generated source (GeneratedModel) of a model of one Keras 3 operation (keras.ops.*) on an Input, with
    `config` and constant operands after its tensor."""
    module, class_name = "keras.src." + kind[len("keras."):].rsplit(".", 1)[0], kind.rsplit(".", 1)[1]
    entry = layer_entry(class_name, name, config, "x" if name != "x" else "input")
    entry["module"] = module
    entry["config"] = {key: value for key, value in entry["config"].items() if key != "name"}
    entry["inbound_nodes"][0]["args"] += operands
    model = model_config("Dense", name, {}, shape, "model")
    model["config"]["layers"][1] = entry
    graph = graph_of(model, "<hypothesis>")
    tag_graph(graph)
    return model_source(graph, convert_graph(graph), layout)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(OPERATION_KINDS), name=names, config=operation_configs,
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), operands=st.lists(values, max_size=2),
       data=st.data())
def test_any_operation_config_is_refused_or_gives_safe_source(kind, name, config, shape, operands, data):
    """A Keras 3 operation (keras.ops.*) with any config and constant operands after its tensor: refused with a
    ConverterError or safe source. An index of [] gave source that did not compile (`x[]`)."""
    try:
        generated = operation_source(kind, name or "op", config, shape, operands,
                                  data.draw(st.sampled_from(["torch", "keras"])))
    except ConverterError:
        return
    assert_safe(generated)


@pytest.mark.parametrize("kind,config,operands", [
    ("keras.ops.numpy.ZerosLike", {"dtype": []}, []), ("keras.ops.numpy.FullLike", {"dtype": ["int32"]}, [1.0]),
    ("keras.ops.nn.OneHot", {"num_classes": 3, "dtype": [1]}, []),
    ("keras.ops.numpy.Add", {}, [{"class_name": "__numpy__", "config": {"value": [1.0, 2.0], "dtype": {}}}])])
def test_a_dtype_of_other_than_a_name_is_refused_by_name(kind, config, operands):
    """A crafted dtype (a list, a dict) where a config names one: it stopped with "unhashable type: 'list'"
    (a mutated config of a saved model)."""
    with pytest.raises(ConverterError, match="dtype"):
        operation_source(kind, "op", config, [2], operands, "torch")


@pytest.mark.parametrize("kind,config,message", [
    ("keras.ops.numpy.Round", {"decimals": 400}, "400 decimals"), ("keras.ops.numpy.Round", {"decimals": 2 ** 40},
                                                                     "decimals"),
    ("keras.ops.numpy.ExpandDims", {"axis": list(range(5000))}, "more than 32"),
    ("keras.ops.numpy.Roll", {"shift": 1, "axis": 99}, r"axes \[99\] of a rank-2"),
    ("keras.ops.numpy.Diff", {"n": 1, "axis": 7}, "axes"), ("keras.ops.numpy.CountNonzero", {"axis": [5]}, "axes"),
    ("keras.ops.numpy.Cumprod", {"axis": -9}, "axes"), ("keras.ops.numpy.Rot90", {"k": 1, "axes": [1, -1]}, "rot90"),
    ("keras.ops.numpy.Diagonal", {"axis1": 0, "axis2": 7}, "axes"),
    ("keras.ops.nn.Moments", {"axes": [1, -1]}, "moments")])
def test_a_crafted_operation_config_is_refused_by_name(kind, config, message):
    """Mutated configs of saved models: round's 10.0 ** 400 overflowed (OverflowError, exit 70), 5000 axes gave source
    Python could not compile (RecursionError), and an axis the tensor lacks built a module that stopped when it ran."""
    with pytest.raises(ConverterError, match=message):
        operation_source(kind, "op", config, [2], [], "torch")


@pytest.mark.parametrize("kind,operands", [
    ("keras.ops.numpy.Add", [{"class_name": "__numpy__",
                              "config": {"value": [[1.0, 2.0], [3.0]], "dtype": "float32"}}]),
    ("keras.ops.numpy.Multiply", [[[1.0], [2.0, 3.0]]])])
def test_a_ragged_array_operand_is_refused_by_name(kind, operands):
    """A constant operand of lists of unequal lengths (a mutated config) built a module whose torch.tensor stopped
    ("expected sequence of length 2 at dim 1")."""
    with pytest.raises(ConverterError, match="array of numbers"):
        operation_source(kind, "op", {}, [2], operands, "torch")


@pytest.mark.parametrize("class_name,config", [
    ("Normalization", {"axis": -1, "mean": [[0.5], 1.0, [2.0]], "variance": [1.0, 4.0, 0.25]}),
    ("Normalization", {"axis": -1, "mean": [0.5, 1.0, 2.0], "variance": [[1.0, 4.0], [0.25]]}),
    ("Rescaling", {"scale": [[1.0], [2.0, 3.0]], "offset": 0.0})])
def test_a_ragged_constant_in_a_layer_config_is_refused_by_name(class_name, config):
    """A mean, variance or scale of lists of unequal lengths (found by fuzz/fuzz_readers.py, a mutated .keras):
    the module's torch.tensor stopped with "TypeError: not a sequence" when it was made."""
    graph = graph_of(model_config(class_name, "layer", config, [3], "model"), "<crafted>")
    tag_graph(graph)
    with pytest.raises(ConverterError, match="nested lists of one shape"):
        model_source(graph, convert_graph(graph), "torch")


def test_a_layer_called_with_no_tensor_as_its_first_argument_is_refused_by_name():
    """A Softmax whose input's record is damaged (its class_name not __keras_tensor__), called with a mask by keyword
    (found by fuzz/fuzz_readers.py): its rule read a first input there was not ("IndexError: list index out of
    range")."""
    entry = layer_entry("Softmax", "layer", {}, "x")
    history = entry["inbound_nodes"][0]["args"][0]
    entry["inbound_nodes"][0] = {"args": [{**history, "class_name": []}], "kwargs": {"mask": history}}
    model = model_config("Softmax", "layer", {}, [3], "model")
    model["config"]["layers"][1] = entry
    graph = graph_of(model, "<crafted>")
    tag_graph(graph)
    with pytest.raises(ConverterError, match="no tensor as its first argument"):
        model_source(graph, convert_graph(graph), "torch")


def test_a_lookup_of_a_trillion_out_of_vocabulary_indices_is_refused_by_name():
    """num_oov_indices of 10**12 (a mutated config): listing the OOV tokens before the vocabulary ran out of
    memory (MemoryError)."""
    config = {"num_oov_indices": 10 ** 12, "output_mode": "int", "mask_token": None}  # its vocabulary an asset
    graph = graph_of(model_config("IntegerLookup", "layer", config, [3], "model"), "<crafted>")
    with pytest.raises(ConverterError, match="num_oov_indices"):
        tag_graph(graph)
        model_source(graph, convert_graph(graph), "torch")


def tf_operation_source(function: str, kwargs: dict, shape: list[int], layout: str) -> Any:
    """The generated source of a tf.keras model of one TensorFlow function (a TFOpLambda, or a SlicingOpLambda
    for `__operators__.getitem`) on an Input, called with `kwargs` after its tensor."""
    kind = "SlicingOpLambda" if function == "__operators__.getitem" else "TFOpLambda"
    layers = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
               "config": {"name": "x", "batch_input_shape": [None] + shape, "dtype": "float32"}},
              {"class_name": kind, "name": "op", "inbound_nodes": [[["x", 0, 0, kwargs]]],
               "config": {"name": "op", "trainable": True, "dtype": "float32", "function": function}}]
    model = {"class_name": "Functional", "config": {"name": "model", "layers": layers, "input_layers": [["x", 0, 0]],
                                                    "output_layers": [["op", 0, 0]]}}
    root, inputs = parse_model(model, "<h>")
    graph = ModelGraph(layers=root.children or [], source="<hypothesis>", format="keras-h5",
                       keras_version="2.13.1", inputs=inputs, root=root)
    tag_graph(graph)
    return model_source(graph, convert_graph(graph), layout)


TF_PARAMETERS = sorted({name for parameters, _ in FUNCTIONS.values() for name in parameters} | {"slice_spec"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(function=st.sampled_from(sorted(FUNCTIONS) + ["__operators__.getitem"]),
       kwargs=st.dictionaries(st.sampled_from(TF_PARAMETERS), values, max_size=4),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), layout=st.sampled_from(["torch", "keras"]))
def test_any_tensorflow_function_call_is_refused_or_gives_safe_source(function, kwargs, shape, layout):
    """A tf.keras op layer calling any TensorFlow function with any arguments: refused with a ConverterError or
    safe source."""
    try:
        generated = tf_operation_source(function, kwargs, shape, layout)
    except ConverterError:
        return
    assert_safe(generated)


def test_a_tensorflow_function_called_without_an_argument_it_requires_is_refused_by_name():
    """tf.math.add called with its tensor only (a crafted config): it stopped with KeyError: 'y' (exit 70)."""
    with pytest.raises(ConverterError, match="without its argument 'y'"):
        tf_operation_source("__operators__.add", {}, [2], "torch")
