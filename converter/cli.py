"""weightport's command line: parses, calls the `converter` library, maps errors to exit codes.

Exit codes: 0 ok, 1 verification failed, 2 bad input or usage, 70 a bug in weightport
(one line; --debug or WEIGHTPORT_DEBUG=1 shows the traceback), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM); a closed output pipe ends quietly.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import warnings
from typing import Any, Sequence

import converter  # the library this CLI calls (absolute: it also runs as converter/cli.py)
from converter.cli_arguments import build_parser

EXIT_BUG = 70  # sysexits' EX_SOFTWARE: an error weightport did not mean to raise
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM (a timeout, docker stop, Slurm): unwinds like Ctrl-C so temporary files are removed."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def entry() -> None:
    """The `weightport` command and `python -m converter`: main() in a process of its own, then exit.

    What the imports made is frozen out of the garbage collector (gc.freeze) before the work,
    and what the work made after it: collections during a conversion skip numpy's and
    weightport's own objects, and exiting skips a last collection over all of them (with
    both, `inspect` of NASNetMobile took 0.28 s instead of 0.32 s here). main() itself, as
    tests and scripts call it, leaves the collector alone.
    """
    gc.freeze()
    code = main(own_process=True)
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """The command line `argv` (sys.argv's by default), run; its exit code. `own_process`: nothing but this
    command runs in the process (entry()), which it may tune: `_spare_collector`."""
    arguments = build_parser().parse_args(argv)
    if arguments.command == "convert" and arguments.out_dir is None and len(arguments.paths) != 2:
        arguments.subparser.error(f"convert takes SRC and DST (got {len(arguments.paths)} path(s)); to convert "
                                  "several models give --out-dir DIR")
    debug = arguments.debug or os.environ.get("WEIGHTPORT_DEBUG", "") not in ("", "0")
    previous = signal.signal(signal.SIGTERM, _terminate) if hasattr(signal, "SIGTERM") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", converter.ConversionWarning)
            warnings.showwarning = _warning_printer(warnings.showwarning, getattr(arguments, "quiet", False))
            return _run(arguments, own_process)
    except converter.LoadError as error:
        print(error.plan, file=sys.stderr)
        print(f"weightport: error: {error}", file=sys.stderr)
        return error.exit_code
    except converter.ConverterError as error:
        print(f"weightport: error: {_one_line(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Terminated:
        return EXIT_TERMINATED
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as error:  # a bug of ours: one line, and the way to see more
        if debug:
            raise
        print(f"weightport: internal error (a bug in weightport, not in your file): {type(error).__name__}: "
              f"{_one_line(str(error))[:300]}; rerun with --debug (or WEIGHTPORT_DEBUG=1) for the traceback "
              "and report it", file=sys.stderr)
        return EXIT_BUG
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _warning_printer(original: Any, quiet: bool) -> Any:
    """warnings.showwarning for the CLI: weightport's own warnings as one `weightport: warning:` line each,
    others (Keras's) as Python shows them; nothing with --quiet."""
    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if quiet:
            return
        if issubclass(category, converter.ConversionWarning):
            print(f"weightport: warning: {_one_line(str(message))}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)
    return show


def _run(arguments: argparse.Namespace, own_process: bool = False) -> int:
    if arguments.command in ("convert", "inspect"):
        _spare_blas_threads()
        if own_process:
            _spare_collector(arguments)
    if arguments.command == "inspect":
        source = _imported(arguments.source, arguments.import_module)
        report = converter.inspect(source, architecture=arguments.architecture, variables=arguments.variables,
                                   keras_backend=arguments.keras_backend)
        _print(json.dumps(report.to_dict(), indent=2) if arguments.json else report.to_text())
    elif arguments.command == "convert" and arguments.out_dir is not None:
        return _convert_many(arguments)
    elif arguments.command == "convert":
        arguments.source, arguments.destination = arguments.paths
        if arguments.import_module:  # checked before the user's code runs and Keras reads anything
            converter.check_destination(converter.weights_path(arguments.destination), arguments.force,
                                        [arguments.source])
        source = _imported(arguments.source, arguments.import_module)
        conversion = converter.convert(
            source, arguments.destination, layout=arguments.layout, force=arguments.force,
            skip_unsupported=arguments.skip_unsupported, keep_unsupported=arguments.keep_unsupported,
            architecture=arguments.architecture,
            mapping=_mapping(arguments.map), like=arguments.like, max_shard_size=arguments.max_shard_size,
            progress=not arguments.quiet, record=arguments.record, dry_run=arguments.dry_run,
            allow_unused=arguments.allow_unused, dtype=arguments.dtype, variables=arguments.variables,
            preprocessing_state=arguments.preprocessing_state, keras_backend=arguments.keras_backend,
        )
        if arguments.verbose and not arguments.quiet:
            for line in conversion.tensor_lines():
                print(line, file=sys.stderr)
        if arguments.dry_run:
            _print(f"dry run: would write {len(conversion.tensors)} tensors ({arguments.layout} layout) to "
                   f"{arguments.destination}; nothing was written")
            return 0
        files = conversion.files
        if not files:  # a model of preprocessing alone: its state was written, no weights (warned)
            _print(f"wrote the state of the preprocessing layers to {arguments.preprocessing_state}")
            return 0
        index = next((path for path in files if path.endswith(".safetensors.index.json")), None)
        shards = [path for path in files if path.endswith(".safetensors")] if index else files[:1]
        where = f"{len(shards)} shards indexed by {index}" if index else files[0]
        beside = [os.path.basename(path) for path in files if path not in shards and path != index]
        if beside:  # a Hugging Face folder's config and tokenizer files
            where += f", with {', '.join(beside)} beside"
        _print(f"wrote {len(conversion.tensors)} tensors ({arguments.layout} layout) to {where}")
        if arguments.preprocessing_state:
            _print(f"wrote the state of the preprocessing layers to {arguments.preprocessing_state}")
    elif arguments.command == "export":
        model_file, weights = converter.export(
            arguments.source, arguments.destination, weights=arguments.weights,
            input_layout=arguments.input_layout, force=arguments.force, architecture=arguments.architecture,
            variables=arguments.variables, keras_backend=arguments.keras_backend,
            lambdas=_lambdas(arguments.lambdas),
        )
        _print(f"wrote {model_file} and {weights}; load with: from {_module_name(model_file)} import load")
    elif arguments.command == "verify":
        own = _own_module(arguments.module) if arguments.module else None
        verification = converter.verify(
            _imported(arguments.source, arguments.import_module), inputs=arguments.input, samples=arguments.samples,
            atol=arguments.atol, rtol=arguments.rtol, per_layer=arguments.per_layer,
            architecture=arguments.architecture,
            precision="float64" if arguments.float64 else "model", module=own, mapping=_mapping(arguments.map),
            input_layout=arguments.input_layout or ("torch" if own is not None else "keras"),
            keras_backend=arguments.keras_backend, lambdas=_lambdas(arguments.lambdas),
        )
        _print(json.dumps(verification.to_dict(), indent=2) if arguments.json else verification.to_text())
        return 0 if verification.ok else 1
    return 0


def _convert_many(arguments: argparse.Namespace) -> int:
    single = [name for name, value in (("--record", arguments.record), ("--like", arguments.like),
                                       ("--preprocessing-state", arguments.preprocessing_state),
                                       ("--verbose", arguments.verbose), ("--import", arguments.import_module),
                                       ("--architecture", arguments.architecture), ("--dry-run", arguments.dry_run))
              if value]
    if single:
        raise converter.ArgumentError(f"{', '.join(single)} apply to one model; not with --out-dir")
    items = converter.convert_many(
        arguments.paths, arguments.out_dir, suffix=arguments.suffix, jobs=arguments.jobs, layout=arguments.layout,
        force=arguments.force, skip_unsupported=arguments.skip_unsupported,
        keep_unsupported=arguments.keep_unsupported, mapping=_mapping(arguments.map),
        allow_unused=arguments.allow_unused, max_shard_size=arguments.max_shard_size, dtype=arguments.dtype,
        keras_backend=arguments.keras_backend,
    )
    if not arguments.quiet:
        for item in items:
            for warning in item.warnings:
                print(f"weightport: warning: {item.source}: {_one_line(warning)}", file=sys.stderr)
    _print(converter.summary_table(items))
    return 0 if all(item.status == "ok" for item in items) else 2


def _spare_blas_threads() -> None:
    """No BLAS threads for the commands that do no arithmetic, unless OPENBLAS_NUM_THREADS is set.

    numpy's OpenBLAS starts a thread per core when numpy is imported, and each spins for about 0.1 s
    waiting for work that a conversion never gives it: a core taken from the transposes and writes
    (ResNet50 on two cores: 0.19 s against 0.17 s). The setting counts only before numpy is imported
    (a conversion imports it when it makes its first tensor); a process that has numpy keeps its threads.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _spare_collector(arguments: argparse.Namespace) -> None:
    """No garbage collection while converting or inspecting one file in a process of its own: its collections
    only walk the objects the read makes, which live until the process ends anyway (ResNet50: 51 collections,
    6 ms of 0.2 s). Not for many files at once (each conversion's garbage is freed before the next), nor with
    --import (the user's code and Keras make garbage of their own)."""
    if getattr(arguments, "out_dir", None) is None and not arguments.import_module:
        gc.disable()


def _print(text: str) -> None:
    print(text)
    sys.stdout.flush()  # a closed pipe shows here, inside main's handlers


def _quiet_stdout() -> None:
    """After a closed pipe: send what Python still flushes at exit nowhere, instead of a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _imported(source: str, spec: str | None) -> object:
    """SRC as given, or with --import the live model Keras loads from it with the user's classes."""
    if spec is None:
        return source
    from converter.dependencies import require_keras
    from converter.keras_side import load_with_import

    require_keras("--import")
    return load_with_import(source, spec)


def _own_module(spec: str) -> object:
    """--module PACKAGE.MODULE:FACTORY: the user's module, built by their own code (explicitly asked for)."""
    from converter.user_code import user_module

    _, make = user_module(spec, "--module", "PACKAGE.MODULE:FACTORY, e.g. mynet:build", factory_required=True)
    factory = spec.partition(":")[2]
    try:
        built = make()
    except (ImportError, AttributeError) as error:  # as when importing: the user's code, one line
        raise converter.ArgumentError(f"--module {spec!r}: {error}") from None
    if not callable(built) or not hasattr(built, "named_modules"):
        raise converter.ArgumentError(f"--module {spec!r}: {factory}() returned a {type(built).__name__}, "
                                      "not a torch.nn.Module")
    return built


def _lambdas(values: list[str] | None) -> dict[str, str] | None:
    """`--lambda NAME=EXPR` options as {NAME: EXPR}."""
    if not values:
        return None
    lambdas: dict[str, str] = {}
    for value in values:
        name, equals, expression = value.partition("=")
        if not equals or not name.strip():
            raise converter.ArgumentError(f"--lambda {value[:60]!r}: expected NAME=EXPR, e.g. lambda_1='x / 255.0'")
        if name.strip() in lambdas:
            raise converter.ArgumentError(f"--lambda: {name.strip()} is given twice")
        lambdas[name.strip()] = expression
    return lambdas


def _mapping(value: str | None) -> object:
    """--map: 'order', or a JSON file of renames."""
    if value is None or value == "order":
        return value
    try:
        with open(value, encoding="utf-8") as handle:
            rules = json.load(handle)
    except (OSError, ValueError, RecursionError) as error:
        raise converter.ReadError(f"{value}: cannot read the --map rules ({error}); give a JSON object or "
                                  "a list of [regex, replacement] pairs") from None
    if isinstance(rules, dict) or (isinstance(rules, list) and all(
            isinstance(rule, list) and len(rule) == 2 for rule in rules)):
        return rules
    raise converter.ReadError(f"{value}: --map rules must be a JSON object or a list of [regex, replacement] pairs")


def _module_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
