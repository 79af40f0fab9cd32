"""Command line of the training container: train, report, publish."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from model_registry import RegistryError, ensure_key, publish
from training import data
from training.evaluate import format_report
from training.export_onnx import export_onnx, prove_equal, typed_tensors
from training.model import MODEL_TYPES
from training.settings import SEED, TEST_SIZE, Range, TrainingSettings
from training.train import metadata_fields, train

EXIT_USAGE = 2
EXIT_FAILED = 1


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument gives one clear line (and exit code 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _in_range(value: float, allowed: Range) -> float:
    """The settings' own range check, in argparse's words."""
    try:
        return allowed.check(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# argparse names a type function in its "invalid _seed value" message.
def _fraction(text: str) -> float:
    return _in_range(float(text), TEST_SIZE)


def _seed(text: str) -> int:
    return int(_in_range(int(text), SEED))


def parse_args(argv: list[str] | None, defaults: TrainingSettings) -> tuple[TrainingSettings, bool]:
    """Command-line options override the environment's defaults; also return --json."""
    parser = _OneLineParser(
        prog="python -m training",
        description="Train the iris classifier, print its report and publish it to the registry.",
    )
    parser.add_argument(
        "--registry",
        type=Path,
        default=defaults.registry,
        help="model registry directory (env MODEL_REGISTRY; default %(default)s)",
    )
    parser.add_argument(
        "--name",
        default=defaults.model_name,
        help="model name in the registry (env MODEL_NAME; default %(default)s)",
    )
    parser.add_argument(
        "--model",
        choices=MODEL_TYPES,
        default=defaults.model_type,
        help="estimator after the scaler (env MODEL_TYPE; default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=defaults.seed,
        help="seed of the split and the estimator (env TRAINING_SEED; default %(default)s)",
    )
    parser.add_argument(
        "--test-size",
        type=_fraction,
        default=defaults.test_size,
        help="held-out share, 0.05-0.5 (env TRAINING_TEST_SIZE; default %(default)s)",
    )
    parser.add_argument(
        "--no-publish",
        action="store_true",
        help="train and report only; write nothing to the registry",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON instead of a table",
    )
    args = parser.parse_args(argv)
    return replace(
        defaults,
        registry=args.registry,
        model_name=args.name,
        model_type=args.model,
        seed=args.seed,
        test_size=args.test_size,
        publish=not args.no_publish,
    ), args.json


def _skl2onnx_version() -> str:
    import skl2onnx

    return skl2onnx.__version__


def _one_line(exc: BaseException) -> str:
    """An error's words on one line (a converter's message can run to a dozen)."""
    return " ".join(str(exc).split())


def _onnx_with_proof(pipeline, dataset: data.Dataset) -> tuple[bytes, dict, dict]:
    """The ONNX graph serving will run, the proof it answers as the pipeline does, and
    its typed tensors.

    Raises (any converter or runtime error, or NotEqual): a model serving cannot run
    the same way is not published at all.
    """
    graph = export_onnx(pipeline, len(dataset.feature_names))
    proof = prove_equal(pipeline, graph, len(dataset.feature_names))
    return graph, proof, typed_tensors(graph)


def _emit(text: str) -> None:
    """Write the report to stdout; a reader that went away (`| head`) stops nothing else.

    The model is still published, and Python's exit does not die on the closed pipe
    (the recipe of the `signal` module's documentation: stdout goes to devnull).
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Train, print the report, publish; return the process exit code."""
    try:
        defaults = TrainingSettings.from_env()
    except ValueError as exc:
        print(f"training: error: bad environment setting: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings, as_json = parse_args(argv, defaults)
    pipeline, dataset, metrics = train(settings)
    fields = metadata_fields(settings, dataset, metrics)
    graph, not_convertible = None, None
    if settings.publish:
        try:
            graph, fields["onnx_proof"], tensors = _onnx_with_proof(pipeline, dataset)
            fields["signature"]["tensors"] = tensors
            fields["framework"]["skl2onnx"] = _skl2onnx_version()
        except Exception as exc:  # any converter or runtime failure: nothing is published
            not_convertible = exc
    # The run's record is complete before it is printed or written: what --json prints,
    # report.json holds and metadata.json starts from are the same fields.
    record = json.dumps(fields, indent=2) + "\n"
    title = f"{settings.model_name} ({settings.model_type}, seed {settings.seed})"
    _emit(record if as_json else format_report(metrics, title) + "\n")
    # With --json, stdout carries the JSON document only: the rest is for people.
    notes = sys.stderr if as_json else sys.stdout
    if not settings.publish:
        return 0
    if not_convertible is not None:
        print(
            f"training: error: not published: no ONNX graph answers as the pipeline does "
            f"({_one_line(not_convertible)}); serving runs ONNX only",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        key, made = ensure_key(settings.signing_key, settings.trusted_keys)
        if made:
            print(
                f"training: made signing key {key.key_id} ({settings.signing_key}); "
                f"its public half is trusted in {settings.trusted_keys}",
                file=sys.stderr,
            )
        published = publish(
            settings.registry,
            settings.model_name,
            pipeline,
            fields,
            onnx_model=graph,
            signing_key=key,
            extra_files={"report.json": record},
        )
    except (RegistryError, OSError) as exc:
        print(f"training: error: not published: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    state = "LATEST now points at it" if published.latest_updated else "LATEST left unchanged"
    print(
        f"\npublished {published.name} {published.version} to {published.path} "
        f"(sha256 {published.sha256[:12]}…, signed by {key.key_id}); {state}",
        file=notes,
    )
    return 0
