"""The web UI's server side against the peers' own servers, on the same data in one run:
the runs page over 10,000 runs, and one metric of 10 M points answered for a chart,
against MLflow's ``metrics/get-history`` (a real ``mlflow server``) and TensorBoard's
scalars route (``tensorboard`` started here), both over HTTP on loopback.

Run: ``.venv/bin/python bench/ui.py [--quick] [--store-100k]``. ``--quick``: 1,000 runs,
1 M points, 10 k points for the peers. ``--store-100k`` also measures the memory of listing
a store of 100,000 runs (a few minutes to build). Writes the ``ui`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The UI tests' store builders and server; the backends tests' mlflow server starter.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/ferrotrack-ui/tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/ferrotrack-backends/tests"))
from _report import machine, verdict, write_section
from _ui_cli import cli_server

from ferrotrack.ui.data.series import clear_cache

sf: Any = importlib.import_module("store_fixtures")
UiServer: Any = importlib.import_module("ui_server").UiServer


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median seconds of ``fn()`` over ``repeat`` calls, and its last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def rss_mb() -> float:
    rss: int = psutil.Process().memory_info().rss
    return rss / 2**20


def runs_page(work: Path, n: int) -> dict[str, Any]:
    """The runs page over ``n`` runs (20 written, the rest cloned folders) through HTTP: the
    first request to ``ferrotrack ui`` (its own process) as soon as it prints its URL, and
    how long until an answer holds every run; then the rest on the in-process server."""
    root = work / "runs"
    t0 = time.perf_counter()
    template = sf.make_runs(root, 20)
    sf.clone_runs(template[0], n - 20)
    built = time.perf_counter() - t0
    params: dict[str, Any] = {"limit": 100, "sort": "start"}
    with cli_server(root) as (url, _), httpx.Client(base_url=url, timeout=600) as http:
        t0 = time.perf_counter()
        first = http.get("/api/runs", params=params).json()
        cold = time.perf_counter() - t0
        answer = first
        while answer["partial"] is not None:  # as the page does, a little more eagerly
            time.sleep(0.05)
            answer = http.get("/api/runs", params=params).json()
        whole = time.perf_counter() - t0
        assert answer["total"] == n, answer["total"]
    before = rss_mb()
    with UiServer(root) as server, httpx.Client(base_url=server.url, timeout=600) as http:
        first_here = http.get("/api/runs", params=params).json()
        grown = rss_mb() - before
        warm, _ = timed(lambda: http.get("/api/runs", params=params).json(), 7)
        sort: dict[str, Any] = {"limit": 100, "sort": "metrics.train/loss.min", "q": "clone-1"}
        filtered, page = timed(lambda: http.get("/api/runs", params=sort).json(), 7)
        cursor = first_here["cursor"]
        live, _ = timed(lambda: http.get("/api/runs", params={"since": cursor}).json(), 7)
    return {"n": n, "built": built, "cold": cold, "partial": first["partial"],
            "whole": whole, "warm": warm, "filtered": filtered,
            "filtered_total": page["total"], "since": live, "rss": grown}  # fmt: skip


def our_series(work: Path, points: int) -> dict[str, Any]:
    root = work / "long"
    t0 = time.perf_counter()
    run = sf.long_series_run(root, points)
    built = time.perf_counter() - t0
    with UiServer(root) as server, httpx.Client(base_url=server.url, timeout=600) as http:
        params: dict[str, Any] = {"run": run.run_id, "name": "loss", "points": 2000}

        def ask(**extra: Any) -> dict[str, Any]:
            answer: dict[str, Any] = http.get("/api/series", params={**params, **extra}).json()
            return answer

        colds = []
        for _ in range(3):
            clear_cache()
            t0 = time.perf_counter()
            out = ask()
            colds.append(time.perf_counter() - t0)
        assert out["series"][0]["total"] == points
        warm, out = timed(ask, 9)
        returned = out["series"][0]["returned"]
        zoom, z = timed(lambda: ask(x_min=points // 3, x_max=points // 3 + points // 100), 9)
        cursor = out["series"][0]["cursor"]
        live, _ = timed(lambda: ask(after=cursor), 9)
    return {"points": points, "built": built, "cold": statistics.median(colds), "warm": warm,
            "returned": returned, "zoom": zoom, "zoom_returned": z["series"][0]["returned"],
            "live": live}  # fmt: skip


def mlflow_history(work: Path, points: int) -> dict[str, Any]:
    """``points`` points logged to a real mlflow server, then read back whole through
    ``GET /api/2.0/mlflow/metrics/get-history`` (following its pages)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    server = importlib.import_module("mlflow_server").MlflowServer(work / "mlflow")
    server.start()
    try:
        client = MlflowClient(tracking_uri=server.uri)
        exp = client.create_experiment("bench")
        run_id = client.create_run(exp).info.run_id
        values = np.sin(np.arange(points) / 1e4)
        now = int(time.time() * 1000)
        t0 = time.perf_counter()
        for lo in range(0, points, 1000):
            batch = [Metric("loss", float(values[i]), now + i, i)
                     for i in range(lo, min(points, lo + 1000))]  # fmt: skip
            client.log_batch(run_id, metrics=batch)
        logged = time.perf_counter() - t0
        url = f"{server.uri}/api/2.0/mlflow/metrics/get-history"

        def read() -> int:
            count, token = 0, None
            with httpx.Client(timeout=600) as http:
                while True:
                    q = {"run_id": run_id, "metric_key": "loss", "max_results": 25000}
                    if token:
                        q["page_token"] = token
                    body = http.get(url, params=q).json()
                    count += len(body.get("metrics", []))
                    token = body.get("next_page_token")
                    if not token:
                        return count

        seconds, count = timed(read, 3)
        assert count == points, count
        return {"points": points, "seconds": seconds, "logged": logged}
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tensorboard_scalars(work: Path, points: int) -> dict[str, Any]:
    """``points`` scalars in one event file (written with TensorBoard's own event writer),
    served by ``tensorboard`` keeping every sample; the scalars route timed once loaded."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir = work / "tb"
    writer = EventFileWriter(str(logdir), max_queue_size=1000, flush_secs=5)
    values = np.sin(np.arange(points) / 1e4).tolist()
    for step, value in enumerate(values):
        summary = Summary(value=[Summary.Value(tag="loss", simple_value=value)])
        writer.add_event(Event(wall_time=1.7e9 + step / 1000, step=step, summary=summary))
    writer.close()
    port = _free_port()
    tb = Path(sys.executable).with_name("tensorboard")
    command = [str(tb), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
               "--samples_per_plugin", f"scalars={points}", "--load_fast", "false",
               "--reload_interval", "0"]  # fmt: skip
    log = (work / "tb.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars"
    try:
        t0 = time.perf_counter()
        deadline = t0 + 1800
        with httpx.Client(timeout=600) as http:
            while True:
                try:
                    answer = http.get(url, params={"run": ".", "tag": "loss"})
                    if answer.status_code == 200 and len(answer.json()) == points:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError("tensorboard did not load the points; see tb.log")
                time.sleep(0.2)
            loaded = time.perf_counter() - t0
            seconds, _ = timed(lambda: http.get(url, params={"run": ".", "tag": "loss"}).json(), 5)
        return {"points": points, "seconds": seconds, "loaded": loaded}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def big_store_memory(work: Path) -> dict[str, Any]:
    """Memory of listing 100,000 runs (the index the runs page keeps)."""
    root = work / "big"
    template = sf.make_runs(root, 1)
    sf.clone_runs(template[0], 99_999)
    from ferrotrack.ui.data import RunsQuery, runs_page

    before = rss_mb()
    t0 = time.perf_counter()
    page = runs_page(root, RunsQuery(limit=100))
    seconds = time.perf_counter() - t0
    peak = psutil.Process().memory_info().rss / 2**20  # after; the index stays
    return {"n": page["total"], "seconds": seconds, "rss": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--store-100k", action="store_true")
    args = parser.parse_args()
    n_runs = 1_000 if args.quick else 10_000
    n_points = 1_000_000 if args.quick else 10_000_000
    peer_mlflow = 10_000 if args.quick else 100_000
    peer_tb = 10_000 if args.quick else 1_000_000
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ferrotrack-bench-ui-"))
    try:
        page = runs_page(work, n_runs)
        ours = our_series(work, n_points)
        mlf = mlflow_history(work, peer_mlflow)
        tb = tensorboard_scalars(work, peer_tb)
        big = big_store_memory(work) if args.store_100k else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    report(args, page, ours, mlf, tb, big, load_before, load_after)


def report(  # noqa: PLR0917 (the figures of one run, each its own)
    args: argparse.Namespace,
    page: dict[str, Any],
    ours: dict[str, Any],
    mlf: dict[str, Any],
    tb: dict[str, Any],
    big: dict[str, Any] | None,
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
) -> None:
    ms = 1000.0
    partial = "every run read"
    if page["partial"] is not None:
        partial = (f"answered over the newest {page['partial']['indexed']:,} runs read so "
                   f"far of {page['partial']['of']:,}")  # fmt: skip
    lines = [
        "## Web UI (`bench/ui.py`)",
        "",
        f"Reproduce: `.venv/bin/python bench/ui.py{' --quick' if args.quick else ''}` "
        f"({machine()}). Server side only, over HTTP on loopback through httpx (request, "
        "JSON, parse): the browser's first render is `ferrotrack-ui`'s browser tests' part. "
        "Warm figures are medians of 7–9 requests; cold ones are the first request after "
        "the server started (runs) or after its series cache was emptied (median of 3).",
        "",
        "| measure | ours | peer (same run) | ratio | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| runs page, {page['n']:,} runs, first request to `ferrotrack ui` as it prints "
        f"its URL ({partial}) | "
        f"{page['cold'] * ms:.0f} ms | | | ≤ 1 s | {verdict(page['cold'] <= 1.0)} |",
        f"| … until an answer holds every run (asking again every 50 ms) | "
        f"{page['whole'] * ms:.0f} ms | | | | |",
        f"| runs page, {page['n']:,} runs, next requests | {page['warm'] * ms:.0f} ms | | | "
        f"≤ 1 s | {verdict(page['warm'] <= 1.0)} |",
        f"| … searched (`q`) and sorted by a metric ({page['filtered_total']:,} match) | "
        f"{page['filtered'] * ms:.0f} ms | | | | |",
        f"| … `since=` cursor (nothing changed: the live table's poll) | "
        f"{page['since'] * ms:.0f} ms | | | | |",
    ]
    for peer, what in ((mlf, "MLflow `metrics/get-history`"),
                       (tb, "TensorBoard `/data/plugin/scalars/scalars`")):  # fmt: skip
        ratio = peer["seconds"] / ours["warm"]
        cold_ratio = peer["seconds"] / ours["cold"]
        lines.append(
            f"| one metric, {ours['points']:,} points → {ours['returned']:,} drawn, warm, "
            f"vs {what} of {peer['points']:,} points | {ours['warm'] * ms:.0f} ms | "
            f"{peer['seconds'] * ms:.0f} ms | {ratio:.0f}× faster (cold: {cold_ratio:.1f}×) | "
            f"≥ 10× | {verdict(ratio >= 10)} |"
        )
    lines += [
        f"| the same, cold (read from the segments) | {ours['cold'] * ms:.0f} ms | | | "
        f"≤ 200 ms | {verdict(ours['cold'] <= 0.2)} |",
        f"| the same, warm | {ours['warm'] * ms:.0f} ms | | | ≤ 200 ms | "
        f"{verdict(ours['warm'] <= 0.2)} |",
        f"| zoom on 1% of the x range ({ours['zoom_returned']:,} points) | "
        f"{ours['zoom'] * ms:.1f} ms | | | | |",
        f"| live poll with `after=` (no new points) | {ours['live'] * ms:.1f} ms | | | | |",
    ]
    if big is not None:
        lines.append(
            f"| {big['n']:,} runs listed (`runs_page`, in process): memory the index keeps | "
            f"{big['rss']:.0f} MB in {big['seconds']:.1f} s | | | does not exhaust memory | "
            f"{verdict(big['rss'] < 4096)} |"
        )
    lines += [
        "",
        f"The peers get fewer points ({mlf['points']:,} for MLflow, {tb['points']:,} for "
        "TensorBoard) because they cannot hold 10 M in reasonable time here: MLflow took "
        f"{mlf['logged']:.0f} s to be sent {mlf['points']:,} points (`log_batch` of 1,000) and "
        f"TensorBoard {tb['loaded']:.0f} s to load its {tb['points']:,} (every sample kept, "
        "`--samples_per_plugin scalars=<points>`; its default keeps 1,000 at random). A "
        "peer's time grows with its points, so these ratios are conservative. Both peers "
        "send every point; ours sends at most `points` (2,000) per series, each bucket's "
        "first, last, lowest and highest, so the chart shows the same extremes.",
        "",
        "Cold vs warm: the first request of a series reads, from each live segment of the "
        "run, only the `name` column's dictionary codes, the x column and `value` (pyarrow, "
        "a pool thread per segment, into one preallocated array), and keeps the sorted "
        "points in a cache bounded at 512 MB; later requests, zooms and live polls only "
        "search that array and downsample (numpy, per bucket). The runs page's index is "
        "built from core's native readers (`run.json`/`params.json` read on every core, "
        "summaries by `read_summaries`), each row's JSON made when a page shows it, and "
        "re-reads only runs whose folder or `run.json` changed (two stats per run per "
        "request). The server starts reading the store as it starts, newest run first, "
        "publishing 500 runs, then four times more at a time; a runs request waits at most "
        "0.25 s for the whole store, then answers over the runs read so far (`partial`), "
        "and the page asks again until every run is in. Building the stores took "
        f"{page['built']:.0f} s "
        f"({page['n']:,} runs, most cloned folders) and {ours['built']:.0f} s "
        f"({ours['points']:,} points).",
        "",
        f"Memory: the index of {page['n']:,} runs added {page['rss']:.0f} MB to the process.",
        "",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}.",
    ]
    write_section("ui", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
