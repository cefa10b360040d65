"""Multi-host benchmark (not a test): runs/hour and artifact upload MB/s with 1, 2 and 4 workers, each on a host
of its own (a network namespace, see azuraforge_common.testing.cluster), Redis, PostgreSQL and the S3 server on
another and the API on a third. Needs root and iproute2.

Runs/hour counts from the first submission to the last end. The orchestration overhead per run is what a worker
spends per run apart from the run itself (queueing, claiming, recording, the final upload): workers x wall time /
runs, minus the mean time from a run's start to its end. Uploads: every worker host puts a file of --upload-mb
into the bucket at once, through the artifact store (boto3, checksummed).

    python benchmarks/hosts.py --runs 8 --epochs 2 --upload-mb 64
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from azuraforge_common.testing import Cluster, cluster
from azuraforge_worker.testing import TEST_APP, register_test_app

UPLOAD = """
import os, pathlib, sys, tempfile, time
from azuraforge_common.settings import Settings
store = Settings().artifacts()
path = pathlib.Path(tempfile.mkdtemp()) / "blob"
path.write_bytes(os.urandom(int(sys.argv[1]) * 1024 * 1024))
start = time.perf_counter()
store.upload(f"benchmark/{sys.argv[2]}/blob", path)
print(time.perf_counter() - start)
"""


def measure_runs(built: Cluster, runs: int, epochs: int, workers: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {built.token}"}
    with httpx.Client(base_url=built.api_url, headers=headers, timeout=60) as http:
        ids = []
        for _ in range(runs):
            response = http.post("/api/v1/experiments", json={"app": TEST_APP, "config": {"epochs": epochs}})
            response.raise_for_status()
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 1800
        while True:
            records = [http.get(f"/api/v1/experiments/{experiment_id}").json() for experiment_id in ids]
            if all(record["status"] in ("succeeded", "failed", "cancelled") for record in records):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the runs did not end within 30 minutes")
            time.sleep(0.5)
    failed = [record["id"] for record in records if record["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"runs {failed} did not succeed; see the worker logs")
    created = min(datetime.fromisoformat(record["created_at"]) for record in records)
    finished = max(datetime.fromisoformat(record["finished_at"]) for record in records)
    wall_s = (finished - created).total_seconds()
    run_s = statistics.mean(
        (datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])).total_seconds()
        for r in records
    )
    return {
        "runs_per_hour": runs / wall_s * 3600,
        "per_worker": runs / wall_s * 3600 / workers,
        "run_s": run_s,
        "overhead_s": workers * wall_s / runs - run_s,
    }


def measure_uploads(built: Cluster, megabytes: int) -> dict[str, float]:
    uploads = [
        subprocess.Popen(
            ["ip", "netns", "exec", built.network.namespace(host), sys.executable, "-c", UPLOAD, str(megabytes), host],
            env=built.environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        for host in built.workers
    ]
    seconds = [float(upload.communicate(timeout=600)[0].strip().splitlines()[-1]) for upload in uploads]
    return {
        "aggregate_mb_s": megabytes * len(seconds) / max(seconds),
        "per_host_mb_s": statistics.mean(megabytes / s for s in seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=8, help="runs per measurement (default 8)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run of the test app (default 2)")
    parser.add_argument("--upload-mb", type=int, default=64, help="file each worker host uploads (default 64)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} cores")
    print("workers  runs/h  runs/h/worker  run s  overhead s/run  upload MB/s (all)  upload MB/s (per host)")
    with tempfile.TemporaryDirectory(prefix="azuraforge-hosts-") as temporary:
        apps = register_test_app(Path(temporary) / "apps")
        for count in (int(value) for value in args.workers.split(",")):
            directory = Path(temporary) / f"workers-{count}"
            directory.mkdir()
            workers = {f"w{n}": ["--queues=cpu"] for n in range(1, count + 1)}
            with cluster(directory, workers, str(apps), heartbeat_ttl_s=30) as built:
                runs = measure_runs(built, args.runs, args.epochs, count)
                uploads = measure_uploads(built, args.upload_mb)
            print(
                f"{count:>7}  {runs['runs_per_hour']:>6.0f}  {runs['per_worker']:>13.0f}  {runs['run_s']:>5.1f}  "
                f"{runs['overhead_s']:>14.2f}  {uploads['aggregate_mb_s']:>17.1f}  {uploads['per_host_mb_s']:>22.1f}",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
