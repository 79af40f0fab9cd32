"""`.env.example`: every variable the tasks and compose.yaml read, its default and meaning.

Written by `inv env-example` from the tables where each variable is read:
labctl/settings.py (the tasks), compose.yaml (its `${NAME:-default}`s), and, documented
apart, app/settings.py, app/gunicorn_conf.py and training/settings.py (the containers).
tests/test_env_example.py fails when the committed file is not what render() gives.

The file is safe to copy to `.env`, which Compose reads by itself: every line is a
comment until someone uncomments it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from labctl.settings import CA_BUNDLE, CACHE_HOME, ROOT, SETTINGS, Setting

COMPOSE_FILE = ROOT / "compose.yaml"
FILE_NAME = ".env.example"
# Width of the file's lines (the text of a comment wraps before it).
WIDTH = 88

# What compose.yaml reads besides the tasks' settings: its meaning. The default is the
# one compose.yaml gives. A variable compose.yaml reads that is in no table stops
# render() (and so fails the tests) until it is described here or in labctl/settings.py.
COMPOSE_ONLY = {
    "COMPOSE_PROJECT_NAME": "Compose project name when you run docker compose yourself "
    "(the tasks name the project from LAB2_PROJECT)",
    "MODEL_TYPE": "estimator the training service fits when Compose starts it: logreg or "
    "knn (inv train's --model picks it for one run)",
}

HEADER = """\
# Every variable the tasks (inv, ./labs) and compose.yaml read: its default and meaning.
# Written by `inv env-example` from labctl/settings.py, compose.yaml, app/settings.py,
# app/gunicorn_conf.py and training/settings.py: change those, then run
# `inv env-example`, never this file (tests/test_env_example.py fails when it is stale).
#
# To change a setting: `cp .env.example .env`, then uncomment and edit its line.
# `docker compose` reads .env from this folder, and so do the tasks (labctl/settings.py):
# a variable set in the shell wins over .env, as in Compose, and a task's option
# (`inv lab2 --port 8080`) over both. Every line is a comment: a copy sets nothing.
# The value shown is the default: compose.yaml's for what it reads, else the tasks'.
"""

CONTAINERS = """\
# Set for each service in compose.yaml (`environment:`) and the Dockerfiles (`ENV`), not
# here: Compose hands .env to compose.yaml, never into a container. The defaults are
# the code's, where neither sets the variable.
"""

FOOTER = """\
# Not listed: PYTHON (the interpreter ./labs makes its venv with; read from the shell),
# CI (set by CI: plain build output, and Docker tests fail instead of skipping), and the
# docker CLI's own (DOCKER_HOST, DOCKER_CONTEXT, ...).
"""

_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?(.*)", re.S)


def _closing(text: str, start: int) -> int:
    """Index of the `}` that closes the `${` just before start (nested ones counted)."""
    depth, index = 1, start
    while index < len(text):
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"unclosed ${{ in {text[start - 2 : start + 40]!r}")


def interpolations(text: str) -> dict[str, str | None]:
    """NAME -> default of every `${NAME}`, `${NAME:-default}` or `${NAME-default}` in
    text, the nested ones in a default included (None: no default). `$$` is a dollar."""
    found: dict[str, str | None] = {}
    index = 0
    while (index := text.find("$", index)) != -1:
        if not text.startswith("${", index):
            index += 2 if text.startswith("$$", index) else 1
            continue
        end = _closing(text, index + 2)
        name, operator, rest = _NAME.fullmatch(text[index + 2 : end]).groups()
        default = rest if operator in (":-", "-") else None
        for found_name, found_default in [(name, default), *interpolations(rest).items()]:
            if found.get(found_name, found_default) != found_default:
                raise ValueError(
                    f"compose.yaml gives {found_name} two defaults: "
                    f"{found[found_name]!r} and {found_default!r}"
                )
            found[found_name] = found_default
        index = end + 1
    return found


def _strings(node: object) -> Iterable[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def compose_variables(path: Path = COMPOSE_FILE) -> dict[str, str | None]:
    """The variables compose.yaml interpolates, with their defaults, in file order
    (comments are not read: Compose does not interpolate them)."""
    import yaml

    found: dict[str, str | None] = {}
    for string in _strings(yaml.safe_load(path.read_text())):
        for name, default in interpolations(string).items():
            if found.get(name, default) != default:
                raise ValueError(
                    f"compose.yaml gives {name} two defaults: {found[name]!r}, {default!r}"
                )
            found[name] = default
    return found


def _sentence(meaning: str) -> str:
    return meaning[0].upper() + meaning[1:] + "."


def _entry(setting: Setting | None, name: str, compose: dict[str, str | None]) -> list[str]:
    """The lines of one variable of the host: its meaning, who reads it, its default."""
    in_compose = name in compose
    if setting is None:
        meaning, readers = COMPOSE_ONLY[name], "compose.yaml"
    elif in_compose and (compose[name] or "") != str(setting.default):
        meaning = setting.meaning
        readers = f"the tasks (default: {str(setting.default) or 'empty'}) and compose.yaml"
    else:
        meaning = setting.meaning
        readers = "the tasks and compose.yaml" if in_compose else "the tasks"
    value = (compose[name] or "") if in_compose else str(setting.default)
    text = f"{_sentence(meaning)} Read by {readers}."
    return [*_comment(text), f"# {name}={value}", ""]


def _comment(text: str, indent: str = "") -> list[str]:
    """text as comment lines of at most WIDTH characters (indent before the second on)."""
    lines = textwrap.wrap(text, WIDTH - 2, subsequent_indent=indent, break_on_hyphens=False)
    return [f"# {line}" for line in lines]


def _table(title: str, rows: Iterable[tuple[str, str, str]]) -> list[str]:
    """A titled block of `NAME  default  meaning` columns, every line a comment."""
    rows = [(name, default or '""', meaning) for name, default, meaning in rows]
    name_width = max(len(name) for name, _, _ in rows)
    default_width = max(len(default) for _, default, _ in rows)
    lines = [f"# {title}:"]
    for name, default, meaning in rows:
        text = f"  {name:<{name_width}}  {default:<{default_width}}  {meaning}"
        lines += _comment(text, " " * (2 + name_width + 2 + default_width + 2))
    return [*lines, "#"]


def _banner(title: str) -> str:
    return f"# {'-' * (WIDTH - 6 - len(title))} {title} --"


def render(compose_file: Path = COMPOSE_FILE) -> str:
    """The text of `.env.example`, from the tables and compose.yaml."""
    # The containers' own settings (the test extra: the images' libraries).
    from app import gunicorn_conf
    from app.settings import VARIABLES as SERVING
    from training.settings import VARIABLES as TRAINING

    compose = compose_variables(compose_file)
    settings = {setting.env: setting for setting in (*SETTINGS, *CA_BUNDLE, CACHE_HOME)}
    undescribed = [name for name in compose if name not in settings and name not in COMPOSE_ONLY]
    if undescribed:
        raise ValueError(
            f"compose.yaml reads {', '.join(undescribed)}: give each a meaning in "
            "labctl/env_example.py (COMPOSE_ONLY) or a setting in labctl/settings.py"
        )
    lines = [HEADER, _banner("the host: the tasks and docker compose"), ""]
    for name, setting in settings.items():
        lines += _entry(setting, name, compose)
    for name in compose:
        if name not in settings:
            lines += _entry(None, name, compose)
    lines += [_banner("in the containers"), CONTAINERS.rstrip("\n"), "#"]
    lines += _table(
        "serving (app/settings.py)",
        [(v.name, v.default, v.meaning) for v in SERVING],
    )
    lines += _table(
        "gunicorn in the serving container (app/gunicorn_conf.py)",
        [(v.name, v.default, v.meaning) for v in gunicorn_conf.VARIABLES],
    )
    lines += _table(
        "training (training/settings.py)",
        [(v.name, v.default, v.meaning) for v in TRAINING],
    )
    lines[-1] = ""
    lines.append(FOOTER.rstrip("\n"))
    return "\n".join(lines) + "\n"


def write(path: Path) -> bool:
    """Write render() to path; False when it already holds exactly that."""
    text = render()
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
