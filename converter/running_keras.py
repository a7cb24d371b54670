"""verify's Keras and the file's: a Keras 3 file checked with another Keras 3 version or backend than wrote it.

Some layers compute differently from one Keras 3 to the next (masked merges from 3.4, a convolution's bias from 3.7
and EinsumDense's from 3.10 on TensorFlow, MultiHeadAttention clearing its inputs' masks from 3.8 and the masks a
call ran with no longer recorded from 3.10, a masked Softmax from 3.10 and 3.13, a cast input's mask dropped from
3.5 to 3.13, and from 3.0 where the call records none, a nested model's input built as its reader's dtype until 3.5,
normalize's axis and order swapped in a model of 3.0.5) and from one backend to another ('same' padding on torch, by
version). The module `to_torch` and `export` build follows the Keras that wrote the file (its backend: the one the
file records, or keras_backend, else TensorFlow), which is what the user's model computed. `verify` runs the Keras
installed here: where the two compute a layer differently, the module it checks is built as the running Keras
computes, and the report names those layers.
Everything else (each weight's layout, every other layer) is checked as it is; the version and backend rules
themselves are tested against each Keras's behaviour (tests/test_keras_tf_bias.py, test_attention_clears_masks.py,
test_masks.py).
"""
from __future__ import annotations

from .convert import convert_graph
from .graph import ModelGraph
from .keras_side import import_keras
from .graph import minor_version
from .torch_build.codegen import KerasRun

ASSUMED_BACKEND = "tensorflow"  # where neither the file nor keras_backend names one (a .keras archive)


def running_keras(graph: ModelGraph) -> KerasRun | None:
    """The installed Keras 3 (version and backend) where it will run a Keras 3 file of another minor version or
    backend; None where verify runs the Keras that wrote it (tf_keras for a Keras 2 file) or one like it."""
    written = minor_version(graph.keras_version)
    if written is not None and written[0] < 3:
        return None
    keras = import_keras("keras")  # TensorFlow's start-up notices kept off stderr
    running = KerasRun(str(getattr(keras, "__version__", "")), keras.backend.backend())
    minor = minor_version(running.version)
    if minor is None or minor[0] < 3:
        return None
    same_version = written is None or minor == written  # unrecorded: built as today's Keras computes already
    if same_version and running.backend == (graph.metadata.get("backend") or ASSUMED_BACKEND):
        return None
    return running


def computed_differently(graph: ModelGraph, input_layout: str, running: KerasRun) -> list[str]:
    """The layers (keys) whose built code differs between the file's Keras and the `running` one."""
    from .torch_build import model_source

    conversion = convert_graph(graph)
    written = model_source(graph, conversion, input_layout).calls
    checked = model_source(graph, conversion, input_layout, keras=running).calls
    return sorted({key for key, node in written.keys() | checked.keys()
                   if written.get((key, node)) != checked.get((key, node))})


def version_note(graph: ModelGraph, running: KerasRun, layers: list[str]) -> str:
    """The report's note on the layers built as the running Keras computes."""
    shown = ", ".join(layers[:8]) + (f" and {len(layers) - 8} more" if len(layers) > 8 else "")
    count, it = f"{len(layers)} layer{'s' if len(layers) > 1 else ''}", "them" if len(layers) > 1 else "it"
    backend = graph.metadata.get("backend")
    written = (f"Keras {graph.keras_version or '(version not recorded)'} on "
               + (backend if backend else f"{ASSUMED_BACKEND} (assumed: the file does not record its backend; "
                                          "keras_backend names it)"))
    return (f"{written} wrote this file and Keras {running.version} on {running.backend} ran this check; they "
            f"compute {count} differently ({shown}): the module checked builds {it} as the running Keras computes; "
            f"to_torch and export build {it} as the file's Keras did")
