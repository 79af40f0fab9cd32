"""inv observe-graph: the load phases, the graph page it photographs, and its refusal."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from invoke import Exit, MockContext

from app.validation import FEATURE_MAX
from labctl import observe_graph
from labctl.settings import Settings
from labctl.stack import free_port


def test_every_phase_sends_what_its_name_says():
    by_name = {phase.name: phase for phase in observe_graph.phases()}
    single = json.loads(by_name["single rows, 8 connections"].body)["instances"]
    batch = json.loads(by_name["100-row batches, 4 connections"].body)["instances"]
    bad = json.loads(by_name["out-of-range input (422), 2 connections"].body)["instances"]
    assert len(single) == 1 and len(batch) == 100
    assert max(bad[0]) > FEATURE_MAX  # the API answers 422 to it
    assert by_name["single rows, 8 connections"].connections == 8
    assert sum(phase.seconds for phase in observe_graph.phases()) == 165
    assert [phase.seconds for phase in observe_graph.phases(0.01)] == [5, 5, 5, 5]


def test_the_graph_page_shows_every_panel_over_the_run():
    url = observe_graph.graph_url("http://localhost:9090", 5)
    assert url.startswith("http://localhost:9090/classic/graph?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expressions = [query[f"g{i}.expr"][0] for i in range(len(observe_graph.PANELS))]
    assert expressions == [expression for _, expression in observe_graph.PANELS]
    assert {query[f"g{i}.range_input"][0] for i in range(len(observe_graph.PANELS))} == {"5m"}


def test_the_recorded_series_it_graphs_are_the_ones_the_rules_record():
    rules = (Path(__file__).resolve().parent.parent / "observe/rules.yml").read_text()
    for _, expression in observe_graph.PANELS:
        if ":" in expression.split("{")[0]:
            assert f"record: {expression}" in rules


def test_without_the_observe_stack_it_says_what_to_start(tmp_path):
    settings = Settings.from_env(
        {"LAB2_PORT": str(free_port()), "PROMETHEUS_PORT": str(free_port())}
    )
    with pytest.raises(Exit, match="inv lab2 --observe"):
        observe_graph.run(MockContext(), settings, tmp_path / "picture.png")
    assert not (tmp_path / "picture.png").exists()
