"""Metric-volume benchmark (not a test): clients logging through the MLflow tracking API into a real
`azuraforge up`, each as a training script logging every batch would.

Each of --runs clients sends --rate metrics per second (one `runs/log-metric` call each, as `mlflow.log_metric`
does; --batch N sends them N at a time through `runs/log-batch`) for --seconds, while another client reads
`/api/v1/health` every 100 ms. Prints the metric rate sustained, call latencies, the health check's latency under
that load, the database's growth per stored value, reading a run's whole history, and ending a run (its report).

    python benchmarks/tracking.py --runs 1 --rate 50 --seconds 60 --mlflow   # the real MLflow client
    python benchmarks/tracking.py --runs 1 --rate 50 --seconds 60 --mlflow --by-id   # ... given run_id= per call
    python benchmarks/tracking.py --runs 1 --rate 50 --seconds 60
    python benchmarks/tracking.py --runs 4 --rate 0 --batch 100 --seconds 20   # as fast as it goes
"""

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import redis

from azuraforge_common.processes import free_port, stop_process, wait_until

MLFLOW = "/api/2.0/mlflow"


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms, max {max(values):.1f} ms"


def log_metrics(base: str, run_id: str, rate: float, batch: int, seconds: float, latencies: list[float]) -> int:
    """Logs for `seconds` at `rate` metrics/s (0: as fast as it goes); returns how many were stored."""
    sent = 0
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=60) as http:
        while (elapsed := time.monotonic() - started) < seconds:
            if rate and sent / rate > elapsed:
                time.sleep(min(sent / rate - elapsed, 0.05))
                continue
            now = int(time.time() * 1000)
            metrics = [
                {"key": "loss", "value": 1 / (sent + i + 1), "timestamp": now, "step": sent + i} for i in range(batch)
            ]
            call = time.perf_counter()
            if batch == 1:
                response = http.post(f"{MLFLOW}/runs/log-metric", json={"run_id": run_id, **metrics[0]})
            else:
                response = http.post(f"{MLFLOW}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
            latencies.append((time.perf_counter() - call) * 1000)
            response.raise_for_status()
            sent += batch
    return sent


MLFLOW_CLIENT = """
import json, sys, time
import mlflow
rate, seconds, by_id = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "by-id"
run_id = mlflow.MlflowClient().create_run("0", run_name="bench").info.run_id
print(run_id, flush=True)
sys.stdin.readline()
with mlflow.start_run(run_id=run_id):
    given = {"run_id": run_id} if by_id else {}
    sent, latencies, started, cpu = 0, [], time.monotonic(), time.process_time()
    while (elapsed := time.monotonic() - started) < seconds:
        if rate and sent / rate > elapsed:
            time.sleep(min(sent / rate - elapsed, 0.05))
            continue
        call = time.perf_counter()
        mlflow.log_metric("loss", 1 / (sent + 1), step=sent, **given)
        latencies.append((time.perf_counter() - call) * 1000)
        sent += 1
    cpu = time.process_time() - cpu
print(json.dumps({"sent": sent, "latencies": latencies, "cpu_s": cpu}))
"""
"""One training script's loop through the unmodified client, in its active run: `mlflow.log_metric` per value,
synchronous, one POST each; "by-id" passes `run_id=` to each call, and the client GETs the run before each value."""


def start_mlflow_client(base: str, rate: float, seconds: float, by_id: bool) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": base}
    client = subprocess.Popen(
        [sys.executable, "-c", MLFLOW_CLIENT, str(rate), str(seconds), "by-id" if by_id else "active"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    return client, client.stdout.readline().strip()


def run_mlflow_client(client: subprocess.Popen[str], latencies: list[float]) -> tuple[int, float]:
    """Lets the client start logging; returns how many values it logged, and its CPU time doing it."""
    out, _ = client.communicate("go\n", timeout=600)
    result = json.loads(out.splitlines()[-1])
    latencies.extend(result["latencies"])
    return int(result["sent"]), float(result["cpu_s"])


def poll_health(base: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=60) as http:
        while not stop.wait(0.1):
            call = time.perf_counter()
            http.get("/api/v1/health").raise_for_status()
            latencies.append((time.perf_counter() - call) * 1000)


def database_size(database: Path) -> int:
    """The SQLite file's size with its write-ahead log folded in (the WAL holds whole pages per commit)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database.stat().st_size


REDIS_WRITES = ("set", "hset", "expire", "xadd", "incr", "publish")
"""The commands an API's logging calls write with: each grows the append-only file of `up`'s Redis."""


class Costs:
    """What the load costs the platform, independent of how busy the machine is: the API process's CPU time and
    the Redis write commands (`azuraforge up`'s own children, found by their command lines)."""

    def __init__(self, up: subprocess.Popen[bytes]) -> None:
        children = psutil.Process(up.pid).children(recursive=True)
        self.api = next(child for child in children if "uvicorn" in " ".join(child.cmdline()))
        redis_server = next(child for child in children if "redis-server" in child.name())
        port = next(c.laddr.port for c in redis_server.net_connections() if c.status == psutil.CONN_LISTEN)
        self.redis = redis.Redis(port=port)

    def now(self) -> tuple[float, int, int]:
        times, stats = self.api.cpu_times(), self.redis.info("commandstats")
        writes = sum(stats.get(f"cmdstat_{command}", {"calls": 0})["calls"] for command in REDIS_WRITES)
        return times.user + times.system, self.api.num_ctx_switches().voluntary, writes


def measure(base: str, database: Path, args: argparse.Namespace, costs: Costs) -> None:
    http = httpx.Client(base_url=base, timeout=120)
    clients = (
        [start_mlflow_client(base, args.rate, args.seconds, args.by_id) for _ in range(args.runs)]
        if args.mlflow
        else []
    )
    run_ids = [run_id for _, run_id in clients] or [
        http.post(f"{MLFLOW}/runs/create", json={"experiment_id": "0", "run_name": f"bench {n}"}).json()["run"]["info"][
            "run_id"
        ]
        for n in range(args.runs)
    ]
    size_before = database.stat().st_size + (
        database.with_suffix(".db-wal").stat().st_size if database.with_suffix(".db-wal").exists() else 0
    )
    call_latencies: list[list[float]] = [[] for _ in run_ids]
    health_latencies: list[float] = []
    counts = [0] * len(run_ids)
    client_cpu = [0.0] * len(run_ids)
    stop = threading.Event()
    health = threading.Thread(target=poll_health, args=(base, stop, health_latencies))
    health.start()

    def client(index: int) -> None:
        latencies = call_latencies[index]
        if clients:
            counts[index], client_cpu[index] = run_mlflow_client(clients[index][0], latencies)
        else:
            counts[index] = log_metrics(base, run_ids[index], args.rate, args.batch, args.seconds, latencies)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(run_ids))]
    cost_before = costs.now()
    own_cpu = time.process_time()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    cost_after = costs.now()
    own_cpu = time.process_time() - own_cpu  # the health poller's, and the raw clients' (threads of this process)
    stop.set()
    health.join()
    total = sum(counts)
    how = f"{args.batch} per call"
    if args.mlflow:
        how = "mlflow.log_metric(run_id=...): runs/get + log-metric per value" if args.by_id else "mlflow.log_metric"
    print(
        f"{args.runs} runs × {args.rate or 'max'} metrics/s ({how}) for {args.seconds:.0f} s, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"stored {total} values in {took:.1f} s: {total / took:.0f} metrics/s in all")
    print(f"call latency: {percentiles([v for run in call_latencies for v in run])}")
    print(f"/api/v1/health meanwhile: {percentiles(health_latencies)}")
    cpu, switches, writes = (after - before for after, before in zip(cost_after, cost_before, strict=True))
    print(
        f"per stored value: API CPU {cpu / max(total, 1) * 1000:.2f} ms, {switches / max(total, 1):.1f} voluntary "
        f"context switches of the API process, {writes / max(total, 1):.2f} Redis writes"
    )
    print(
        f"clients' CPU on the same machine: {(sum(client_cpu) + own_cpu) / max(total, 1) * 1000:.2f} ms per value "
        f"(MLflow clients {sum(client_cpu):.1f} s, this process {own_cpu:.1f} s)"
    )
    size_after = database.stat().st_size + (
        database.with_suffix(".db-wal").stat().st_size if database.with_suffix(".db-wal").exists() else 0
    )
    print(f"database growth: {(size_after - size_before) / max(total, 1):.0f} bytes per value (SQLite)")
    call = time.perf_counter()
    steps, token = 0, None
    while True:
        params = {"run_id": run_ids[0], "metric_key": "loss"} | ({"page_token": token} if token else {})
        page = http.get(f"{MLFLOW}/metrics/get-history", params=params).json()
        steps += len(page["metrics"])
        if not (token := page.get("next_page_token")):
            break
    print(f"reading one run's history ({steps} values): {(time.perf_counter() - call) * 1000:.0f} ms")
    call = time.perf_counter()
    http.post(f"{MLFLOW}/runs/update", json={"run_id": run_ids[0], "status": "FINISHED"}).raise_for_status()
    print(f"ending it (record, history, report with its plot): {(time.perf_counter() - call) * 1000:.0f} ms")
    http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=50.0, help="metrics per second per run; 0 for as fast as it goes")
    parser.add_argument("--batch", type=int, default=1, help="metrics per call (1: log-metric, else log-batch)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mlflow", action="store_true", help="log through the real MLflow client (one value per call)")
    parser.add_argument("--by-id", action="store_true", help="with --mlflow: pass run_id= to each log_metric call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="azuraforge-tracking-") as tmp:
        root = Path(tmp)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("AZURAFORGE_")}
        env |= {"AZURAFORGE_DATA_DIR": str(root / "data")}
        command = [str(Path(sys.executable).parent / "azuraforge"), "up", "--port", str(port), "--workers", "1"]
        log = (root / "up.log").open("wb")
        up = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            wait_until(lambda: b"AzuraForge is running" in (root / "up.log").read_bytes(), 120, "azuraforge up", up)
            measure(f"http://127.0.0.1:{port}", root / "data" / "azuraforge.db", args, Costs(up))
        finally:
            stop_process(up, 60)


if __name__ == "__main__":
    main()
