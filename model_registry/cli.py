"""python -m model_registry: list, verify and roll back the versions of a registry; clean it;
show and rotate the signing keys."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from model_registry import signing
from model_registry.clean import STALE_AFTER_S, remove_litter
from model_registry.files import read_file
from model_registry.format import (
    LATEST_FILE,
    SIGNATURE_FILE,
    SIGNATURE_MAX_BYTES,
    RegistryError,
    list_versions,
    model_dir,
    version_dir,
)
from model_registry.load import read_latest, read_metadata, verify_version
from model_registry.publish import set_latest


def _latest_state(root: Path, name: str, versions: list[str]) -> tuple[str | None, str]:
    """The version LATEST names, and what is wrong with LATEST ("" when nothing is)."""
    try:
        latest = read_latest(root, name)
    except RegistryError as exc:
        return None, str(exc)
    if latest is not None and latest not in versions:
        return None, f"{LATEST_FILE} names {latest}, which is not published"
    return latest, ""


def _signer(root: Path, name: str, version: str) -> str:
    """The key id a version says it is signed by (not checked: `verify` does that)."""
    path = version_dir(root, name, version) / SIGNATURE_FILE
    try:
        document = json.loads(read_file(root, path, SIGNATURE_MAX_BYTES))
    except FileNotFoundError:
        return "UNSIGNED"
    except (OSError, ValueError, RegistryError):
        return "damaged"
    key = document.get("key_id") if isinstance(document, dict) else None
    return key if isinstance(key, str) else "damaged"


def _list(root: Path, name: str) -> int:
    versions = list_versions(root, name)
    latest, damage = _latest_state(root, name, versions)
    if not versions:
        print(f"no versions of {name} under {root}")
    else:
        header = f"{'':2}{'version':<9}{'created (UTC)':<22}{'model':<8}{'accuracy':>9}"
        print(f"{header}  {'signed by':<16}  sha256")
    for version in versions:
        marker = "* " if version == latest else "  "
        try:
            metadata = read_metadata(root, name, version)
        except RegistryError as exc:
            print(f"{marker}{version:<9}damaged: {exc}")
            continue
        accuracy = metadata["metrics"].get("accuracy")
        shown = f"{accuracy:>9.4f}" if type(accuracy) in (int, float) else f"{'?':>9}"
        print(
            f"{marker}{version:<9}{metadata['created_at']:<22}{metadata['model_type']:<8}"
            f"{shown}  {_signer(root, name, version):<16}  {metadata['artifact']['sha256'][:12]}"
        )
    if damage:
        print(f"{LATEST_FILE} is damaged: {damage}; repair it with: rollback --to vN")
    if versions:
        print("('signed by' is what each version claims; 'verify' checks the signatures)")
    return 0


def _verify(root: Path, name: str, trusted: signing.TrustedKeys) -> int:
    versions = list_versions(root, name)
    bad = 0
    for version in versions:
        try:
            verify_version(root, name, version, trusted)
            problem = ""
        except RegistryError as exc:
            problem = str(exc)
        bad += bool(problem)
        print(f"BAD {version}  ({problem})" if problem else f"ok  {version}")
    _, damage = _latest_state(root, name, versions)
    if damage:
        bad += 1
        print(f"BAD {LATEST_FILE}  ({damage})")
    return 1 if bad else 0


def _rollback(root: Path, name: str, version: str, trusted: signing.TrustedKeys) -> int:
    before, damage = _latest_state(root, name, list_versions(root, name))
    changed = set_latest(root, name, version, trusted=trusted)
    state = "now points at" if changed else "already pointed at"
    was = f"damaged: {damage}" if damage else before
    print(f"{name}: {LATEST_FILE} {state} {version} (was {was})")
    return 0


def _clean(root: Path, name: str) -> int:
    cleaned = remove_litter(root, name)
    for path, age in cleaned.removed.items():
        print(f"removed {path.name} ({age / 3600:.1f} h old)")
    for problem in cleaned.failed:
        print(f"model_registry: error: {problem}", file=sys.stderr)
    if not cleaned.removed and not cleaned.failed:
        print(
            f"nothing to clean under {model_dir(root, name)} "
            f"(leftovers younger than {STALE_AFTER_S // 3600} h are kept: a publisher may own them)"
        )
    return 1 if cleaned.failed else 0


def _keys(private_path: Path, trusted_dir: Path, action: str) -> int:
    if action == "rotate":
        key = signing.create_key(private_path, trusted_dir)
        print(f"new signing key {key.key_id}; the older keys stay trusted (see 'keys show')")
    elif action == "ensure":
        key, made = signing.ensure_key(private_path, trusted_dir)
        print(f"{'made' if made else 'kept'} signing key {key.key_id} at {private_path}")
    else:
        current = signing.load_signing_key(private_path).key_id if private_path.exists() else None
        trusted = signing.load_trusted_keys(trusted_dir) if trusted_dir.is_dir() else {}
        for key_id in trusted:
            print(f"{key_id}  trusted{'  (signs new versions)' if key_id == current else ''}")
        if not trusted:
            print(f"no trusted keys in {trusted_dir}")
        if current is None:
            print(f"no signing key here ({private_path})")
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
    default_key, default_trusted = signing.key_paths(os.environ)
    parser.add_argument(
        "--trusted-keys",
        type=Path,
        default=default_trusted,
        help=f"folder of trusted public keys (env {signing.TRUSTED_KEYS_VARIABLE})",
    )
    parser.add_argument(
        "--signing-key",
        type=Path,
        default=default_key,
        help=f"the private key training signs with (env {signing.SIGNING_KEY_VARIABLE})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the versions; * marks LATEST")
    commands.add_parser(
        "verify", help="check every version (signature, metadata, sha256s) and LATEST"
    )
    rollback = commands.add_parser(
        "rollback", help="point LATEST at another version, once it passes verify's checks"
    )
    rollback.add_argument("--to", required=True, dest="version", help="e.g. v1")
    commands.add_parser(
        "clean",
        help=f"remove what killed publishers left (unchanged for {STALE_AFTER_S // 3600} h)",
    )
    keys = commands.add_parser(
        "keys", help="show the trusted keys, make the signing key if missing, or rotate it"
    )
    keys.add_argument("action", choices=("show", "ensure", "rotate"), nargs="?", default="show")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.registry, args.name)
        if args.command == "clean":
            return _clean(args.registry, args.name)
        if args.command == "keys":
            return _keys(args.signing_key, args.trusted_keys, args.action)
        trusted = signing.load_trusted_keys(args.trusted_keys)
        if args.command == "verify":
            return _verify(args.registry, args.name, trusted)
        return _rollback(args.registry, args.name, args.version, trusted)
    except (RegistryError, OSError) as exc:
        print(f"model_registry: error: {exc}", file=sys.stderr)
        return 1
