"""README.md tells the truth: its commands exist, and CI runs its test command."""

from __future__ import annotations

import json
import re

import tasks
from labctl.settings import ROOT

README = (ROOT / "README.md").read_text()


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in section.strip().splitlines()]


def test_quick_start_is_one_lab_and_one_test_command():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0] == "./labs lab2"
    assert commands[1] == "./labs test"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in [line.strip() for line in ci]


def test_every_inv_command_in_the_readme_is_a_task():
    named = set(re.findall(r"`?(?:inv|\./labs) ([a-z0-9-]+)", README)) - {"--list"}
    assert named, "the README names no task"
    missing = named - set(tasks.ns.task_names)
    assert not missing, f"README names tasks that do not exist: {missing}"


def test_every_task_is_in_the_readme():
    assert set(tasks.ns.task_names) <= set(re.findall(r"`inv ([a-z0-9-]+)", README))


def test_linked_files_exist():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_readme_shows_the_committed_benchmark_run():
    from labctl.bench import report

    results = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    assert report.readme_block(README) == "\n".join(report.summary(results))


def _claims() -> dict[str, list[str]]:
    """README's hardening claims -> the tests each names."""
    section = README.split("## Hardening and reliability, proven", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return {
        row.split(" | ")[0].strip("| "): re.findall(r"`(test_[a-z0-9_]+\.py[^`]*)`", row)
        for row in rows
    }


def test_every_claim_names_tests_and_every_named_test_exists():
    claims = _claims()
    assert len(claims) >= 20
    for claim, named in claims.items():
        assert named, f"the claim {claim!r} names no test"
        for entry in named:
            filename, _, function = entry.partition("::")
            candidates = [ROOT / "tests" / "docker" / filename, ROOT / "tests" / filename]
            path = next((p for p in candidates if p.is_file()), None)
            assert path is not None, f"README names {filename}, which does not exist"
            if function:
                assert f"def {function}(" in path.read_text(), f"README names {entry}: no such test"
