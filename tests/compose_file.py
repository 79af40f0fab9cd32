"""The services of compose.yaml, read from the file, for tests that run once per service
(pytest parametrizes before any fixture runs). tests/test_structure.py proves this list
is the one Compose itself gives (`docker compose config --services`)."""

from __future__ import annotations

import yaml

from labctl.settings import ROOT


def service_names() -> list[str]:
    """The default stack's services: those of no profile (Compose's own list leaves a
    profile's services out until it is given, e.g. `--profile observe`)."""
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return [name for name, spec in services.items() if not spec.get("profiles")]
