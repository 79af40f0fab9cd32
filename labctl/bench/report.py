"""The benchmark report: targets judged as ratios, written as JSON, Markdown and a PNG chart."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from labctl.bench.targets import MIB, busy_ms, judge, ours_single


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


def _load_label(key: str) -> str:
    """A load's key as the Serving table shows it: v2_single_c8 -> V2 single c8."""
    return key.replace("v2_", "V2 ", 1).replace("_", " ")


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
            f"| {server} | {_load_label(load)} | {run['requests_per_s']:,.0f} | "
            f"{run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {rows_per_s:,.0f} | "
            f"{run['non_2xx'] + run['socket_errors']} | {memory} |"
        )
    lines += [
        "",
        f"Serving container start → ready: {serving['start_to_ready_s']} s; "
        f"`inv lab2` (warm) → healthy: {results['lab2_warm_s']} s.",
    ]
    lines += stability_section(results)
    lines += ceilings_section(results)
    lines += curves_section(results)
    lines += profile_section(results)
    lines += [
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


# Every run the new serving sections show is at this concurrency (the batch curve's too).
LOAD_CONNECTIONS = 8

# The knee of the concurrency curve: the first concurrency reaching this share of the peak.
KNEE_SHARE = 0.9

STABILITY_PLACES = {
    "stack": "stack (Compose, through nginx)",
    "native": "native (gunicorn from the host venv, no container)",
}

# The ceilings table: a label, where the run sits in results["serving"], which of ours it
# is compared with (ours' figure over the row's), and whether the run carries rows.
CEILING_ROWS = (
    ("(a) nginx alone, a constant", ("ceilings", "proxy"), "single_c8", False),
    ("(b) gunicorn + Flask, a constant, no model", ("ceilings", "framework"), "single_c8", False),
    (
        "ours /predict single c8 (the median stability run)",
        ("ours", "single_c8"),
        "single_c8",
        True,
    ),
    ("ours V2 single c8", ("ours", "v2_single_c8"), "v2_single_c8", True),
    ("MLServer V2 single c8", ("peers", "mlserver", "single_c8"), "v2_single_c8", True),
    ("ours V2 batch100 c8", ("ours", "v2_batch100_c8"), "v2_batch100_c8", True),
    ("MLServer V2 batch100 c8", ("peers", "mlserver", "batch100_c8"), "v2_batch100_c8", True),
    ("BentoML /predict single c8", ("peers", "bentoml", "single_c8"), "single_c8", True),
    ("ours /predict batch100 c8", ("ours", "batch100_c8"), "batch100_c8", True),
    ("BentoML /predict batch100 c8", ("peers", "bentoml", "batch100_c8"), "batch100_c8", True),
)


def _serving(results: dict) -> dict:
    """results["serving"], or nothing when the run has none."""
    return results.get("serving") or {}


def _dig(tree: dict, keys: tuple[str, ...]) -> dict | None:
    """tree[k1][k2]..., or None when a key is missing."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def stability_row(place: str, runs: list[dict]) -> str:
    """One place's runs: each run's req/s, the slowest over the fastest, the p99 range."""
    rates = [run["requests_per_s"] for run in runs]
    p99 = [run["p99_ms"] for run in runs]
    each = " / ".join(f"{rate:,.0f}" for rate in rates)
    share = min(rates) / max(rates) if max(rates) else 0.0
    return f"| {place} | {each} | {share:.1%} | {min(p99):.2f}–{max(p99):.2f} |"


def stability_section(results: dict) -> list[str]:
    """The same single-row c=8 run repeated, in the stack and natively."""
    stability = {k: v for k, v in (_serving(results).get("stability") or {}).items() if v}
    if not stability:
        return []
    count = max(len(runs) for runs in stability.values())
    lines = [
        "",
        f"## Stability (single rows, c=8, {count} runs back to back)",
        "",
        "The same load repeated in the Compose stack through nginx, and natively (gunicorn "
        "from the host venv, no container); min / max is the slowest run's req/s over the "
        "fastest's.",
        "",
        "| place | req/s of each run | min / max | p99 ms range |",
        "| --- | --- | --- | --- |",
    ]
    return lines + [
        stability_row(STABILITY_PLACES.get(place, place), runs) for place, runs in stability.items()
    ]


def _throughput(run: dict) -> float:
    """The figure compared across servers: rows/s where the run has rows, else req/s."""
    return run.get("rows_per_s", run["requests_per_s"])


def _ratio(ours: dict | None, run: dict) -> str:
    """Ours' comparable figure over this run's, or a dash when either is missing."""
    if not ours or not _throughput(run):
        return "–"
    return f"{_throughput(ours) / _throughput(run):.2f}×"


def ceilings_section(results: dict) -> list[str]:
    """What bounds ours (the proxy and the framework alone), and the peers in its place."""
    serving = _serving(results)
    if "ceilings" not in serving and "peers" not in serving:
        return []
    lines = [
        "",
        "## Ceilings and the peers",
        "",
        "All at c=8 through the same nginx on the same port: (a) nginx alone answering a "
        "constant; (b) the same gunicorn + Flask config answering a constant JSON, no model; "
        "Seldon MLServer and BentoML (versions in requirements/mlserver.lock and "
        "requirements/bentoml.lock) in serving's place with the same limits, serving the same "
        "registry version, MLServer over V2, BentoML on its own /predict. ours ÷ this is "
        "ours' req/s (rows/s for batches) over the row's: ours /predict against (a), (b) and "
        "BentoML, ours V2 against MLServer. nginx keeps no upstream keep-alive pool for any of "
        "them (ours needs none): every request reaches the server on a fresh connection.",
        "",
        "| server | req/s | p50 ms | p99 ms | rows/s | ours ÷ this |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    # Ours' single-row /predict figure is the one the targets use: the median stability run.
    ours = {**serving.get("ours", {})}
    if "single_c8" in ours:
        ours["single_c8"] = ours_single(results)
    serving = {**serving, "ours": ours}
    for label, keys, reference, has_rows in CEILING_ROWS:
        run = _dig(serving, keys)
        if run is None:
            continue
        rows = f"{_throughput(run):,.0f}" if has_rows else "–"
        lines.append(
            f"| {label} | {run['requests_per_s']:,.0f} | {run['p50_ms']:.2f} | "
            f"{run['p99_ms']:.2f} | {rows} | {_ratio(ours.get(reference), run)} |"
        )
    return lines


def knee(points: list[dict]) -> dict:
    """Where throughput stops growing: the smallest concurrency within 90% of the peak req/s."""
    points = sorted(points, key=lambda point: point["connections"])
    peak = max(point["requests_per_s"] for point in points)
    at = next(point for point in points if point["requests_per_s"] >= KNEE_SHARE * peak)
    beyond = [point for point in points if point["connections"] > at["connections"]] or [at]
    last = points[-1]
    return {
        "connections": at["connections"],
        "peak_requests_per_s": peak,
        "beyond_requests_per_s": (
            min(point["requests_per_s"] for point in beyond),
            max(point["requests_per_s"] for point in beyond),
        ),
        "p99_ms": at["p99_ms"],
        "last_connections": last["connections"],
        "last_p99_ms": last["p99_ms"],
        "little_ms": 1000 * last["connections"] / (last["requests_per_s"] or float("nan")),
    }


def knee_sentence(k: dict) -> str:
    """The knee in words, every number from knee()."""
    head = (
        f"Throughput reaches {KNEE_SHARE:.0%} of its peak ({k['peak_requests_per_s']:,.0f} req/s) "
        f"at c={k['connections']}"
    )
    if k["connections"] == k["last_connections"]:
        return f"{head}, the largest concurrency measured."
    low, high = k["beyond_requests_per_s"]
    grows = "grows" if k["last_p99_ms"] > k["p99_ms"] else "goes"
    return (
        f"{head}; beyond it req/s stays within {low:,.0f}–{high:,.0f} while p99 {grows} from "
        f"{k['p99_ms']:.2f} ms to {k['last_p99_ms']:.2f} ms at c={k['last_connections']}: extra "
        f"connections only queue (Little's law: at c={k['last_connections']} the expected wait "
        f"c / throughput is {k['little_ms']:.1f} ms)."
    )


def batch_costs(points: list[dict], connections: int = LOAD_CONNECTIONS) -> dict:
    """A request's time at the smallest batch, and each extra row's between the two largest."""
    points = sorted(points, key=lambda point: point["rows"])

    def request_ms(point: dict) -> float:
        return connections * 1000 / point["requests_per_s"]

    first, before, last = points[0], points[-2], points[-1]
    return {
        "rows": first["rows"],
        "request_ms": request_ms(first),
        "from_rows": before["rows"],
        "to_rows": last["rows"],
        "row_us": 1000 * (request_ms(last) - request_ms(before)) / (last["rows"] - before["rows"]),
        "rows_per_s": last["rows_per_s"],
    }


def batch_sentence(costs: dict, connections: int = LOAD_CONNECTIONS) -> str:
    """The batch costs in words, every number from batch_costs()."""
    rows = "row" if costs["rows"] == 1 else "rows"
    return (
        f"At c={connections} a request spends c / throughput in the server: "
        f"{costs['request_ms']:.2f} ms with {costs['rows']:,} {rows}, the per-request overhead; "
        f"from {costs['from_rows']:,} to {costs['to_rows']:,} rows each extra row adds "
        f"{costs['row_us']:.1f} µs; at {costs['to_rows']:,} rows that is "
        f"{costs['rows_per_s']:,.0f} rows/s."
    )


def _concurrency_lines(points: list[dict]) -> list[str]:
    """The concurrency curve's table and its knee."""
    if not points:
        return []
    lines = ["", "| connections | req/s | p50 ms | p99 ms |", "| --- | --- | --- | --- |"]
    for point in sorted(points, key=lambda point: point["connections"]):
        lines.append(
            f"| {point['connections']} | {point['requests_per_s']:,.0f} | "
            f"{point['p50_ms']:.2f} | {point['p99_ms']:.2f} |"
        )
    return [*lines, "", knee_sentence(knee(points))]


def _batch_lines(points: list[dict]) -> list[str]:
    """The batch curve's table and what a request and a row cost."""
    if not points:
        return []
    lines = [
        "",
        "| rows | req/s | rows/s | p99 ms | worker memory MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for point in sorted(points, key=lambda point: point["rows"]):
        memory = ", ".join(f"{mib:.1f}" for mib in point.get("worker_rss_mib", [])) or "–"
        lines.append(
            f"| {point['rows']:,} | {point['requests_per_s']:,.0f} | {point['rows_per_s']:,.0f} "
            f"| {point['p99_ms']:.2f} | {memory} |"
        )
    return lines + (["", batch_sentence(batch_costs(points))] if len(points) > 1 else [])


def curves_section(results: dict) -> list[str]:
    """Req/s and p99 against connections, rows/s, p99 and memory against batch size."""
    serving = _serving(results)
    curves = serving.get("curves")
    if not curves:
        return []
    seconds = serving.get("curve_seconds_per_run", "?")
    lines = [
        "",
        "## How cost grows",
        "",
        f"Single rows against connections, then batches against rows at c={LOAD_CONNECTIONS} "
        f"(each worker's memory sampled halfway); {seconds} s a run.",
    ]
    lines += _concurrency_lines(curves.get("concurrency", []))
    lines += _batch_lines(curves.get("batch", []))
    return [*lines, "", "![how cost grows](curves.png)"]


def profile_section(results: dict) -> list[str]:
    """py-spy's samples of one serving worker, by part of the request path, largest first."""
    profile = _serving(results).get("profile")
    if not profile:
        return []
    if "skipped" in profile:
        reason = str(profile["skipped"]).rstrip(".")
        return ["", "## Where a worker's time goes (py-spy)", "", f"Not profiled: {reason}."]
    load = profile.get("load")
    during = (
        f" ({load['requests_per_s']:,.0f} req/s, p99 {load['p99_ms']:.2f} ms meanwhile)"
        if load
        else ""
    )
    lines = [
        "",
        f"## Where a worker's time goes (py-spy, {profile['samples']:,} samples)",
        "",
        f"py-spy sampled one serving worker under single-row c={LOAD_CONNECTIONS} load{during}; "
        "each sample counts for the part of the request path it was in.",
        "",
        "| part of the request path | % of samples |",
        "| --- | --- |",
    ]
    parts = sorted(profile["percent"].items(), key=lambda part: part[1], reverse=True)
    lines += [f"| {name} | {percent:.1f} |" for name, percent in parts]
    return lines + _against_the_constant(results)


def _against_the_constant(results: dict) -> list[str]:
    """Ours and the framework ceiling's worker time per request, part by part."""
    try:
        ours, theirs = busy_ms(results)
    except (KeyError, TypeError, ZeroDivisionError):
        return []  # an older run, or a profile that was skipped
    workers = results["serving"]["workers"]
    lines = [
        "",
        f"The same, in the sampled worker's busy milliseconds per request ({workers} workers, "
        "each answering its share of the load's req/s), against the framework ceiling (b) "
        "profiled alike:",
        "",
        "| part of the request path | ours ms | constant answer ms | difference ms |",
        "| --- | --- | --- | --- |",
    ]
    for part in sorted(ours | theirs, key=lambda p: theirs.get(p, 0) - ours.get(p, 0)):
        mine, its = ours.get(part, 0.0), theirs.get(part, 0.0)
        lines.append(f"| {part} | {mine:.3f} | {its:.3f} | {mine - its:+.3f} |")
    total_ours, total_theirs = sum(ours.values()), sum(theirs.values())
    lines.append(
        f"| **all** | {total_ours:.3f} | {total_theirs:.3f} | {total_ours - total_theirs:+.3f} |"
    )
    return lines


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


def _with_p99(axis, xs: list, points: list[dict]) -> None:
    """p99 on a twin y axis of axis, and one legend for both."""
    twin = axis.twinx()
    twin.plot(xs, [p["p99_ms"] for p in points], "s--", color="tab:orange", label="p99 ms")
    twin.set_ylabel("p99 ms")
    twin.set_ylim(bottom=0)
    handles, labels = axis.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    axis.legend(handles + more, labels + more_labels, loc="upper left", fontsize=8)


def _concurrency_panel(axis, points: list[dict]) -> None:
    """Req/s and p99 against connections (log2), the knee dashed."""
    points = sorted(points, key=lambda point: point["connections"])
    xs = [p["connections"] for p in points]
    axis.plot(xs, [p["requests_per_s"] for p in points], "o-", label="req/s")
    at = knee(points)["connections"]
    axis.axvline(at, linestyle="--", color="grey", label=f"knee (c={at})")
    axis.set_xscale("log", base=2)
    axis.set_xticks(xs, [str(x) for x in xs])
    axis.set_ylim(bottom=0)
    axis.set_xlabel("connections (single rows)")
    axis.set_ylabel("req/s")
    axis.set_title("req/s and p99 against concurrency")
    _with_p99(axis, xs, points)


def _batch_panel(axis, points: list[dict]) -> None:
    """Rows/s and p99 against batch size (log10)."""
    xs = [p["rows"] for p in points]
    axis.plot(xs, [p["rows_per_s"] for p in points], "o-", color="tab:green", label="rows/s")
    axis.set_xscale("log")
    axis.set_xticks(xs, [f"{x:,}" for x in xs])
    axis.set_yscale("log")
    axis.set_xlabel(f"rows per request (c={LOAD_CONNECTIONS})")
    axis.set_ylabel("rows/s")
    axis.set_title("rows/s and p99 against batch size")
    _with_p99(axis, xs, points)


def _memory_panel(axis, points: list[dict]) -> None:
    """The largest worker's memory against batch size (log10)."""
    sampled = [(p["rows"], max(p["worker_rss_mib"])) for p in points if p.get("worker_rss_mib")]
    xs, mib = [x for x, _ in sampled], [m for _, m in sampled]
    axis.plot(xs, mib, "o-", color="tab:purple")
    axis.set_xscale("log")
    axis.set_xticks(xs, [f"{x:,}" for x in xs])
    axis.set_ylim(0, max(mib, default=1) * 1.2)
    axis.set_xlabel(f"rows per request (c={LOAD_CONNECTIONS})")
    axis.set_ylabel("MiB")
    axis.set_title("largest worker's memory against batch size")


def curves_chart(results: dict, path: Path) -> None:
    """curves.png: how req/s, rows/s, p99 and worker memory grow with load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results["serving"]["curves"]
    concurrency = curves.get("concurrency") or []
    batch = sorted(curves.get("batch") or [], key=lambda point: point["rows"])
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for axis, draw, points in zip(
        axes,
        (_concurrency_panel, _batch_panel, _memory_panel),
        (concurrency, batch, batch),
        strict=True,
    ):
        if points:
            draw(axis, points)
        else:
            axis.set_title("not measured")
    figure.suptitle(f"mlops-docker-labs: how cost grows, {results.get('date', '')}")
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
    """results.json, report.md, bench.png (and curves.png) in out; returns their paths.

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
    if "curves" in results["serving"]:
        paths.append(out / "curves.png")
        curves_chart(results, paths[3])
    return paths
