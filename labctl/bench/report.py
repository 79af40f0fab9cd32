"""The benchmark report: targets judged as ratios, written as JSON, Markdown and a PNG chart."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from labctl.bench.targets import MIB, judge


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "unknown",
            )
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "os": platform.platform(),
    }


# The builds the report and the chart compare, ours against naive where both exist.
BUILD_STEPS = (
    "cold",
    "warm",
    "code_change",
    "dependency_change",
    "dependency_change_without_cache_mount",
)

# README.md shows the latest full run's summary between these two lines.
README_START = "<!-- bench:latest (written by inv bench) -->"
README_END = "<!-- /bench:latest -->"


def _run_line(results: dict) -> str:
    m, serving = results["machine"], results["serving"]
    return (
        f"Run {results['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Docker {results['docker']}; naive base: {results['naive_base']}. "
        f"Serving runs last {serving['seconds_per_run']} s each, wrk on the same machine."
    )


def _targets_table(results: dict) -> list[str]:
    lines = ["| target | goal | measured | result |", "| --- | --- | --- | --- |"]
    for t in results["targets"]:
        verdict = "met" if t["met"] else f"**{t['miss']}**: {t['why']}"
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {verdict} |")
    return lines


def summary(results: dict) -> list[str]:
    """Where and how the run was made, and every target judged: the README's part."""
    return [_run_line(results), "", *_targets_table(results)]


def readme_block(text: str) -> str:
    """The summary currently in a README's text (between the markers)."""
    return text.split(README_START, 1)[1].split(README_END, 1)[0].strip("\n")


def update_readme(readme: Path, results: dict) -> None:
    """Replace the summary in README.md with this run's."""
    text = readme.read_text()
    old = readme_block(text)
    readme.write_text(text.replace(old, "\n".join(summary(results)), 1))


def markdown(results: dict) -> str:
    serving = results["serving"]
    ours, classic = serving["ours"], serving["classic"]
    lines = [f"# Benchmark report{' (quick mode)' if results['quick'] else ''}", ""]
    lines += [_run_line(results), "", "## Targets", "", *_targets_table(results)]
    lines += [
        "",
        "## Serving",
        "",
        "| server | load | req/s | p50 ms | p99 ms | rows/s | non-2xx | memory MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [("classic (Flask dev server)", k, v) for k, v in classic.items()]
    ours_name = f"ours (nginx + gunicorn, {serving.get('runtime', 'unknown')})"
    rows += [(ours_name, k, v) for k, v in ours.items()]
    for server, load, run in rows:
        memory = ", ".join(f"{v:.0f}" for v in run.get("memory_mib", {}).values()) or "–"
        rows_per_s = run.get("rows_per_s", run["requests_per_s"])
        lines.append(
            f"| {server} | {load.replace('_', ' ')} | {run['requests_per_s']:,.0f} | "
            f"{run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {rows_per_s:,.0f} | "
            f"{run['non_2xx'] + run['socket_errors']} | {memory} |"
        )
    lines += [
        "",
        f"Serving container start → ready: {serving['start_to_ready_s']} s; "
        f"`inv lab2` (warm) → healthy: {results['lab2_warm_s']} s.",
        "",
        "## Images",
        "",
        "| image | size MiB | packages MiB | largest layer |",
        "| --- | --- | --- | --- |",
    ]
    for name, image in results["images"].items():
        top = image["largest_layers"][0]
        lines.append(
            f"| {name} | {image['bytes'] / MIB:.0f} | {image['packages_bytes'] / MIB:.0f} | "
            f"{top['bytes'] / MIB:.0f} MiB: `{top['instruction'][:60]}` |"
        )
    lines += [
        "",
        "## Builds (seconds)",
        "",
        "| build | ours | naive | naive / ours |",
        "| --- | --- | --- | --- |",
    ]
    builds = results["builds"]
    for name in BUILD_STEPS:
        times = builds[name]
        naive = times.get("naive")
        ratio = f"{naive / times['ours']:.1f}×" if naive else "–"
        lines.append(f"| {name.replace('_', ' ')} | {times['ours']} | {naive or '–'} | {ratio} |")
    change = builds["dependency_change"]
    wheel_kib = change["package_wheel_bytes"] / 1024
    ours_kib = change["fetched_bytes"]["ours"] / 1024
    naive_mib = change["fetched_bytes"]["naive"] / MIB
    without_mib = builds["dependency_change_without_cache_mount"]["fetched_bytes"]["ours"] / MIB
    cold = builds["cold_runs"]
    lines += [
        "",
        f"Cold runs (s): ours {cold['ours']}, naive {cold['naive']}.",
        f"One-package change ({change['package']}): uv downloaded "
        f"{change['packages_downloaded']} package(s) again, the {wheel_kib:,.0f} KiB wheel; "
        f"with the index pages it asks for, {ours_kib:,.0f} KiB came over the network with "
        f"uv's cache mount, {without_mib:,.1f} MiB without it. The naive build fetched "
        f"{naive_mib:,.1f} MiB.",
    ]
    lines += [
        "",
        "## Floor (the model alone, in-process)",
        "",
        "| runtime | 1 row ms | 1-row calls/s (one core) | 1,000 rows ms | rows/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for runtime, floor in results["floor"].items():
        lines.append(
            f"| {runtime} | {floor['predict_1_row_ms']} | {floor['single_row_calls_per_s']:,} "
            f"| {floor['predict_1000_rows_ms']} | {floor['rows_per_s_1000_batch']:,} |"
        )
    lines += _changes(results)
    lines += [
        "",
        "![benchmark chart](bench.png)",
        "",
    ]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    serving = results["serving"]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    labels = ["c=1", "c=8", "c=8, all CPUs"]
    ours = [
        serving["ours"][k]["requests_per_s"]
        for k in ("single_c1", "single_c8", "single_c8_all_cpus")
    ]
    classic = [serving["classic"][k]["requests_per_s"] for k in ("single_c1", "single_c8")] + [0]
    x = range(len(labels))
    axes[0].bar([i - 0.2 for i in x], classic, 0.4, label="classic Flask dev server")
    axes[0].bar([i + 0.2 for i in x], ours, 0.4, label="ours: nginx + gunicorn")
    axes[0].set_xticks(list(x), labels)
    axes[0].set_title("single-row requests/s")
    axes[0].legend()
    names = list(results["images"])
    axes[1].bar(names, [results["images"][n]["bytes"] / MIB for n in names], color="tab:purple")
    axes[1].set_title("image size (MiB)")
    builds = results["builds"]
    steps = [s for s in BUILD_STEPS if "naive" in builds[s]]
    axes[2].bar(
        [i - 0.2 for i in range(len(steps))],
        [builds[s]["naive"] for s in steps],
        0.4,
        label="naive",
    )
    axes[2].bar(
        [i + 0.2 for i in range(len(steps))], [builds[s]["ours"] for s in steps], 0.4, label="ours"
    )
    axes[2].set_xticks(range(len(steps)), [s.replace("_", "\n") for s in steps])
    axes[2].set_title("build seconds")
    axes[2].legend()
    figure.suptitle(f"mlops-docker-labs benchmark, {results['date']}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def previous_run(results_json: Path) -> dict | None:
    """What the run before this one measured (the results.json about to be replaced):
    the figures the report compares with, or None when there is none to read."""
    try:
        earlier = json.loads(results_json.read_text())
        return {
            "date": earlier["date"],
            "image_mib": {
                name: round(image["bytes"] / MIB, 1) for name, image in earlier["images"].items()
            },
            "start_to_ready_s": earlier["serving"]["start_to_ready_s"],
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _changes(results: dict) -> list[str]:
    """How image sizes and the serving start changed since the previous run."""
    before = results.get("previous")
    if not before:
        return []
    lines = ["", f"## Since the previous run ({before['date']})", ""]
    lines += ["| figure | then | now | change |", "| --- | --- | --- | --- |"]
    for name, image in results["images"].items():
        if name in before["image_mib"]:
            then, now = before["image_mib"][name], image["bytes"] / MIB
            lines.append(f"| {name} image MiB | {then:.0f} | {now:.0f} | {now - then:+.0f} |")
    then, now = before["start_to_ready_s"], results["serving"]["start_to_ready_s"]
    lines.append(f"| serving start → ready s | {then} | {now} | {now - then:+.2f} |")
    return lines


def write(results: dict, out: Path) -> list[Path]:
    """results.json, report.md and bench.png in out; returns their paths.

    The measurements are saved first, before anything that could fail; the targets are
    judged from them (a missing figure or explanation is reported, never raised), then
    saved with them.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "report.md", out / "bench.png"]
    results["previous"] = previous_run(paths[0])
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    results["targets"] = judge(results)
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    chart(results, paths[2])
    return paths
