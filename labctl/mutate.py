"""`inv mutate`: mutation testing of the registry and the request validation, with mutmut.

mutmut changes the code one small way at a time (`>` into `>=`, an argument into None,
`and` into `or`, ...) and runs the unit tests that reach the changed function. A mutant
that no test notices "survives": it marks behaviour the tests do not pin down. What is
mutated, and which tests run, is `[tool.mutmut]` in pyproject.toml.

mutmut works in the folder it is started from and writes its mutants/ copy of the code
there, which ruff, git and image builds must not see; so it runs on a copy of the tree
under build/mutmut/ (ignored by git), made afresh for every run: no result is carried
over from code or tests that have changed since.

A survivor fails the run unless EQUIVALENT lists it, with the reason why no test can tell
it from the original.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from invoke import Context, Exit

WORK_DIR = Path("build") / "mutmut"
# What the copy holds: the configuration, the code the tests import, the unit tests.
COPIED_DIRS = ("envvars", "model_registry", "app", "training")
COPIED_FILES = ("pyproject.toml",)

# mutmut's verdicts, as `mutmut results` words them, by what they mean here.
# "segfault" is not among them: mutmut reports any SIGKILL so, an OOM kill of the test
# run included, which proves nothing about the mutant; it is left undecided.
CAUGHT = frozenset({"killed", "timeout", "caught by type check"})
SURVIVING = frozenset({"survived", "no tests"})


class Change(NamedTuple):
    """A mutant's identity, stable while the code around it changes: the file, the
    function, and the line(s) as they are and as the mutant has them (stripped)."""

    file: str
    function: str
    before: str
    after: str


# Survivors no test can kill, because they behave as the original does. Each key is
# what the report prints for the mutant; the value says why it is equivalent.
_NOT_FOLLOWED = "follow_symlinks=None is false, as False is: the link itself is stat'ed"
_ONE_MORE_BYTE = (
    "reading limit + 2 bytes instead of limit + 1 gives the same verdict: anything over the "
    "limit is refused either way, and nothing over it is returned"
)
_WHOLE_FILE = (
    "read(None) reads the whole file in one go: the same sha256, only more memory for a big "
    "artifact (no test holds gigabytes to tell them apart)"
)
_CODEC_CASE = "codec names are case-insensitive: 'UTF-8' is 'utf-8', 'ASCII' is 'ascii'"
_ASCII_TEXT = (
    "what is written is ASCII whatever the encoding: a version name ('vN') or JSON dumped "
    "with ensure_ascii (every non-ASCII character escaped)"
)
_UNIQUE_NAME = (
    "8, 9 or 32 random bytes: unique beside the key either way (O_EXCL refuses a clash), "
    "and the name stays short (69 characters at most) whatever the key's own name"
)
_NO_LATEST = (
    "None and '' both mean LATEST names nothing: neither equals a version, both are false "
    "in 'only_if_newer and current'"
)
_SAME_VERSION = (
    "an equal version already returned one line earlier (current == version), and "
    "check_version allows no leading zero, so equal numbers are equal names"
)
_FLOATS = (
    "every value in it has passed in_range(), which returns a Python float, so numpy makes "
    "a float64 array with or without the dtype"
)
EQUIVALENT: dict[Change, str] = {
    Change(
        "app/validation.py",
        "instances_from_json",
        "return np.asarray(rows, dtype=np.float64)",
        "return np.asarray(rows, dtype=None)",
    ): _FLOATS,
    Change(
        "app/validation.py",
        "instances_from_json",
        "return np.asarray(rows, dtype=np.float64)",
        "return np.asarray(rows, )",
    ): _FLOATS,
    Change(
        "app/validation.py",
        "instance_from_form",
        "return np.asarray([values], dtype=np.float64)",
        "return np.asarray([values], dtype=None)",
    ): _FLOATS,
    Change(
        "app/validation.py",
        "instance_from_form",
        "return np.asarray([values], dtype=np.float64)",
        "return np.asarray([values], )",
    ): _FLOATS,
    Change(
        "app/validation.py",
        "parse_json_body",
        'text = body.decode("utf-8")',
        'text = body.decode("UTF-8")',
    ): _CODEC_CASE,
    Change(
        "model_registry/clean.py",
        "_last_change",
        "newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)",
        "newest = max(newest, entry.stat(follow_symlinks=None).st_mtime)",
    ): _NOT_FOLLOWED,
    Change(
        "model_registry/files.py",
        "read_file",
        "content = handle.read() if max_bytes is None else handle.read(max_bytes + 1)",
        "content = handle.read() if max_bytes is None else handle.read(max_bytes + 2)",
    ): _ONE_MORE_BYTE,
    Change(
        "model_registry/format.py",
        "sha256_file",
        "while chunk := handle.read(HASH_CHUNK_BYTES):",
        "while chunk := handle.read(None):",
    ): _WHOLE_FILE,
    Change(
        "model_registry/load.py",
        "_parse_metadata",
        'document = json.loads(raw.decode("utf-8"))',
        'document = json.loads(raw.decode("UTF-8"))',
    ): _CODEC_CASE,
    Change(
        "model_registry/load.py",
        "read_latest",
        'return check_version(content.decode("ascii").strip())',
        'return check_version(content.decode("ASCII").strip())',
    ): _CODEC_CASE,
    Change(
        "model_registry/load.py",
        "signed_files",
        'document = json.loads(raw.decode("utf-8"))',
        'document = json.loads(raw.decode("UTF-8"))',
    ): _CODEC_CASE,
    Change(
        "model_registry/publish.py",
        "_replace_latest",
        'with os.fdopen(fd, "w", encoding="ascii") as handle:',
        'with os.fdopen(fd, "w", ) as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "_replace_latest",
        'with os.fdopen(fd, "w", encoding="ascii") as handle:',
        'with os.fdopen(fd, "w", encoding="ASCII") as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "_replace_latest",
        'with os.fdopen(fd, "w", encoding="ascii") as handle:',
        'with os.fdopen(fd, "w", encoding=None) as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "_write_json",
        'with open(path, "w", encoding="utf-8") as handle:',
        'with open(path, "w", encoding="UTF-8") as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "_write_json",
        'with open(path, "w", encoding="utf-8") as handle:',
        'with open(path, "w", encoding=None) as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "_write_json",
        'with open(path, "w", encoding="utf-8") as handle:',
        'with open(path, "w", ) as handle:',
    ): _ASCII_TEXT,
    Change(
        "model_registry/publish.py",
        "publish",
        'with open(staging / filename, "w", encoding="utf-8") as handle:',
        'with open(staging / filename, "w", encoding="UTF-8") as handle:',
    ): _CODEC_CASE,
    Change(
        "model_registry/publish.py",
        "set_latest",
        "current = None",
        'current = ""',
    ): _NO_LATEST,
    Change(
        "model_registry/publish.py",
        "set_latest",
        "if only_if_newer and current and version_number(current) > version_number(version):",
        "if only_if_newer and current and version_number(current) >= version_number(version):",
    ): _SAME_VERSION,
    Change(
        "model_registry/signing.py",
        "_read_small",
        "content = handle.read(KEY_MAX_BYTES + 1)",
        "content = handle.read(KEY_MAX_BYTES + 2)",
    ): _ONE_MORE_BYTE,
    Change(
        "model_registry/signing.py",
        "_staged",
        'temporary = path.with_name(f".tmp-{secrets.token_hex(8)}")',
        'temporary = path.with_name(f".tmp-{secrets.token_hex(None)}")',
    ): _UNIQUE_NAME,
    Change(
        "model_registry/signing.py",
        "_staged",
        'temporary = path.with_name(f".tmp-{secrets.token_hex(8)}")',
        'temporary = path.with_name(f".tmp-{secrets.token_hex(9)}")',
    ): _UNIQUE_NAME,
    Change(
        "model_registry/signing.py",
        "sign",
        '"signature": base64.b64encode(signature).decode("ascii"),',
        '"signature": base64.b64encode(signature).decode("ASCII"),',
    ): _CODEC_CASE,
}


@dataclass(frozen=True)
class Mutant:
    """One mutant as mutmut left it: its id, verdict, where it is and what it changes."""

    name: str  # mutmut's id, e.g. model_registry.publish.x_set_latest__mutmut_7
    status: str
    change: Change
    line: int
    diff: str

    @property
    def where(self) -> str:
        return f"{self.change.file}:{self.line} in {self.change.function}"


def settings(root: Path) -> dict:
    """[tool.mutmut] of the project's pyproject.toml."""
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["mutmut"]


def mutated_files(root: Path) -> list[str]:
    """Every file [tool.mutmut] has mutmut mutate, relative to root."""
    config = settings(root)
    files = {
        path.relative_to(root).as_posix()
        for pattern in config["only_mutate"]
        for path in root.glob(pattern)
        if path.suffix == ".py"
    }
    excluded = {
        path.relative_to(root).as_posix()
        for pattern in config.get("do_not_mutate", [])
        for path in root.glob(pattern)
    }
    return sorted(files - excluded)


def mutant_patterns(root: Path, paths: list[str] | None) -> list[str]:
    """mutmut's names for the mutants of these files ("model_registry.publish.*"); [] is all.

    Exit when a path is not one [tool.mutmut] mutates.
    """
    if not paths:
        return []
    known = mutated_files(root)
    patterns = []
    for path in paths:
        relative = Path(path).as_posix().removeprefix("./")
        if relative not in known:
            raise Exit(f"{path} is not mutated; choose from {', '.join(known)}", code=2)
        patterns.append(relative.removesuffix(".py").replace("/", ".") + ".*")
    return patterns


def prepare(root: Path, work: Path) -> None:
    """A fresh copy, in work, of what mutmut mutates and what the unit tests need."""
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED_DIRS:
        shutil.copytree(root / name, work / name, ignore=ignore)
    for name in COPIED_FILES:
        shutil.copy2(root / name, work / name)
    # The unit tests only: the Docker tests (tests/docker/) never run under mutmut.
    (work / "tests").mkdir()
    for path in sorted((root / "tests").glob("*.py")):
        shutil.copy2(path, work / "tests" / path.name)


def _mutmut() -> str:
    """mutmut's command, next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "mutmut"
    return str(beside) if beside.exists() else "mutmut"


def _results(c: Context, work: Path) -> dict[str, str]:
    """Every mutant's verdict: {mutmut id: status}."""
    with c.cd(str(work)):
        listing = c.run(f"{_mutmut()} results --all true", hide=True, warn=True, pty=False)
    if not listing.ok:
        raise Exit(f"'mutmut results' failed: {listing.stderr.strip()[-500:]}", code=1)
    verdicts = {}
    for line in listing.stdout.splitlines():
        name, colon, status = line.strip().rpartition(": ")
        if colon and "__mutmut_" in name:
            verdicts[name] = status
    return verdicts


# mutmut's id of a mutant: module.x_function__mutmut_N, or module.xǁClassǁmethod__mutmut_N.
_MUTANT_ID = re.compile(
    r"^(?P<module>.+)\.x(?:_(?P<function>.+)|ǁ(?P<cls>.+)ǁ(?P<method>.+))__mutmut_\d+$"
)


def _source_of(module: str) -> str:
    """model_registry.publish -> model_registry/publish.py."""
    return module.replace(".", "/") + ".py"


def _function_span(source: str, qualified: str) -> tuple[int, int] | None:
    """First and last line of a function ("name" or "Class.name") in a module's source;
    None when the source no longer has it (it changed since mutmut ran)."""
    names = qualified.split(".")
    body = ast.parse(source).body
    for name in names[:-1]:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == name), [])
    functions = (n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    function = next((n for n in functions if n.name == names[-1]), None)
    if function is None:
        return None
    first = min([function.lineno] + [d.lineno for d in function.decorator_list])
    return first, function.end_lineno or first


def describe(name: str, status: str, diff: str, root: Path) -> Mutant:
    """A mutant from its id and the diff `mutmut show` prints for it."""
    parsed = _MUTANT_ID.match(name)
    if parsed is None:
        raise ValueError(f"not a mutmut mutant id: {name}")
    file = _source_of(parsed["module"])
    function = parsed["function"] or f"{parsed['cls']}.{parsed['method']}"
    body = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    removed = [line[1:].strip() for line in body if line.startswith("-")]
    added = [line[1:].strip() for line in body if line.startswith("+")]
    change = Change(file, function, " ".join(removed), " ".join(added))
    line = 0
    source_path = root / file
    span = _function_span(source_path.read_text(), function) if source_path.exists() else None
    if span is not None:
        first, last = span
        lines = source_path.read_text().splitlines()
        wanted = removed[0] if removed else ""
        line = next(
            (n for n in range(first, last + 1) if lines[n - 1].strip() == wanted),
            first,
        )
    return Mutant(name, status, change, line, diff)


def judged_files(verdicts: dict[str, str]) -> set[str]:
    """The source files that have at least one verdict."""
    return {_source_of(match["module"]) for name in verdicts if (match := _MUTANT_ID.match(name))}


def _show(c: Context, work: Path, name: str) -> str:
    """The diff of one mutant, as `mutmut show` prints it (its header line dropped)."""
    with c.cd(str(work)):
        shown = c.run(f"{_mutmut()} show {name}", hide=True, warn=True, pty=False)
    if not shown.ok:
        raise Exit(f"'mutmut show {name}' failed: {shown.stderr.strip()[-500:]}", code=1)
    return "\n".join(line for line in shown.stdout.splitlines() if not line.startswith("# "))


def _lines_of(mutant: Mutant) -> list[str]:
    """A mutant as the report shows it: verdict, place, id, then the line before and after."""
    return [
        f"  {mutant.status}  {mutant.where}  [{mutant.name}]",
        f"      - {mutant.change.before}",
        f"      + {mutant.change.after}",
    ]


def report(
    verdicts: dict[str, str], mutants: list[Mutant], equivalent: dict[Change, str]
) -> tuple[str, int]:
    """The score, every mutant not caught with its change, and the exit code: 1 when a
    survivor is not listed as equivalent, or mutmut left a mutant undecided."""
    counts: dict[str, int] = {}
    for status in verdicts.values():
        counts[status] = counts.get(status, 0) + 1
    caught = sum(n for status, n in counts.items() if status in CAUGHT)
    surviving = [m for m in mutants if m.status in SURVIVING]
    # Each entry vouches for one survivor: a second one with the same change (the same
    # line written twice in a function) is a new survivor, not covered by the first.
    listed, unlisted, vouched = [], [], set()
    for mutant in surviving:
        if mutant.change in equivalent and mutant.change not in vouched:
            vouched.add(mutant.change)
            listed.append(mutant)
        else:
            unlisted.append(mutant)
    undecided = [m for m in mutants if m.status not in SURVIVING | CAUGHT]
    lines = []
    if listed:
        lines.append("equivalent survivors (EQUIVALENT in labctl/mutate.py):")
    for mutant in listed:
        lines += [*_lines_of(mutant), f"      equivalent: {equivalent[mutant.change]}"]
    if undecided:
        lines.append("mutants mutmut could not decide (see 'mutmut browse' in build/mutmut):")
    for mutant in undecided:
        lines += _lines_of(mutant)
    if unlisted:
        lines.append("surviving mutants: no test tells them from the code; kill them or list them")
    for mutant in unlisted:
        lines += _lines_of(mutant)
    for change in equivalent.keys() - {m.change for m in surviving}:
        lines.append(f"note: listed as equivalent, but did not survive: {change}")
    breakdown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    total = len(verdicts)
    score = f"{caught}/{total} caught ({100 * caught / total:.1f} %)" if total else "no mutants"
    lines.append(f"mutation score: {score}: {breakdown}")
    lines.append(
        f"{len(unlisted)} survivors not known to be equivalent, {len(listed)} equivalent, "
        f"{len(undecided)} undecided"
    )
    if not total:
        lines.append("no mutant was judged: mutmut's output was not understood, or nothing ran")
    return "\n".join(lines), 1 if unlisted or undecided or not total else 0


def run(c: Context, root: Path, paths: list[str] | None = None, jobs: int = 2) -> int:
    """Mutation-test [tool.mutmut]'s files (or only `paths`, e.g. ["app/validation.py"])
    with `jobs` mutants at a time; print the score and every survivor.

    Returns 0 when every survivor is listed in EQUIVALENT, else 1.
    """
    root = Path(root)
    patterns = mutant_patterns(root, paths)
    work = root / WORK_DIR
    prepare(root, work)
    names = " ".join(patterns)
    print(f"mutate: mutmut on a copy of the tree in {work} ({jobs} at a time)")
    with c.cd(str(work)):
        result = c.run(
            f"{_mutmut()} run --max-children {int(jobs)} {names}".strip(),
            echo=True,
            warn=True,
            pty=False,
        )
    if not result.ok:
        raise Exit("mutmut failed before judging the mutants (see its output above)", code=1)
    return judge(c, root, paths)


def has_functions(path: Path) -> bool:
    """Whether a module defines a function or method: mutmut mutates nothing else."""
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(ast.parse(path.read_text()))
    )


def judge(c: Context, root: Path, paths: list[str] | None = None) -> int:
    """Read the verdicts of the last run (in build/mutmut), print the report; its exit code."""
    root = Path(root)
    work = root / WORK_DIR
    patterns = mutant_patterns(root, paths)
    verdicts = _results(c, work)
    if patterns:
        verdicts = {
            name: status
            for name, status in verdicts.items()
            if any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), name) for p in patterns)
        }
    mutants = [
        describe(name, status, _show(c, work, name), root)
        for name, status in sorted(verdicts.items())
        if status not in CAUGHT
    ]
    wanted = [Path(p).as_posix().removeprefix("./") for p in paths or mutated_files(root)]
    files = judged_files(verdicts)
    unjudged = sorted(f for f in set(wanted) - files if has_functions(root / f))
    if unjudged:
        raise Exit(f"mutmut judged no mutant of {', '.join(unjudged)}", code=1)
    listed = {change: why for change, why in EQUIVALENT.items() if change.file in files}
    text, code = report(verdicts, mutants, listed)
    print(text)
    return code
