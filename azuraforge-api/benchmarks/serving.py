"""Serving benchmark (not a test): prediction latency through the API and the model server of a real
`azuraforge up`.

Trains a few small runs of the test app, registers them as versions of one model, then prints
- cold load: the first prediction of each version (the model server loads it), against the cached median;
- cached latency: p50 / p99 / max of sequential predictions by alias (the model is in the server's cache);
- throughput: predictions per second from `--clients` concurrent clients for `--seconds`;
- for scale, the latency of a plain read of the version's record through the same API.

    python benchmarks/serving.py
    python benchmarks/serving.py --clients 20 --seconds 15 --requests 1000
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx

from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until
from azuraforge_worker.testing import register_test_app

ROWS = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0, -0.5, -1.0, -0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=3, help="versions trained, each loaded cold once")
    parser.add_argument("--requests", type=int, default=500, help="sequential predictions for the latency")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients for the throughput")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the concurrent clients run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="azuraforge-serving-") as folder:
        root = Path(folder)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("AZURAFORGE_")}
        env |= {
            "AZURAFORGE_DATA_DIR": str(root / "data"),
            "PYTHONPATH": os.pathsep.join([str(register_test_app(root / "apps")), env.get("PYTHONPATH", "")]),
        }
        command = [str(Path(sys.executable).parent / "azuraforge"), "up", "--port", str(port)]
        with open(root / "up.log", "wb") as log:
            up = subprocess.Popen(command, env=env, stdout=log, stderr=log, preexec_fn=die_with_parent)
            try:
                wait_until(lambda: b"AzuraForge is running" in (root / "up.log").read_bytes(), 120, "azuraforge up", up)
                measure(f"http://127.0.0.1:{port}", args)
            finally:
                stop_process(up, 60)


def measure(url: str, args: argparse.Namespace) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        for seed in range(args.versions):
            run = client.post(
                "/api/v1/experiments", json={"app": "sine_test", "config": {"epochs": 2, "window": 8, "seed": seed}}
            ).json()
            wait_until(partial(succeeded, client, run["id"]), 300, "a training run")
            client.post("/api/v1/models/bench/versions", json={"experiment_id": run["id"]}).raise_for_status()
        cold = [timed(client, f"/api/v1/models/bench/versions/{v}/predict") for v in range(1, args.versions + 1)]
        client.put("/api/v1/models/bench/aliases/production", json={"version": 1}).raise_for_status()
        by_alias = "/api/v1/models/bench@production/predict"
        cached = sorted(timed(client, by_alias) for _ in range(args.requests))
        reference = sorted(timed(client, "/api/v1/models/bench/versions/1", "GET") for _ in range(args.requests))
    p50, p99 = statistics.median(cached), cached[int(0.99 * (len(cached) - 1))]
    print(f"cold load (first prediction of a version): {', '.join(f'{s * 1000:.0f}' for s in cold)} ms")
    print(f"cached, sequential ({len(cached)}): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms", end="")
    print(f", max {cached[-1] * 1000:.1f} ms")
    print(f"cold / cached p50: {statistics.median(cold) / p50:.1f}x")
    print(
        f"reference, GET of the version's record: p50 {statistics.median(reference) * 1000:.1f} ms "
        f"(cached prediction / reference: {p50 / statistics.median(reference):.1f}x)"
    )
    done, failed = asyncio.run(concurrent(url, by_alias, args.clients, args.seconds))
    rate = done / args.seconds
    print(f"{args.clients} concurrent clients for {args.seconds:g} s: {rate:.0f} predictions/s, {failed} failed")


def succeeded(client: httpx.Client, experiment_id: str) -> bool:
    return bool(client.get(f"/api/v1/experiments/{experiment_id}").json()["status"] == "succeeded")


def timed(client: httpx.Client, path: str, method: str = "POST") -> float:
    started = time.perf_counter()
    client.request(method, path, json={"history": ROWS} if method == "POST" else None).raise_for_status()
    return time.perf_counter() - started


async def concurrent(url: str, path: str, clients: int, seconds: float) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    counts = {"done": 0, "failed": 0}

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                response = await client.post(path, json={"history": ROWS})
                counts["done" if response.status_code == 200 else "failed"] += 1

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return counts["done"], counts["failed"]


if __name__ == "__main__":
    main()
