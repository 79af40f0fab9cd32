"""python -m model_registry: list, verify (every signed file), rollback, clean and keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from model_registry import load_trusted_keys, read_latest, verify_version
from model_registry.cli import main
from model_registry.signing import load_signing_key

NAME = "iris-classifier"
SIGNER = 4  # column of a version's row that names its key (after version, date, model, accuracy)


@pytest.fixture
def registry(tmp_path, publish_as_training):
    """v1 and v2, published as training publishes them."""
    publish_as_training(tmp_path)
    publish_as_training(tmp_path)
    return tmp_path


@pytest.fixture
def run(trusted_dir):
    """run(registry, *args): the command line, trusting the session's keys folder."""

    def _run(registry, *args) -> int:
        return main(["--registry", str(registry), "--trusted-keys", str(trusted_dir), *args])

    return _run


def test_list_marks_latest_and_says_who_signed_each_version(registry, run, signing_key, capsys):
    assert run(registry, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "signed by" in lines[0]
    v1, v2 = lines[1].split(), lines[2].split()
    assert (v1[0], v1[SIGNER]) == ("v1", signing_key.key_id)
    assert (v2[:2], v2[SIGNER + 1]) == (["*", "v2"], signing_key.key_id)
    assert lines[-1] == "('signed by' is what each version claims; 'verify' checks the signatures)"


@pytest.mark.parametrize(
    ("damage", "shown"),
    [("removed", "UNSIGNED"), ("garbage", "damaged"), ("not an object", "damaged")],
)
def test_list_shows_an_unsigned_or_damaged_signature(registry, run, capsys, damage, shown):
    signature = registry / NAME / "v1" / "signature.json"
    if damage == "removed":
        signature.unlink()
    else:
        signature.write_text("{not json" if damage == "garbage" else "[1, 2]")
    assert run(registry, "list") == 0
    v1 = capsys.readouterr().out.splitlines()[1].split()
    assert (v1[0], v1[SIGNER]) == ("v1", shown)


def test_verify_passes_an_intact_registry(registry, run, capsys):
    assert run(registry, "verify") == 0
    assert capsys.readouterr().out.split() == ["ok", "v1", "ok", "v2"]


def test_verify_reads_the_trusted_keys_from_the_environment(
    registry, trusted_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted_dir))
    assert main(["--registry", str(registry), "verify"]) == 0
    assert capsys.readouterr().out.split() == ["ok", "v1", "ok", "v2"]
    (tmp_path / "no-keys").mkdir()
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(tmp_path / "no-keys"))
    assert main(["--registry", str(registry), "verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["BAD", "v1"], ["BAD", "v2"]]
    assert "which is not trusted" in out[0]


def test_verify_without_a_trusted_keys_folder_is_one_line(registry, tmp_path, capsys):
    code = main(
        ["--registry", str(registry), "--trusted-keys", str(tmp_path / "nowhere"), "verify"]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("model_registry: error: cannot read the trusted keys in ")
    assert captured.err.count("\n") == 1 and captured.out == ""


@pytest.mark.parametrize(
    "damaged", ["model.joblib", "model.onnx", "metadata.json", "report.json", "signature.json"]
)
def test_verify_names_the_damaged_file(registry, run, capsys, damaged):
    with open(registry / NAME / "v2" / damaged, "ab") as handle:
        handle.write(b"\0")
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1"
    assert out[1].startswith("BAD v2")
    expected = (
        "unreadable signature.json" if damaged == "signature.json" else f"sha256 of {damaged}"
    )
    assert expected in out[1]


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("unsigned", "v2 is not signed (no signature.json)"),
        ("untrusted", "which is not trusted"),
        ("extra file", "notes.txt not covered by the signature"),
    ],
)
def test_verify_refuses_what_the_trusted_keys_did_not_sign(
    registry, run, capsys, untrusted_key, resign, damage, says
):
    version = registry / NAME / "v2"
    if damage == "unsigned":
        (version / "signature.json").unlink()
    elif damage == "untrusted":
        resign(version, key=untrusted_key)
    else:
        (version / "notes.txt").write_text("harmless?\n")
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1" and out[1].startswith("BAD v2  (") and says in out[1]
    assert len(out) == 2


def test_rollback_moves_latest_and_refuses_unknown_versions(registry, run, capsys):
    assert run(registry, "rollback", "--to", "v1") == 0
    assert read_latest(registry, NAME) == "v1"
    assert "LATEST now points at v1 (was v2)" in capsys.readouterr().out
    assert run(registry, "rollback", "--to", "v9") == 1
    assert capsys.readouterr().err.startswith("model_registry: error: ")


@pytest.mark.parametrize("damage", ["unsigned", "untrusted"])
def test_rollback_refuses_a_version_no_trusted_key_signed(
    registry, run, capsys, untrusted_key, resign, damage
):
    version = registry / NAME / "v1"
    if damage == "unsigned":
        (version / "signature.json").unlink()
    else:
        resign(version, key=untrusted_key)
    assert run(registry, "rollback", "--to", "v1") == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: ") and err.count("\n") == 1
    assert "not signed" in err if damage == "unsigned" else "not trusted" in err
    assert read_latest(registry, NAME) == "v2"


def _damage_metadata(registry, version, change):
    path = registry / NAME / version / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(change)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": 5},
        {"metrics": ["not", "an", "object"]},
        {"model_type": None},
        {"artifact": {"file": "model.joblib", "size_bytes": 1}},
    ],
)
def test_list_shows_metadata_of_the_wrong_shape_as_damaged(registry, run, capsys, change):
    _damage_metadata(registry, "v1", change)
    assert run(registry, "list") == 0
    v1, v2 = capsys.readouterr().out.splitlines()[1:3]
    assert v1.split()[:2] == ["v1", "damaged:"]
    assert v2.split()[:2] == ["*", "v2"]


def test_verify_reports_a_missing_checksum_without_a_traceback(registry, run, resign, capsys):
    _damage_metadata(registry, "v2", {"artifact": {"file": "model.joblib", "size_bytes": 1}})
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == "ok  v1" and out[1].startswith("BAD v2") and "sha256 of metadata.json" in out[1]
    )
    resign(registry / NAME / "v2")  # the shape is checked even when the signature holds
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1" and out[1].startswith("BAD v2") and "artifact" in out[1]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_rollback_refuses_a_damaged_version_and_leaves_latest(registry, run, capsys, damage):
    artifact = registry / NAME / "v1" / "model.joblib"
    if damage == "corrupt":
        artifact.write_bytes(artifact.read_bytes()[:-1])
    else:
        artifact.unlink()
    assert run(registry, "rollback", "--to", "v1") == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: ") and "model.joblib" in err
    assert len(err.splitlines()) == 1
    assert read_latest(registry, NAME) == "v2"


def test_a_garbage_latest_is_listed_as_damaged_and_repaired_by_rollback(registry, run, capsys):
    (registry / NAME / "LATEST").write_bytes(b"\xff garbage \x00\n")
    assert run(registry, "list") == 0
    out = capsys.readouterr().out
    assert "LATEST is damaged" in out and "rollback --to" in out
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["v1", "v2"]
    assert run(registry, "verify") == 1
    assert "BAD LATEST" in capsys.readouterr().out
    assert run(registry, "rollback", "--to", "v2") == 0
    assert "LATEST now points at v2 (was damaged" in capsys.readouterr().out
    assert read_latest(registry, NAME) == "v2"


def test_verify_reports_latest_naming_a_missing_version(registry, run, capsys):
    (registry / NAME / "LATEST").write_text("v7\n")
    assert run(registry, "verify") == 1
    assert "BAD LATEST" in capsys.readouterr().out


def test_list_orders_v10_after_v9_and_marks_it(tmp_path, run, publish_as_training, capsys):
    for _ in range(10):
        publish_as_training(tmp_path)
    assert run(tmp_path, "list") == 0
    rows = capsys.readouterr().out.splitlines()[1:-1]
    assert [row[2:].split()[0] for row in rows][-2:] == ["v9", "v10"]
    assert rows[-1].startswith("* v10")


def test_clean_says_what_it_removed_and_keeps_fresh_litter(registry, run, capsys):
    directory = registry / NAME
    for name, age in ((".staging-old", 7200), (".staging-new", 10), ("LATEST.tmp-old", 7200)):
        path = directory / name
        if name.startswith(".staging"):
            path.mkdir()
        else:
            path.write_text("v1\n")
        os.utime(path, (time.time() - age, time.time() - age))
    assert run(registry, "clean") == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[:2] for line in out) == [
        ["removed", ".staging-old"],
        ["removed", "LATEST.tmp-old"],
    ]
    assert (directory / ".staging-new").is_dir() and read_latest(registry, NAME) == "v2"
    assert run(registry, "clean") == 0
    assert capsys.readouterr().out.startswith("nothing to clean")


# ---------------------------------------------------------------- keys


def keys(tmp_path, *args) -> int:
    """`keys ...` on a keys folder of its own (never the session's)."""
    return main(
        [
            "--signing-key",
            str(tmp_path / "signing" / "signing-key.pem"),
            "--trusted-keys",
            str(tmp_path / "trusted"),
            "keys",
            *args,
        ]
    )


def test_keys_ensure_makes_the_key_once(tmp_path, capsys):
    private_path = tmp_path / "signing" / "signing-key.pem"
    assert keys(tmp_path, "ensure") == 0
    made = capsys.readouterr().out
    key = load_signing_key(private_path).key_id
    assert made == f"made signing key {key} at {private_path}\n"
    assert keys(tmp_path, "ensure") == 0
    assert capsys.readouterr().out == f"kept signing key {key} at {private_path}\n"
    assert set(load_trusted_keys(tmp_path / "trusted")) == {key}


def test_keys_rotate_and_show(tmp_path, capsys):
    private_path = tmp_path / "signing" / "signing-key.pem"
    assert keys(tmp_path, "show") == 0  # nothing made yet: no trusted-keys folder either
    assert capsys.readouterr().out == (
        f"no trusted keys in {tmp_path / 'trusted'}\nno signing key here ({private_path})\n"
    )
    (tmp_path / "trusted").mkdir()  # a reader's host: a trusted-keys folder, no private key
    assert keys(tmp_path, "show") == 0
    assert capsys.readouterr().out == (
        f"no trusted keys in {tmp_path / 'trusted'}\nno signing key here ({private_path})\n"
    )
    assert keys(tmp_path, "ensure") == 0
    old = load_signing_key(private_path).key_id
    capsys.readouterr()
    assert keys(tmp_path) == 0  # show is the default
    assert capsys.readouterr().out == f"{old}  trusted  (signs new versions)\n"
    assert keys(tmp_path, "rotate") == 0
    new = load_signing_key(private_path).key_id
    assert new != old
    assert capsys.readouterr().out == (
        f"new signing key {new}; the older keys stay trusted (see 'keys show')\n"
    )
    assert keys(tmp_path, "show") == 0
    assert sorted(capsys.readouterr().out.splitlines()) == sorted(
        [f"{old}  trusted", f"{new}  trusted  (signs new versions)"]
    )


def test_keys_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "signing").mkdir()
    (tmp_path / "signing" / "signing-key.pem").write_text("not a key")
    assert keys(tmp_path, "show") == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: unreadable signing key") and err.count("\n") == 1
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code = main(
        ["--signing-key", str(blocker / "k.pem"), "--trusted-keys", str(blocker), "keys", "rotate"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: ") and err.count("\n") == 1


def test_training_signs_with_the_rotated_key_and_old_versions_still_verify(
    tmp_path, monkeypatch, capsys
):
    """`python -m model_registry keys rotate` between two training runs, from the shell."""
    from training.cli import main as training_main

    private_path, trusted, root = tmp_path / "signing.pem", tmp_path / "trusted", tmp_path / "reg"
    monkeypatch.setenv("MODEL_SIGNING_KEY", str(private_path))
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted))
    assert training_main(["--registry", str(root)]) == 0
    old = load_signing_key(private_path).key_id
    rotate = subprocess.run(
        [sys.executable, "-m", "model_registry", "keys", "rotate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotate.returncode == 0, rotate.stderr
    new = load_signing_key(private_path).key_id
    assert (
        rotate.stdout == f"new signing key {new}; the older keys stay trusted (see 'keys show')\n"
    )
    assert training_main(["--registry", str(root)]) == 0
    assert f"signed by {new})" in capsys.readouterr().out

    def signer(version):
        return json.loads((root / NAME / version / "signature.json").read_text())["key_id"]

    assert (signer("v1"), signer("v2")) == (old, new)
    for version in ("v1", "v2"):
        verify_version(root, NAME, version, load_trusted_keys(trusted))
    assert main(["--registry", str(root), "verify"]) == 0
    assert capsys.readouterr().out.split() == ["ok", "v1", "ok", "v2"]
