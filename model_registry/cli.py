"""python -m model_registry: list, verify and roll back the versions of a registry."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from model_registry.format import (
    ARTIFACT_KEYS,
    RegistryError,
    list_versions,
    sha256_file,
    version_dir,
)
from model_registry.load import read_latest, read_metadata
from model_registry.publish import set_latest


def _list(root: Path, name: str) -> int:
    latest = read_latest(root, name)
    versions = list_versions(root, name)
    if not versions:
        print(f"no versions of {name} under {root}")
        return 0
    print(f"{'':2}{'version':<9}{'created (UTC)':<22}{'model':<8}{'accuracy':>9}  onnx  sha256")
    for version in versions:
        try:
            metadata = read_metadata(root, name, version)
        except RegistryError as exc:
            print(f"  {version:<9}unreadable: {exc}")
            continue
        marker = "* " if version == latest else "  "
        print(
            f"{marker}{version:<9}{metadata['created_at']:<22}{metadata['model_type']:<8}"
            f"{metadata['metrics']['accuracy']:>9.4f}  {'yes' if 'onnx' in metadata else 'no':<4}  "
            f"{metadata['artifact']['sha256'][:12]}"
        )
    return 0


def _verify(root: Path, name: str) -> int:
    bad = 0
    for version in list_versions(root, name):
        try:
            metadata = read_metadata(root, name, version)
            problems = []
            for key in ARTIFACT_KEYS:
                entry = metadata.get(key)
                if entry is None:
                    continue
                actual = sha256_file(version_dir(root, name, version) / entry["file"])
                if actual != entry["sha256"]:
                    problems.append(
                        f"{entry['file']}: sha256 {actual[:12]}… is not the recorded one"
                    )
        except (RegistryError, OSError) as exc:
            problems = [str(exc)]
        bad += bool(problems)
        print(
            f"{'BAD' if problems else 'ok '} {version}" + "".join(f"  ({p[:80]})" for p in problems)
        )
    return 1 if bad else 0


def _rollback(root: Path, name: str, version: str) -> int:
    before = read_latest(root, name)
    changed = set_latest(root, name, version)
    state = "now points at" if changed else "already pointed at"
    print(f"{name}: LATEST {state} {version} (was {before})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; errors are one line, exit code 1 or 2."""
    parser = argparse.ArgumentParser(prog="python -m model_registry", description=__doc__)
    parser.add_argument(
        "--registry",
        type=Path,
        default=Path(os.environ.get("MODEL_REGISTRY", "registry")),
        help="registry directory (env MODEL_REGISTRY)",
    )
    parser.add_argument(
        "--name",
        default=os.environ.get("MODEL_NAME", "iris-classifier"),
        help="model name (env MODEL_NAME)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the versions; * marks LATEST")
    commands.add_parser("verify", help="check every version's sha256 against its metadata")
    rollback = commands.add_parser("rollback", help="point LATEST at an earlier version")
    rollback.add_argument("--to", required=True, dest="version", help="e.g. v1")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.registry, args.name)
        if args.command == "verify":
            return _verify(args.registry, args.name)
        return _rollback(args.registry, args.name, args.version)
    except (RegistryError, OSError) as exc:
        print(f"model_registry: error: {exc}", file=sys.stderr)
        return 1
