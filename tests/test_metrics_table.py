"""README's metrics table is what /metrics exposes: the same names, types and labels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from app import metrics

README = Path(__file__).resolve().parent.parent / "README.md"
_ROW = re.compile(r"^\| `(\w+)` \| (\w+) \|([^|]*)\| [^|]+ \|$")


def readme_table() -> dict[str, tuple[str, tuple[str, ...]]]:
    """metric name -> (type, labels), from the rows between the table's markers."""
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- metrics-table -->", 1)[1].split("<!-- /metrics-table -->", 1)[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        match = _ROW.match(line)
        assert match, f"README metrics row not in the table's form: {line!r}"
        name, kind, labels = match.groups()
        rows[name] = (kind, tuple(re.findall(r"`(\w+)`", labels)))
    return rows


def _families(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """metric name -> (type, labels), as a scrape shows them (the labels of any sample)."""
    found = {}
    for family in text_string_to_metric_families(text):
        labels = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        name = family.name + ("_total" if family.type == "counter" else "")
        found[name] = (family.type, tuple(sorted(labels)))
    return found


# As under gunicorn: multi-process metrics, in a child with its own directory (the
# client library picks its storage at import), after a request and a prediction.
CHILD = """
import sys
from pathlib import Path
from app import create_app, metrics
app = create_app({"registry": Path(sys.argv[1]), "trusted_keys": Path(sys.argv[2]),
                  "reload_interval_s": 0, "log_requests": False})
answer = app.test_client().post("/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
assert answer.status_code == 200, answer.data
sys.stdout.write(metrics.exposition().decode())
"""


def test_the_readme_table_is_what_metrics_exposes(registry, trusted_dir, tmp_path):
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(registry), str(trusted_dir)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exposed = _families(result.stdout)
    documented = {
        name: (kind, tuple(sorted(labels))) for name, (kind, labels) in readme_table().items()
    }
    # Under gunicorn serving_model_info has a series per worker: the pid label.
    kind, labels = documented["serving_model_info"]
    documented["serving_model_info"] = (kind, tuple(sorted((*labels, "pid"))))
    assert documented == exposed


def test_every_metric_has_the_application_prefix_and_one_row():
    defined = {
        value._name + ("_total" if value._type == "counter" else "")
        for value in vars(metrics).values()
        if hasattr(value, "_type") and hasattr(value, "_name")
    }
    assert defined == set(readme_table())
    assert all(name.startswith(metrics.PREFIX) for name in defined)
