"""`inv mutate` (labctl/mutate.py): which files it mutates, how it reads mutmut's verdicts,
and when it fails. mutmut itself is not run here: `inv mutate` is its own command."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Exit

from labctl import mutate

ROOT = Path(__file__).resolve().parent.parent

DIFF = """\
--- model_registry/publish.py
+++ model_registry/publish.py
@@ -1,3 +1,3 @@
 def _is_newer(candidate, current):
-    return version_number(candidate) > version_number(current)
+    return version_number(candidate) >= version_number(current)
"""


def test_the_core_is_mutated_and_the_command_line_is_not():
    files = mutate.mutated_files(ROOT)
    assert "model_registry/publish.py" in files
    assert "model_registry/load.py" in files
    assert "app/validation.py" in files
    assert "model_registry/cli.py" not in files
    assert all(f.endswith(".py") for f in files)


def test_a_path_becomes_mutmuts_pattern_and_an_unknown_one_is_refused():
    assert mutate.mutant_patterns(ROOT, None) == []
    assert mutate.mutant_patterns(ROOT, ["./app/validation.py"]) == ["app.validation.*"]
    with pytest.raises(Exit) as refused:
        mutate.mutant_patterns(ROOT, ["model_registry/cli.py"])
    assert refused.value.code == 2
    assert "is not mutated; choose from" in str(refused.value.message)


def test_the_copy_holds_the_code_and_the_unit_tests_only(tmp_path):
    work = tmp_path / "work"
    (work / "stale").mkdir(parents=True)  # a previous run's leftovers are removed
    mutate.prepare(ROOT, work)
    assert not (work / "stale").exists()
    assert (work / "model_registry" / "publish.py").is_file()
    assert (work / "app" / "validation.py").is_file()
    assert (work / "tests" / "test_registry.py").is_file()
    assert not (work / "tests" / "docker").exists()
    assert not list(work.rglob("__pycache__"))


def test_a_mutant_is_described_by_file_function_line_and_change():
    mutant = mutate.describe(
        "model_registry.publish.x__is_newer__mutmut_3", "survived", DIFF, Path("/nowhere")
    )
    assert mutant.change == mutate.Change(
        "model_registry/publish.py",
        "_is_newer",
        "return version_number(candidate) > version_number(current)",
        "return version_number(candidate) >= version_number(current)",
    )
    method = mutate.describe("app.validation.xǁRowǁcheck__mutmut_1", "killed", DIFF, Path("/"))
    assert method.change.file == "app/validation.py"
    assert method.change.function == "Row.check"
    with pytest.raises(ValueError, match="not a mutmut mutant id"):
        mutate.describe("tests.test_x", "killed", DIFF, Path("/"))


def test_a_mutant_is_placed_on_its_line_in_the_source(tmp_path):
    source = tmp_path / "model_registry" / "publish.py"
    source.parent.mkdir()
    source.write_text(
        "import os\n\n\n"
        "def _is_newer(candidate, current):\n"
        "    return version_number(candidate) > version_number(current)\n"
    )
    mutant = mutate.describe(
        "model_registry.publish.x__is_newer__mutmut_3", "survived", DIFF, tmp_path
    )
    assert mutant.line == 5
    assert mutant.where == "model_registry/publish.py:5 in _is_newer"
    # Code changed since mutmut ran: the function is gone, the mutant is still reported.
    source.write_text("import os\n")
    name = "model_registry.publish.x__is_newer__mutmut_3"
    assert mutate.describe(name, "survived", DIFF, tmp_path).line == 0


def _mutant(name: str, status: str) -> mutate.Mutant:
    return mutate.describe(
        f"model_registry.publish.x__is_newer__mutmut_{name}", status, DIFF, Path("/nowhere")
    )


def test_every_mutant_caught_passes_with_its_score():
    text, code = mutate.report({"a.x_f__mutmut_1": "killed", "a.x_f__mutmut_2": "timeout"}, [], {})
    assert code == 0
    assert "mutation score: 2/2 caught (100.0 %): killed 1, timeout 1" in text


def test_a_survivor_fails_the_run_and_is_shown_with_its_change():
    survivor = _mutant("3", "survived")
    verdicts = {"a.x_f__mutmut_1": "killed", survivor.name: "survived"}
    text, code = mutate.report(verdicts, [survivor], {})
    assert code == 1
    assert "mutation score: 1/2 caught (50.0 %)" in text
    assert f"[{survivor.name}]" in text
    assert "+ return version_number(candidate) >= version_number(current)" in text
    assert "1 survivors not known to be equivalent, 0 equivalent, 0 undecided" in text


def test_a_survivor_listed_as_equivalent_passes_with_its_reason():
    survivor = _mutant("3", "survived")
    reason = "versions are never equal here"
    text, code = mutate.report({survivor.name: "survived"}, [survivor], {survivor.change: reason})
    assert code == 0
    assert f"equivalent: {reason}" in text


def test_an_undecided_mutant_fails_the_run_and_a_stale_equivalent_is_noted():
    undecided = _mutant("4", "suspicious")
    stale = mutate.Change("app/validation.py", "f", "a", "b")
    text, code = mutate.report({undecided.name: "suspicious"}, [undecided], {stale: "why"})
    assert code == 1
    assert "mutants mutmut could not decide" in text
    assert "listed as equivalent, but did not survive" in text


def test_each_listed_equivalent_names_a_mutated_file_and_gives_a_reason():
    files = set(mutate.mutated_files(ROOT))
    for change, reason in mutate.EQUIVALENT.items():
        assert change.file in files, change
        assert len(reason) > 20, f"say why {change} behaves as the original does"


def test_no_verdict_at_all_fails_the_run():
    """Should mutmut's output change so that nothing is read, the run must not look clean."""
    text, code = mutate.report({}, [], {})
    assert code == 1
    assert "no mutant was judged" in text


def test_an_oom_kill_reported_as_segfault_is_undecided_not_caught():
    killed = _mutant("5", "segfault")
    text, code = mutate.report({killed.name: "segfault"}, [killed], {})
    assert code == 1
    assert "mutation score: 0/1 caught" in text
    assert "could not decide" in text


def test_one_equivalent_entry_vouches_for_one_survivor_only():
    first, second = _mutant("3", "survived"), _mutant("9", "survived")
    assert first.change == second.change  # the same line twice in a function
    verdicts = {first.name: "survived", second.name: "survived"}
    text, code = mutate.report(verdicts, [first, second], {first.change: "why it is the same"})
    assert code == 1
    assert "1 survivors not known to be equivalent, 1 equivalent" in text


def test_the_files_judged_are_read_from_the_mutant_ids():
    verdicts = {
        "model_registry.publish.x_set_latest__mutmut_1": "killed",
        "app.validation.xǁRowǁcheck__mutmut_2": "survived",
        "not a mutant id": "killed",
    }
    assert mutate.judged_files(verdicts) == {"model_registry/publish.py", "app/validation.py"}


def test_a_module_without_functions_needs_no_verdict(tmp_path):
    """mutmut mutates function bodies only: __init__.py's imports give it nothing to do."""
    assert not mutate.has_functions(ROOT / "model_registry" / "__init__.py")
    assert mutate.has_functions(ROOT / "model_registry" / "publish.py")
    method_only = tmp_path / "m.py"
    method_only.write_text("class A:\n    def f(self):\n        return 1\n")
    assert mutate.has_functions(method_only)


def test_mutmuts_results_listing_is_read_line_by_line(monkeypatch, tmp_path):
    """`mutmut results --all true` prints '    <id>: <status>' under headings; anything
    else (headings, blank lines, progress) is no verdict."""
    import re

    from invoke import MockContext, Result

    listing = (
        "model_registry/publish.py:\n"
        "    model_registry.publish.x_set_latest__mutmut_1: killed\n"
        "    model_registry.publish.x_set_latest__mutmut_2: survived\n"
        "\n"
        "    app.validation.xǁRowǁcheck__mutmut_3: no tests\n"
        "1.11 mutations/second\n"
    )
    monkeypatch.setattr(mutate, "_mutmut", lambda: "mutmut")
    c = MockContext(run={re.compile(r"mutmut results --all true$"): Result(stdout=listing)})
    assert mutate._results(c, tmp_path) == {
        "model_registry.publish.x_set_latest__mutmut_1": "killed",
        "model_registry.publish.x_set_latest__mutmut_2": "survived",
        "app.validation.xǁRowǁcheck__mutmut_3": "no tests",
    }
    failing = MockContext(run={re.compile("mutmut results"): Result(exited=1, stderr="boom")})
    with pytest.raises(Exit, match="'mutmut results' failed: boom"):
        mutate._results(failing, tmp_path)
