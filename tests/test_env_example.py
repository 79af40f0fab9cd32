""".env.example lists every variable the tasks and compose.yaml read, with compose.yaml's
defaults, as comments only; the settings read exactly the variables their tables name,
and the tasks read a `.env` file under the shell's environment, as Compose does."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys

import pytest
from invoke import Exit, MockContext

import envvars
import tasks
from app.settings import VARIABLES as SERVING
from app.settings import ServingSettings
from labctl import env_example
from labctl.settings import (
    CA_BUNDLE_VARIABLES,
    DEFAULTS,
    ENVIRONMENT,
    ROOT,
    SETTINGS,
    Settings,
    environment,
    read_dotenv,
)
from tests import compose_file
from training.settings import VARIABLES as TRAINING
from training.settings import TrainingSettings

EXAMPLE = ROOT / ".env.example"
GUNICORN_CONF = ROOT / "app" / "gunicorn_conf.py"
# A line someone may uncomment: `# NAME=value`.
ASSIGNMENT = re.compile(r"^# ([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.M)


class Recording(dict):
    """An environment that notes every variable read from it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def _assignments() -> dict[str, str]:
    return dict(ASSIGNMENT.findall(EXAMPLE.read_text()))


def _compose_interpolations() -> dict[str, str | None]:
    """NAME -> default of every ${...} in compose.yaml, read here apart from
    labctl/env_example.py: comment lines dropped, then the innermost `${...}` replaced
    by a token, again and again, so `${A:-${B:-x}}` gives B: x, then A: ${B:-x}."""
    lines = (ROOT / "compose.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    innermost = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^${}]*))?\}")
    originals: dict[str, str] = {}

    def restore(fragment: str) -> str:
        return re.sub("\x00[0-9]+\x00", lambda token: originals[token.group(0)], fragment)

    found: dict[str, set[str | None]] = {}
    while match := innermost.search(text):
        name, operator, default = match.groups()
        found.setdefault(name, set()).add(restore(default) if operator else None)
        token = f"\x00{len(originals)}\x00"
        originals[token] = restore(match.group(0))
        text = text[: match.start()] + token + text[match.end() :]
    assert "${" not in text, "a ${...} this parser cannot read"
    for name, defaults in found.items():
        assert len(defaults) == 1, f"compose.yaml gives {name} several defaults: {defaults}"
    return {name: defaults.pop() for name, defaults in found.items()}


def test_the_committed_file_is_what_inv_env_example_writes():
    assert EXAMPLE.read_text() == env_example.render(), (
        ".env.example is out of date: run 'inv env-example' and commit it"
    )


def test_every_compose_variable_is_listed_with_the_default_compose_gives():
    interpolated = _compose_interpolations()
    # The nested fallback of the CA bundle is found as well as the plain ones.
    assert {"LAB2_PORT", "PYTHON_IMAGE", "LABS_CA_BUNDLE", "SSL_CERT_FILE"} <= set(interpolated)
    assert interpolated["LABS_CA_BUNDLE"] == "${SSL_CERT_FILE:-/dev/null}"
    listed = _assignments()
    for name, default in interpolated.items():
        assert name in listed, f"compose.yaml reads {name}; .env.example does not list it"
        assert listed[name] == (default or ""), f"{name}: compose.yaml's default is {default!r}"


def test_the_generator_reads_compose_as_this_test_does():
    assert env_example.compose_variables() == _compose_interpolations()


def test_nested_and_escaped_interpolations():
    text = "a: ${A:-${B:-x}}\nb: $${NOT}\nc: ${C}\nd: ${D-}"
    assert env_example.interpolations(text) == {"A": "${B:-x}", "B": "x", "C": None, "D": ""}
    with pytest.raises(ValueError, match="two defaults"):
        env_example.interpolations("${A:-1} ${A:-2}")
    with pytest.raises(ValueError, match="unclosed"):
        env_example.interpolations("${A:-${B}")


def test_every_variable_the_task_settings_read_is_listed():
    env = Recording()
    Settings.from_config({"version": "1", "revision": "r"}, env)
    assert {"LAB2_PORT", "LABS_CA_BUNDLE", "XDG_CACHE_HOME"} <= env.read
    missing = env.read - set(_assignments())
    assert not missing, f"labctl/settings.py reads {missing}; .env.example does not list them"


def test_the_task_settings_are_one_table():
    assert set(ENVIRONMENT.values()) | set(CA_BUNDLE_VARIABLES) <= set(_assignments())
    assert list(DEFAULTS) == [setting.key for setting in SETTINGS]
    assert all(setting.meaning for setting in SETTINGS)
    assert len({setting.env for setting in SETTINGS}) == len(SETTINGS)


def test_compose_only_meanings_describe_what_compose_reads_and_the_tasks_do_not():
    """A COMPOSE_ONLY variable is read by compose.yaml and by no code of the tasks: none
    names it as a string of its own, as stack.py once named PROMETHEUS_PORT to read it
    from the environment (so `.env.example` said "Read by compose.yaml" of a variable the
    tasks read). Handing one to Compose (`"NAME": value`, `-e NAME=...`) is no reading."""
    compose = env_example.compose_variables()
    tooling = [*sorted((ROOT / "labctl").rglob("*.py")), ROOT / "tasks.py"]
    for name in env_example.COMPOSE_ONLY:
        assert name in compose, f"COMPOSE_ONLY describes {name}, which compose.yaml never reads"
        assert name not in ENVIRONMENT.values(), f"{name} is a setting: drop it from COMPOSE_ONLY"
        named = re.compile(rf"""["']{name}["'](?!\s*:)""")
        readers = [
            str(path.relative_to(ROOT)) for path in tooling if named.search(path.read_text())
        ]
        assert readers == [], f"{readers} read {name}: make it a Setting in labctl/settings.py"


def _gunicorn_reads(monkeypatch) -> set[str]:
    env = Recording()
    monkeypatch.setattr(os, "environ", env)
    namespace = runpy.run_path(str(GUNICORN_CONF))
    namespace["on_starting"](None)
    return env.read


def test_each_container_setting_is_read_from_its_table_and_nowhere_else(monkeypatch):
    env = Recording()
    ServingSettings.from_env(env)
    assert env.read == {variable.name for variable in SERVING}
    env = Recording()
    TrainingSettings.from_env(env)
    assert env.read == {variable.name for variable in TRAINING}
    table = runpy.run_path(str(GUNICORN_CONF))["VARIABLES"]
    assert _gunicorn_reads(monkeypatch) == {variable.name for variable in table}


def test_the_container_variables_are_documented():
    text = EXAMPLE.read_text()
    table = runpy.run_path(str(GUNICORN_CONF))["VARIABLES"]
    for name in [v.name for v in (*SERVING, *TRAINING, *table)]:
        assert re.search(rf"^#   {name}  ", text, re.M), f"{name} is not documented"


def test_the_three_container_tables_share_one_shape():
    table = runpy.run_path(str(GUNICORN_CONF))["VARIABLES"]
    for variable in (*SERVING, *TRAINING, *table):
        assert type(variable) is envvars.Variable, variable


@pytest.mark.parametrize(("environ", "text"), [({}, "7"), ({"N": ""}, "7"), ({"N": "3"}, "3")])
def test_a_container_variable_unset_or_empty_is_its_default(environ, text):
    assert envvars.read(envvars.Variable("N", "7", "a number"), environ) == text


def test_an_empty_variable_is_its_default_in_every_reader(monkeypatch):
    empty = {variable.name: "" for variable in (*SERVING, *TRAINING)}
    assert ServingSettings.from_env(empty) == ServingSettings.from_env({})
    assert TrainingSettings.from_env(empty) == TrainingSettings.from_env({})
    for variable in runpy.run_path(str(GUNICORN_CONF))["VARIABLES"]:
        monkeypatch.setenv(variable.name, "")
    assert runpy.run_path(str(GUNICORN_CONF))["workers"] == 2


def test_gunicorns_master_imports_none_of_the_app_with_its_configuration():
    probe = (
        "import runpy, sys\n"
        "runpy.run_path('app/gunicorn_conf.py')\n"
        "print(sorted(n for n in ('flask', 'onnxruntime', 'numpy', 'cryptography', "
        "'app.settings', 'model_registry') if n in sys.modules))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"


def test_the_tables_give_the_defaults_the_code_uses(monkeypatch):
    for key in ("MODEL_REGISTRY", "MAX_BATCH_SIZE", "MODEL_TRUSTED_KEYS", "GUNICORN_WORKERS"):
        monkeypatch.delenv(key, raising=False)
    serving = ServingSettings.from_env({})
    assert (str(serving.registry), serving.max_batch, serving.max_body_bytes) == (
        "/registry",
        1000,
        256 * 1024,
    )
    assert (
        serving.log_requests and not ServingSettings.from_env({"LOG_REQUESTS": "no"}).log_requests
    )
    assert str(ServingSettings.from_env({"MODEL_TRUSTED_KEYS": ""}).trusted_keys) == "/trusted-keys"
    training = TrainingSettings.from_env({"TRAINING_SEED": "7"})
    assert (training.seed, training.test_size, training.publish) == (7, 0.25, True)
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    namespace = runpy.run_path(str(GUNICORN_CONF))
    assert (namespace["workers"], namespace["worker_class"], namespace["bind"]) == (
        3,
        "sync",
        "0.0.0.0:8080",
    )


def test_gunicorn_takes_its_settings_from_the_file(monkeypatch):
    """gunicorn's own loader reads the file: the table and helper it ignores, the values
    it applies."""
    from gunicorn.app.base import Application

    class Probe(Application):
        def load_config(self):
            self.load_config_from_file(str(GUNICORN_CONF))

        def load(self):
            return None

    monkeypatch.setenv("GUNICORN_TIMEOUT", "11")
    monkeypatch.setattr(sys, "argv", ["gunicorn"])
    config = Probe().cfg
    assert (config.workers, config.worker_class_str, config.threads, config.timeout) == (
        2,
        "sync",
        1,
        11,
    )


def test_compose_reads_the_file_as_nothing_set():
    lines = EXAMPLE.read_text().splitlines()
    assert lines and all(line.startswith("#") for line in lines if line.strip())
    assert read_dotenv(EXAMPLE) == {}
    # Uncommented, each entry is a plain NAME=value line of Compose's .env format.
    for name, value in _assignments().items():
        assert re.fullmatch(r"[^\s'\"#]*", value), f"{name}={value} would need quoting"


def test_an_uncommented_line_is_read_by_the_tasks(tmp_path):
    dotenv = tmp_path / ".env"
    text = EXAMPLE.read_text().replace("# LAB2_PORT=80\n", "LAB2_PORT=8088\n")
    dotenv.write_text(text)
    assert read_dotenv(dotenv) == {"LAB2_PORT": "8088"}
    assert Settings.from_config({"version": "1"}, environment({}, dotenv)).lab2_port == 8088


# Lines of a `.env` and the value Compose gives each (its env-file syntax page): quotes
# removed, a `#` after a closing quote or a space is a comment, single quotes literal,
# escapes in double quotes.
DOTENV_CASES = [
    ('"8080" # my port', "8080"),
    ("'8080' # my port", "8080"),
    ("8080 # my port", "8080"),
    ("a#b", "a#b"),
    ('"x # y"', "x # y"),
    ("'two words'", "two words"),
    (r'"say \"hi\" \\ back"', 'say "hi" \\ back'),
    (r'"tab\tnewline\n"', "tab\tnewline\n"),
    (r"'it\'s'", "it's"),
    (r"'no \t escape'", r"no \t escape"),
    ("'${NOT_EXPANDED}'", "${NOT_EXPANDED}"),
    ("", ""),
]


@pytest.mark.parametrize(("written", "value"), DOTENV_CASES)
def test_a_dotenv_value_is_read_as_compose_reads_it(tmp_path, written, value):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"# a comment\n\nexport A=1\nB = spaced\nVALUE={written}\nBARE\n")
    assert read_dotenv(dotenv) == {"A": "1", "B": "spaced", "VALUE": value}
    assert read_dotenv(tmp_path / "missing") == {}


def test_compose_reads_those_values_alike(tmp_path):
    """The same lines, read by Compose itself (`config` needs no engine): it agrees."""
    names = [f"DOTENV_PROBE_{index}" for index in range(len(DOTENV_CASES))]
    lines = [f"{name}={written}" for name, (written, _) in zip(names, DOTENV_CASES, strict=True)]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    environment_ = {name: f"${{{name}}}" for name in names}
    service = {"image": "probe", "environment": environment_}
    (tmp_path / "compose.yaml").write_text(json.dumps({"services": {"probe": service}}))
    config = compose_file.config(tmp_path / "compose.yaml", env_file=tmp_path / ".env")
    given = config["services"]["probe"]["environment"]
    # Compose's own output writes a literal `$` as `$$`.
    assert {name: text.replace("$$", "$") for name, text in given.items()} == read_dotenv(
        tmp_path / ".env"
    )
    assert read_dotenv(tmp_path / ".env") == dict(
        zip(names, [value for _, value in DOTENV_CASES], strict=True)
    )


@pytest.mark.parametrize("line", ["not a line", 'A="unterminated', "A B=1"])
def test_a_dotenv_line_compose_refuses_is_one_line(tmp_path, line):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"LAB2_PORT=8080\n{line}\n")
    with pytest.raises(Exit) as caught:
        read_dotenv(dotenv)
    assert (
        caught.value.message
        == f"{dotenv} line 2: {line!r} is not NAME=value (Compose refuses it too)"
    )


def test_a_quoted_port_with_a_comment_is_the_port(tmp_path):
    """The reviewer's case: it was read as '"8080"' and ended in a ValueError."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("LAB2_PORT=\"8080\" # my port\nPROMETHEUS_PORT='9191'\n")
    settings = Settings.from_config({"version": "1", "revision": "r"}, environment({}, dotenv))
    assert (settings.lab2_port, settings.prometheus_port) == (8080, 9191)


PORTS = [setting for setting in SETTINGS if setting.key.endswith("_port")]


@pytest.mark.parametrize("setting", PORTS, ids=lambda setting: setting.env)
@pytest.mark.parametrize("value", ["abc", "0", "70000", "80.0", "-1", " "])
def test_a_bad_port_is_one_line_naming_the_variable(setting, value):
    with pytest.raises(Exit) as caught:
        Settings.from_config({"version": "1", "revision": "r"}, {setting.env: value})
    assert caught.value.message == (
        f"{setting.env}={value!r} is not a port number (1 to 65535): fix it in the shell or .env"
    )


@pytest.mark.parametrize("setting", PORTS, ids=lambda setting: setting.env)
def test_a_bad_port_from_invoke_names_its_key(setting):
    with pytest.raises(Exit, match=rf"^labs\.{setting.key}='x' is not a port number"):
        Settings.from_config({"version": "1", "revision": "r", setting.key: "x"}, {})


@pytest.mark.parametrize(
    "variable",
    ["LAB2_PORT", "PROMETHEUS_PORT", "INVOKE_LABS_LAB2_PORT", "INVOKE_LABS_PROMETHEUS_PORT"],
)
def test_inv_says_a_bad_port_in_one_line_without_a_traceback(variable):
    env = {**os.environ, variable: "abc"}
    run = [sys.executable, "-m", "invoke", "config"]
    shown = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    (line,) = shown.stderr.splitlines()
    assert "'abc' is not a port number" in line


def test_the_shell_wins_over_dotenv_which_wins_over_invoke(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("LAB2_PORT=8081\nLABS_IMAGE_PREFIX=from-dotenv\n")
    monkeypatch.setattr("labctl.settings.DOTENV", dotenv)
    monkeypatch.delenv("LABS_IMAGE_PREFIX", raising=False)
    monkeypatch.setenv("LAB2_PORT", "8082")
    settings = Settings.from_config({"version": "1", "revision": "r", "image_prefix": "invoke"})
    assert (settings.lab2_port, settings.image_prefix) == (8082, "from-dotenv")
    monkeypatch.delenv("LAB2_PORT")
    assert Settings.from_config({"version": "1", "revision": "r"}).lab2_port == 8081


def test_inv_env_example_writes_the_file_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    tasks.env_example(MockContext())
    assert (tmp_path / ".env.example").read_text() == env_example.render()
    tasks.env_example(MockContext())
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(".env.example written") and out[1] == ".env.example is up to date"


def test_inv_env_example_without_the_images_libraries_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    monkeypatch.setitem(sys.modules, "app.settings", None)
    with pytest.raises(Exit, match=r"needs the test extra \(app.settings") as caught:
        tasks.env_example(MockContext())
    assert "\n" not in caught.value.message and not (tmp_path / ".env.example").exists()
