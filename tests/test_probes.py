"""The image-contents probe's rules, checked without an image."""

from __future__ import annotations

import pytest

from labctl.probes.image_contents import SECRET_NAME


@pytest.mark.parametrize(
    "name",
    ["id_rsa", "id_ed25519", "server.key", ".netrc", ".pypirc", ".git-credentials", "pip_ca", "ca_bundle",
     "token", ".token", "hf_token", "api-token.txt", "github.tokens", "TOKEN.json",
     ".bash_history", ".python_history"],
)  # fmt: skip
def test_credential_file_names_are_caught(name):
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize(
    "name",
    ["_tokenizer.py", "_tokenizer.cpython-311.pyc", "tokenize.py", "tokens_test_data.csv",
     "keyboard.py", "monkey.py", "id_rsa.pub.txt"],
)  # fmt: skip
def test_ordinary_file_names_are_not(name):
    assert not SECRET_NAME.search(name)
