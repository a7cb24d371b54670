"""Hugging Face TensorFlow checkpoints (`tf_model.h5` beside `config.json`) into folders transformers loads.

transformers' TF and PyTorch classes were written to share names: a PyTorch key is the TF
variable path without its first level (the TF model's own scope), `/` as `.`, `layer_._N` as
`layer.N`, and the leaf renamed: `kernel` -> a transposed `weight`, `gamma`/`beta` ->
`weight`/`bias`, `embeddings` -> `weight`. Those rules are the tables below. The PyTorch
class the config names, built on the meta device (no weights, no memory), decides the rest:
which keys exist and their shapes (a TF bias stored (1, n) becomes (n,)), whether the base
model's prefix (`bert.`) is dropped, and which keys are tied to others (GPT-2's
`lm_head.weight`). A variable no key takes, a key no variable fills, or a shape that differs
by more than axes of size 1 is refused by name, never guessed.

Only transformers' own classes are built (`getattr(transformers, name)`), never code a
config points to (`auto_map`).
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .conversion import Conversion, TargetTensor
from .dependencies import require_transformers
from .errors import ArgumentError, LayoutError, ReadError
from .graph import Filled, ModelGraph, Tensor
from .keras_names import to_snake_case
from .layouts import Chain, Layout, Transform, permutation

#: the weights file and config of a Hugging Face TensorFlow model folder
TF_WEIGHTS = "tf_model.h5"
CONFIG = "config.json"
#: data files of a model folder copied beside the converted weights (tokenizers, preprocessing)
COMPANIONS = ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
              "sentencepiece.bpe.model", "preprocessor_config.json")
COMPANION_LIMIT = 64 << 20  # bytes; larger "tokenizer files" are not copied

#: TF variable path -> PyTorch path, applied in order (transformers' TF-to-PyTorch naming)
PATH_RULES: tuple[tuple[str, str], ...] = (
    (r":\d+$", ""),  # TensorFlow's output index
    (r"/[^/]*___([^/]*)/", r"/\1/"),  # `mlm___cls`: a TF-only wrapper scope, `cls` in PyTorch
    (r"_\._", "/"),  # `layer_._3`: item 3 of a list (nn.ModuleList)
    (r"//+", "/"),
)
#: the last component's PyTorch name
LEAF_NAMES = {"kernel": "weight", "embeddings": "weight", "gamma": "weight", "beta": "bias",
              "pointwise_kernel": "pointwise.weight", "depthwise_kernel": "depthwise.weight",
              "moving_mean": "running_mean", "moving_variance": "running_var",
              # a weight-normalized convolution (Wav2Vec2's positional one): TF keeps it in PyTorch's layout,
              # PyTorch as the parametrization's magnitude (original0) and direction (original1)
              "weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}
#: classes transformers renamed, as configs of the time name them (t5-small's config.json says T5WithLMHeadModel)
RENAMED_CLASSES = {"T5WithLMHeadModel": "T5ForConditionalGeneration"}
#: model types whose TF and PyTorch classes in transformers compute differently, with the same weights: warned of
KNOWN_DIFFERENCES = {
    "openai-gpt": "transformers' PyTorch OpenAIGPTModel computes GELU with the tanh approximation (gelu_new) where "
                  "its TF class computed the exact GELU: with these same weights its outputs differ from TensorFlow's "
                  "(a few 1e-4 in random-weight test models; transformers' own from_tf conversion gives the same)",
}
#: buffers of a PyTorch module that TensorFlow has no variable for, created as a new module holds them
#: (BatchNorm's batch counter: read only when momentum is None, never in inference)
CREATED = {"num_batches_tracked": (0, "int64", "running_mean")}
#: TensorFlow's layout of a `kernel` / `pointwise_kernel` by rank, and PyTorch's
KERNEL_LAYOUTS = {
    2: (Layout.KERAS_DENSE_IO, Layout.TORCH_LINEAR_OI),
    3: (Layout.KERAS_CONV1D_WIO, Layout.TORCH_CONV1D_OIW),
    4: (Layout.KERAS_CONV2D_HWIO, Layout.TORCH_CONV2D_OIHW),
    5: (Layout.KERAS_CONV3D_DHWIO, Layout.TORCH_CONV3D_OIDHW),
}
#: scopes whose 2-D variables are Dense-like (in, out) whatever their leaf name (Transformer-XL)
TRANSPOSED_SCOPES = ("emb_projs", "out_projs")


def is_hub_config(config: Any) -> bool:
    """A transformers config (config.json of a Hub model), not a Keras one."""
    return isinstance(config, dict) and isinstance(config.get("model_type"), str) and "class_name" not in config


def read_config(path: str) -> dict[str, Any] | None:
    """config.json at `path` when it is a transformers config, else None."""
    from .readers.limits import read_json_file

    if not os.path.isfile(path) or os.path.islink(path):
        return None
    try:
        config = read_json_file(path)
    except ReadError:
        return None
    return config if is_hub_config(config) else None


def torch_class_name(config: dict[str, Any], source: str) -> str:
    """The PyTorch class of the config's architecture (`TFBertModel` -> `BertModel`)."""
    names = config.get("architectures")
    if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
        raise ReadError(f"{source}: config.json names no single architecture (\"architectures\": {names!r}); "
                        "set it to the model's class, e.g. [\"BertModel\"]")
    name = names[0][2:] if names[0].startswith("TF") else names[0]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,100}", name):
        raise ReadError(f"{source}: config.json's architecture {names[0][:100]!r} is not a class name")
    return name


@dataclass
class TorchTemplate:
    """What transformers' PyTorch class reads: saved keys and shapes, tied keys, the base model prefix."""

    class_name: str
    shapes: dict[str, tuple[int, ...]]
    tied: dict[str, set[str]] = field(default_factory=dict)  # key -> the other keys of the same parameter
    base_prefix: str = ""
    ignore_missing: tuple[str, ...] = ()  # patterns transformers itself lets be missing
    ignore_unexpected: tuple[str, ...] = ()  # patterns of checkpoint keys the class drops
    #: the module's own key -> the key transformers saves it under, where they differ; a checkpoint may hold
    #: either (transformers 5 renames ESM's `LayerNorm.weight` to the legacy `LayerNorm.gamma` on saving)
    aliases: dict[str, str] = field(default_factory=dict)


def torch_template(config: dict[str, Any], source: str, variables: int) -> TorchTemplate:
    """Build the config's PyTorch class on the meta device and read what its checkpoints hold.

    Building takes time in proportion to the number of layers the config asks for: no more
    than the file's `variables` (each layer holds one at least), so a crafted config cannot
    make it build for hours.
    """
    require_transformers("converting a Hugging Face TensorFlow checkpoint")
    name = torch_class_name(config, source)
    for key, value in config.items():
        if re.search(r"(^|_)(n_)?layers?$", key) and isinstance(value, int) and value > variables:
            raise ReadError(f"{source}: config.json asks for {key}={value}, more layers than the {variables} "
                            "variables of the checkpoint; the config does not belong to these weights")
    import torch
    import transformers

    model_class = getattr(transformers, name, None)
    if not (isinstance(model_class, type) and issubclass(model_class, transformers.PreTrainedModel)
            and model_class.config_class is not None):
        raise ReadError(f"{source}: transformers {transformers.__version__} has no PyTorch class {name} "
                        "(config.json's architecture); upgrade transformers or fix \"architectures\"")
    settings = dict(config, architectures=[name])
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its remarks on the config are about the model, not this step
    try:
        with torch.device("meta"):
            model = model_class(model_class.config_class.from_dict(settings))
    except Exception as error:  # transformers refusing the config: say so, not a traceback
        raise ReadError(f"{source}: transformers cannot build {name} from config.json ({type(error).__name__}: "
                        f"{str(error)[:200]})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    state = model.state_dict()
    saved = _saved_keys(model, state)
    own_names = {id(value): key for key, value in state.items()}
    aliases = {own_names[id(value)]: key for key, value in saved.items()
               if own_names.get(id(value), key) != key}  # the same tensor, renamed (not split or fused)
    groups: dict[int, set[str]] = {}
    for key, parameter in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(parameter), set()).add(key)
    tied = {key: group - {key} for group in groups.values() if len(group) > 1 for key in group}
    declared = getattr(model, "_tied_weights_keys", None)
    if isinstance(declared, dict):  # transformers 5: {tied key: the key it shares}
        for key, partner in declared.items():
            tied.setdefault(key, set()).add(partner)
            tied.setdefault(partner, set()).add(key)
    return TorchTemplate(
        class_name=name, shapes={key: tuple(value.shape) for key, value in saved.items()}, tied=tied,
        base_prefix=str(getattr(model_class, "base_model_prefix", "") or ""),
        ignore_missing=tuple(getattr(model_class, "_keys_to_ignore_on_load_missing", None) or ()),
        ignore_unexpected=tuple(getattr(model_class, "_keys_to_ignore_on_load_unexpected", None) or ()),
        aliases=aliases,
    )


def _saved_keys(model: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The keys a checkpoint of `model` holds: transformers 5 renames some modules in memory
    (ViT's `layers.0.attention.q_proj`) and reverts them on saving (`encoder.layer.0...query`)."""
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # transformers 4: checkpoints hold the module's own names
        return state
    return dict(revert_weight_conversion(model, state))


def torch_name(tf_name: str) -> tuple[str, str]:
    """(PyTorch path with the leaf renamed, the leaf's TF name) of a TF variable path."""
    path = tf_name
    for pattern, replacement in PATH_RULES:
        path = re.sub(pattern, replacement, path)
    parts = path.split("/")
    if len(parts) > 1:
        parts = parts[1:]  # the TF model's own scope (`tf_bert_model`)
    leaf = parts[-1]
    parts[-1] = LEAF_NAMES.get(leaf, leaf)
    return ".".join(parts), leaf


def tf_step(leaf: str, scopes: list[str], shape: tuple[int, ...]) -> Transform | None:
    """How a TF variable becomes its PyTorch tensor, from its leaf name, scopes and rank."""
    if leaf == "depthwise_kernel" and len(shape) in (3, 4):
        from .regroupings import DepthwiseToGrouped  # here: a conversion without one imports no regroupings

        return DepthwiseToGrouped(len(shape) - 2)
    if leaf in ("kernel", "pointwise_kernel") and len(shape) in KERNEL_LAYOUTS:
        return permutation(*KERNEL_LAYOUTS[len(shape)])
    if len(shape) == 2 and any(scope in TRANSPOSED_SCOPES for scope in scopes):
        return permutation(*KERNEL_LAYOUTS[2])
    return None


def saving_class(graph: ModelGraph) -> str | None:
    """The transformers class whose TF twin saved the weights, from their scope (`tf_bert_for_sequence_classification`
    is Keras's name for a TFBertForSequenceClassification), or None when no class of transformers has that name."""
    import transformers

    scopes = Counter(layer.path[0] for layer, _ in graph.tensors() if len(layer.path) > 1)
    if not scopes:
        return None
    scope = re.sub(r"_\d+$", "", scopes.most_common(1)[0][0])  # `tf_bert_model_1`: a second model in that session
    found = [name for name in dir(transformers) if name[:1].isupper() and to_snake_case("TF" + name) == scope]
    return found[0] if len(found) == 1 else None


def convert(graph: ModelGraph, config: dict[str, Any]) -> Conversion:
    """The graph's variables under the PyTorch class's keys, in its order; everything else refused.

    config.json may name another head than the one that saved the weights (a model fine-tuned from a
    base whose config it kept), or none (older configs have no "architectures"): the class the weights'
    own scope names is then used, and said.
    """
    warnings = []
    listed = config.get("architectures")
    old = listed[0].removeprefix("TF") if isinstance(listed, list) and len(listed) == 1 and isinstance(listed[0], str) \
        else None
    if old in RENAMED_CLASSES:
        warnings.append(f"config.json names {old}, transformers' name before 3.0 for {RENAMED_CLASSES[old]}: converted "
                        "as that, and the config.json written names it")
        config = dict(config, architectures=[RENAMED_CLASSES[old]])
        graph.hub_config = config
    if "architectures" not in config:
        saved_by = saving_class(graph)
        if saved_by is not None:
            warnings.append(f"config.json names no architecture; the weights were saved by TF{saved_by}: converted as "
                            f"{saved_by}, and the config.json written names it")
            config = dict(config, architectures=[saved_by])
            graph.hub_config = config
    named = torch_class_name(config, graph.source)
    if to_snake_case("TF" + named) not in {layer.path[0] for layer, _ in graph.tensors()}:
        saved_by = saving_class(graph)
        if saved_by is not None and saved_by != named:
            warnings.append(f"config.json names {named}, but the weights were saved by TF{saved_by}: converted as "
                            f"{saved_by}, and the config.json written names it")
            config = dict(config, architectures=[saved_by])
            graph.hub_config = config
    template = torch_template(config, graph.source, sum(1 for _ in graph.tensors()))
    # a base model's checkpoint keys have no `bert.`: the TF names' prefix is dropped
    prefix = template.base_prefix + "."
    strip = bool(template.base_prefix) and not any(key.startswith(prefix) for key in template.shapes)
    found: dict[str, tuple[str, Tensor, Transform | None]] = {}
    written: dict[str, str] = {}  # template key -> the key written (the module's own name where it has two)
    for layer, tensor in graph.tensors():
        tf_name = "/".join(layer.path + (tensor.role,))
        key, leaf = torch_name(tf_name)
        if strip and key.startswith(prefix):
            key = key[len(prefix):]
        own_key = key
        if key not in template.shapes:
            key = template.aliases.get(key, key)
        if key in found:
            raise LayoutError(f"{graph.source}: variables {found[key][0]} and {tf_name} both name {key}; refused")
        found[key] = (tf_name, tensor, tf_step(leaf, tf_name.split("/")[:-1], tensor.shape))
        written[key] = own_key
    unexpected = [key for key in found if key not in template.shapes]
    dropped = [key for key in unexpected if _matches(key, template.ignore_unexpected)]
    unexpected = [key for key in unexpected if key not in dropped]
    filled = set(found)
    created = {key: CREATED[leaf] for key in template.shapes if key not in filled
               for module, _, leaf in [key.rpartition(".")]
               if leaf in CREATED and f"{module}.{CREATED[leaf][2]}" in filled}
    missing = [key for key in template.shapes if key not in filled and key not in created
               and not _matches(key, template.ignore_missing) and not template.tied.get(key, set()) & filled]
    if unexpected or missing:
        raise LayoutError(_mismatch(graph.source, template, unexpected, missing, found))
    conversion = Conversion(graph, "torch", [])
    for key, shape in template.shapes.items():
        if key in found:
            conversion.tensors.append(_target(written[key], shape, *found[key]))
        elif key in created:
            value, dtype, _ = created[key]
            source = Tensor(role=key.rpartition(".")[2], shape=shape, dtype=dtype, loader=Filled(shape, value, dtype),
                            source=f"created by weightport: {value} (PyTorch's buffer, no TensorFlow variable)",
                            layout=Layout.SAME)
            conversion.tensors.append(TargetTensor(key, source, Layout.SAME, shape, f"created: {value}"))
    conversion.warnings += warnings + [f"left out {found[key][0]}: {template.class_name} drops it on loading"
                                       for key in dropped]
    known = KNOWN_DIFFERENCES.get(str(config.get("model_type")))
    if known:
        conversion.warnings.append(known)
    return conversion


def _target(key: str, shape: tuple[int, ...], tf_name: str, tensor: Tensor, step: Transform | None) -> TargetTensor:
    try:
        converted = step.shape(tensor.shape) if step else tensor.shape
        if converted != shape:
            from .regroupings import UnitAxes

            unit = UnitAxes(shape)
            unit.shape(converted)
            step = Chain((step, unit)) if step else unit
    except LayoutError as error:
        raise LayoutError(f"{tensor.source}: {tf_name} {tensor.shape} cannot become {key} {shape} ({error}); "
                          "refused, not guessed") from None
    return TargetTensor(key, tensor, Layout.SAME, shape, step.describe() if step else "none", step)


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(re.search(pattern, key) for pattern in patterns)


def _mismatch(source: str, template: TorchTemplate, unexpected: list[str], missing: list[str],
              found: dict[str, tuple[str, Tensor, Transform | None]]) -> str:
    parts = []
    if unexpected:
        names = ", ".join(f"{found[key][0]} (as {key})" for key in unexpected[:5])
        parts.append(f"{len(unexpected)} variable(s) {template.class_name} has no key for: {names}")
    if missing:
        parts.append(f"{len(missing)} key(s) of {template.class_name} no variable fills: {', '.join(missing[:5])}")
    return (f"{source}: the checkpoint does not match transformers' {template.class_name}: {'; '.join(parts)}; "
            "check config.json's \"architectures\" and transformers' version, or convert with --layout keras "
            "(every variable as stored)")


def refuse_module(graph: ModelGraph, what: str) -> None:
    """A Hugging Face checkpoint's PyTorch module is transformers' class: not one weightport builds or pairs."""
    if graph.hub_config is not None:
        name = torch_class_name(graph.hub_config, graph.source)
        raise ArgumentError(f"{graph.source}: a Hugging Face TensorFlow checkpoint; its PyTorch model is transformers' "
                            f"{name}, not one {what} handles: convert it to a folder (weightport convert SRC DST/) "
                            f"and load that with transformers.{name}.from_pretrained(DST)")


def torch_config(config: dict[str, Any], source: str) -> str:
    """config.json for the PyTorch folder: the same settings, the PyTorch architecture's name."""
    return json.dumps(dict(config, architectures=[torch_class_name(config, source)]), indent=2, sort_keys=True) + "\n"


def companions(folder: str) -> list[str]:
    """The data files of a model folder worth copying beside the weights (tokenizers, preprocessing)."""
    paths = [os.path.join(folder, name) for name in COMPANIONS]
    return [path for path in paths if os.path.isfile(path) and not os.path.islink(path)
            and os.path.getsize(path) <= COMPANION_LIMIT]
