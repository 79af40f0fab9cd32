"""The image-contents probe's rules, checked without an image."""

from __future__ import annotations

import pytest

from labctl.probes.image_contents import SECRET_NAME


@pytest.mark.parametrize(
    "name",
    [
        "id_rsa",
        "id_ed25519",
        "server.key",
        ".netrc",
        ".pypirc",
        ".git-credentials",
        "pip_ca",
        "ca_bundle",
        "token",
        ".token",
        "hf_token",
        "api-token.txt",
        "github.tokens",
        "TOKEN.json",
        ".bash_history",
        ".python_history",
    ],
)
def test_credential_file_names_are_caught(name):
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize(
    "name",
    [
        "_tokenizer.py",
        "_tokenizer.cpython-311.pyc",
        "tokenize.py",
        "tokens_test_data.csv",
        "keyboard.py",
        "monkey.py",
        "id_rsa.pub.txt",
    ],
)
def test_ordinary_file_names_are_not(name):
    assert not SECRET_NAME.search(name)


def test_a_private_key_is_caught_in_a_file(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labctl.probes.image_contents import private_keys

    key = tmp_path / "anything.txt"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert private_keys(str(key))


def test_a_library_naming_the_format_is_not_a_key(tmp_path):
    """cryptography's own ssh.py holds the armour line as a constant, with no key after it."""
    from labctl.probes.image_contents import private_keys

    source = tmp_path / "ssh.py"
    source.write_bytes(b'_SK_START = b"-----BEGIN OPENSSH PRIVATE KEY-----"\n_SK_END = b"..."\n')
    assert not private_keys(str(source))


@pytest.mark.parametrize(
    ("owner", "mode", "writable"),
    [
        ((0, 0), 0o755, False),
        ((0, 0), 0o777, True),
        ((0, 10001), 0o775, True),
        ((10001, 10001), 0o755, True),
        ((10001, 0), 0o555, False),
    ],
)
def test_writable_code_is_judged_for_the_services_user(tmp_path, owner, mode, writable):
    import os

    from labctl.probes.image_contents import writable_by_service

    path = tmp_path / "module.py"
    path.write_text("")
    os.chown(path, *owner)
    path.chmod(mode)
    assert writable_by_service(str(path)) is writable


@pytest.mark.parametrize(
    ("error", "reads"),
    [
        (TimeoutError("timed out"), "blocked"),
        (OSError(101, "Network is unreachable"), "blocked"),
        (OSError(113, "No route to host"), "blocked"),
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError"),
        (__import__("socket").gaierror(-2, "Name or service not known"), "gaierror"),
    ],
)
def test_only_isolation_reads_as_blocked(error, reads):
    """A refused connection means the host is reachable: never 'blocked' (an audit that
    counted every error as blocked could not tell isolation from a broken probe)."""
    from labctl.probes.reachability import outcome

    assert outcome(error) == reads
