"""The command line's arguments: every subcommand, option and help text (`weightport --help`).

Parsing only; converter/cli.py runs what was asked.
"""
from __future__ import annotations

import argparse

import converter
from .convert import KERAS_BACKENDS
from .lambda_functions import FUNCTIONS

DESCRIPTION = """\
Move trained Keras weights to PyTorch without TensorFlow.

Keras and PyTorch store the same weights in different layouts: a Keras Dense kernel is
(in, out) because Keras computes x @ W, while nn.Linear stores (out, in) and computes
x @ W.T. weightport reads Keras files with h5py alone and writes each tensor in the
layout PyTorch expects, under keys `{layer_name}.{torch_param}`.

Sources: Keras 3 .keras archives, Keras 3 .weights.h5 (and sharded .weights.json), legacy
HDF5 .h5 (Keras 2.0 to 2.15, tf.keras, Keras 3's .h5 writer) full models and save_weights
files, Keras model folders (config.json + model.weights.h5), TensorFlow checkpoints (PREFIX,
PREFIX.index, or a folder with a `checkpoint` file; TF1 and TF2), SavedModel directories
(tf.keras; Keras 3's model.export() with --architecture) and Hugging Face TensorFlow
checkpoints (tf_model.h5 or a sharded tf_model.h5.index.json, + config.json, written as a
folder transformers loads), all read without TensorFlow; subclassed models' files with
--import (your classes) or --like (your PyTorch twin). `export` writes a runnable PyTorch
model file, `verify` compares it with Keras."""

EPILOG = """\
examples:
  weightport inspect model.keras
  weightport convert model.h5 model.safetensors
  weightport convert model.keras weights.pt --force
  weightport convert model.weights.h5 weights.npz --architecture model.keras
  weightport convert model.h5 weights.h5 --layout keras
  weightport convert model.h5 weights.pt --like template.pt --map order
  weightport convert path/to/tf_model_dir out_dir/            # Hugging Face TF -> transformers
  weightport convert net.weights.h5 net.safetensors --import mynet:build   # a subclassed model
  weightport export model.keras model.py
  weightport verify model.keras --per-layer

exit codes: 0 ok, 1 verification failed, 2 bad input or usage, 70 a bug in weightport
(rerun with --debug for the traceback), 130 interrupted, 143 terminated

Files from strangers are safe to convert, inspect, export and verify: nothing in a file
runs as code and nothing outside it is read (see SECURITY.md)."""

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weightport", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"weightport {converter.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an unexpected error (or set WEIGHTPORT_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser(
        "inspect", help="show the format, Keras version and each tensor's Keras and PyTorch layout",
        description="Show what SRC holds: its format and Keras version and, per layer, each Keras "
        "tensor's shape and layout beside the PyTorch key, shape and transform it becomes.",
    )
    _variables_option(inspect)
    inspect.add_argument("source", metavar="SRC", help="a .keras, .weights.h5 or .h5 file, a Keras model folder, a "
                         "TensorFlow checkpoint or SavedModel directory, a Hugging Face TF model folder")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    _architecture_option(inspect)
    _import_option(inspect)
    _backend_option(inspect)

    convert = commands.add_parser(
        "convert", help="convert SRC to DST (.safetensors, .pt/.pth, .npz, .h5/.hdf5)",
        description="Convert the weights of SRC and write them to DST; the output format comes from "
        "DST's suffix: .safetensors (recommended), .pt/.pth (a state_dict for torch.load), .npz, "
        ".h5/.hdf5; a folder gets Hugging Face's model.safetensors. Every file records its source, format, "
        "Keras version and layout (and safetensors files Hugging Face's \"format\": \"pt\").",
    )
    convert.add_argument("paths", nargs="+", metavar="SRC DST",
                         help="SRC: a .keras, .weights.h5 (or sharded .weights.json) or .h5 file, a Keras model "
                         "folder, a TensorFlow checkpoint or SavedModel directory, a Hugging Face TF model folder "
                         "(tf_model.h5 or a sharded tf_model.h5.index.json, + config.json); DST: the output file "
                         "(its suffix picks the format), or a folder: DST/model.safetensors (and config.json for "
                         "a Hugging Face model). With --out-dir: "
                         "any number of SRC (files, folders, globs) and no DST")
    convert.set_defaults(subparser=convert)
    convert.add_argument("--out-dir", metavar="DIR",
                         help="convert every SRC into DIR as NAME.safetensors (or --suffix), one summary table; "
                         "exit 2 if any failed, the others still written")
    convert.add_argument("--suffix", default=".safetensors", choices=sorted(converter.WRITERS),
                         help="the output format with --out-dir (default .safetensors)")
    convert.add_argument("--jobs", type=int, default=1, metavar="N",
                         help="with --out-dir: convert N models at once, in N processes (default 1)")
    convert.add_argument(
        "--layout", choices=converter.OUTPUT_LAYOUTS, default="torch",
        help="torch (default): PyTorch layouts and parameter names; keras: Keras's own layouts "
        "and variable names, unchanged",
    )
    convert.add_argument("--force", action="store_true", help="overwrite DST if it exists")
    convert.add_argument(
        "--skip-unsupported", action="store_true",
        help="leave out layers with weights that no rule converts (and list them) instead of failing",
    )
    convert.add_argument(
        "--keep-unsupported", action="store_true",
        help="write the tensors of layers that no rule converts as stored (Keras's layout, named layer.variable; "
        "your own code for those layers decides what they mean), each listed, instead of failing",
    )
    convert.add_argument("--record", metavar="FILE",
                         help="also write the per-tensor conversion record as JSON (not DST; --force to overwrite)")
    convert.add_argument("--preprocessing-state", metavar="FILE",
                         help="also write, as JSON, the state of the model's preprocessing layers that weights do not "
                              "carry: lookup vocabularies (adapted ones from the .keras archive's assets), hashing "
                              "settings, bin boundaries")
    convert.add_argument(
        "--map", metavar="RULES.json",
        help="rename keys: a JSON object {keras_key_or_layer: torch_key_or_module} or a list of "
        "[regex, replacement] rules (the first that matches applies); 'order' (with --like) pairs "
        "layers in order within each kind",
    )
    convert.add_argument(
        "--like", metavar="TEMPLATE",
        help="a state_dict saved from your freshly built model (.pt, .safetensors, .npz): the output "
        "takes its keys and shapes, matched by key after --map (or in order with --map order); "
        "fails with the plan if anything cannot be paired",
    )
    convert.add_argument(
        "--max-shard-size", metavar="SIZE",
        help="split a .safetensors output larger than SIZE (bytes, or 500MB, 5GB) into shards "
        "NAME-0000i-of-0000n.safetensors indexed by NAME.safetensors.index.json; with DST a folder, "
        "model-...safetensors and model.safetensors.index.json, where transformers looks",
    )
    _variables_option(convert)
    convert.add_argument("--dtype", choices=converter.OUTPUT_DTYPES,
                         help="write every floating tensor in this dtype (rounded to nearest even; recorded); "
                         "default: as stored")
    convert.add_argument("--dry-run", action="store_true",
                         help="read, convert and check everything (--map, --like, DST), write nothing; say what "
                         "would be written")
    convert.add_argument("--allow-unused", action="store_true",
                         help="let --map entries that rename no tensor pass (by default they are an error: a typo)")
    _quiet_option(convert, "no progress bar (it is drawn only on a terminal) and no warnings")
    _import_option(convert)
    convert.add_argument("-v", "--verbose", action="store_true",
                         help="one line per tensor on stderr: its key, where it came from, the Keras and "
                         "written shapes and the transform applied (--record FILE keeps all of it as JSON)")
    _architecture_option(convert)
    _backend_option(convert)

    export = commands.add_parser(
        "export", help="write a standalone PyTorch model file (model.py) and its weights",
        description="Write DST, a readable PyTorch source file (plain torch, no weightport) with one "
        "nn.Module class whose attributes are the Keras layers and whose forward reads like the Keras "
        "graph, and its weights beside it (DST with .safetensors). Its load() returns the model.",
    )
    export.add_argument("source", metavar="SRC", help="a .keras or full-model .h5 file")
    export.add_argument("destination", metavar="DST", help="the model file to write, ending in .py")
    export.add_argument("--weights", metavar="FILE", help="where to write the weights (.safetensors or .pt)")
    _layout_option(export)
    export.add_argument("--force", action="store_true", help="overwrite DST and its weights if they exist")
    _architecture_option(export)
    _variables_option(export)
    _backend_option(export)
    _lambda_option(export)
    _quiet_option(export, "no warnings")

    verify = commands.add_parser(
        "verify", help="run Keras and the converted PyTorch model on the same inputs and compare",
        description="Run the Keras model (needs keras; tf_keras for Keras 2 files) and the converted "
        "PyTorch model on the same inputs and print, per output (and with --per-layer per layer, in "
        "graph order), the max abs and max relative difference and a status: ok, inaccurate, failed. "
        "Exit code 0 when every output is within tolerance, 1 otherwise.",
    )
    verify.add_argument("source", metavar="SRC", help="a .keras or full-model .h5 file")
    verify.add_argument("--input", metavar="FILE.npz",
                        help="inputs, one array per model input (by input name, or in order), Keras layout; "
                        "default: random inputs in a realistic range from the input spec")
    verify.add_argument("--samples", type=int, default=8, metavar="N", help="random samples (default 8)")
    verify.add_argument("--atol", type=float, metavar="A",
                        help="absolute tolerance (default by the model's lowest compute precision: 1e-5 for "
                        "float32, 1e-3 float16, 1e-2 bfloat16; 1e-9 with --float64)")
    verify.add_argument("--rtol", type=float, metavar="R",
                        help="tolerance relative to the largest activation on the path into each value (default "
                        "1e-4 for float32, 1e-2 float16, 6e-2 bfloat16; 1e-8 with --float64)")
    verify.add_argument("--float64", action="store_true",
                        help="run both Keras and PyTorch in float64 (every layer, a float16 or bfloat16 model's "
                        "too; weights upcast): rounding noise of deep models then cannot hide or fake a difference")
    verify.add_argument("--per-layer", action="store_true",
                        help="also compare every layer's output and name the first that diverges")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--module", metavar="PACKAGE.MODULE:FACTORY",
                        help="compare YOUR PyTorch module instead of weightport's: imports PACKAGE.MODULE (this runs "
                        "your code; the current folder is searched first) and calls FACTORY(), which returns the "
                        "module with its weights loaded (e.g. by converter.load_into); with --per-layer each Keras "
                        "layer is compared with the submodule its weights load into")
    verify.add_argument("--map", metavar="RULES.json",
                        help="with --module: how Keras tensors pair with your parameters, as load_into takes it "
                        "(a JSON file, or 'order')")
    verify.add_argument("--input-layout", choices=("torch", "keras"), default=None,
                        help="with --module: the layout your module takes images in (default torch: channels-first)")
    _architecture_option(verify)
    _import_option(verify)
    _backend_option(verify)
    _lambda_option(verify)
    _quiet_option(verify, "no warnings")
    return parser


def _backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keras-backend", choices=KERAS_BACKENDS, default=None,
        help="the backend a Keras 3 model ran on, for a .keras archive (it does not record it; tensorflow is "
        "assumed): a few layers compute differently by backend (Keras 3.7+ on TensorFlow adds some biases along "
        "another axis; Keras 3.0 to 3.14 on torch pad some strided 'same' convolutions otherwise and change a masked "
        "average pooling's input in place; every Keras 3 on torch pads 'symmetric' as 'replicate'), and the module "
        "built and the module arguments shown follow it",
    )


def _lambda_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lambda", dest="lambdas", action="append", metavar="NAME=EXPR",
        help="what Lambda layer NAME computes, as an expression of its input x (repeat for each Lambda): e.g. "
        "--lambda lambda_1='x / 127.5 - 1'. A Lambda's function is code stored in the file, which weightport never "
        "runs; EXPR is parsed, never run: numbers, + - * / // %% **, indexing (x[:, 10:-10], x[0] of a Lambda of "
        f"several inputs) and {', '.join(sorted(name for name in FUNCTIONS if '.' not in name))}, bare or as K., "
        "tf., keras.ops. spell them (resize_images: K.'s, nearest, by factors), and tf.image.resize (TensorFlow 2's) "
        "and tf.image.resize_images (TensorFlow 1's) to a constant size. verify has Keras run EXPR in the Lambda's "
        "place",
    )


def _layout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-layout", choices=("torch", "keras"), default="torch",
        help="torch (default): image inputs/outputs of rank 4 and 5 are channels-first (N, C, H, W); "
        "keras: the model takes and returns exactly the arrays Keras does",
    )


def _variables_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables", choices=("raw", "ema"), default="raw",
                        help="a TensorFlow checkpoint's copy to read: raw (default) or ema, its "
                        "ExponentialMovingAverage shadows (the published accuracy of many Google models)")


def _import_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import", dest="import_module", metavar="MODULE[:FACTORY]",
        help="a file of a model with YOUR classes (a subclassed model, your own layers in a functional one): import "
        "YOUR module MODULE (this runs your code: only name a module you trust), then load SRC through Keras: into "
        "the model FACTORY() builds (for .weights.h5 / save_weights .h5), or with keras.saving.load_model without "
        "FACTORY (.keras, full-model .h5), given the classes MODULE defines as custom objects; the layers your "
        "classes hold are then keyed "
        "by attribute path (encoder.dense.weight). Needs Keras",
    )


def _quiet_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help=what)


def _architecture_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--architecture", metavar="FILE",
        help="a .keras file, full-model .h5, model config JSON (model.to_json(); Keras 2's model.to_yaml() with "
             "PyYAML installed), Keras model folder (config.json) or tf.keras "
             "SavedModel directory giving the layer names of a .weights.h5 file (or a sharded .weights.json), a "
             "TensorFlow checkpoint or a Keras 3 model.export() SavedModel",
    )
