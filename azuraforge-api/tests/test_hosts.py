"""Several hosts on this machine, joined by a real network: one network namespace each (`ip netns`), each with a
veth pair to a bridge. Redis, PostgreSQL and the S3 server run on the "db" host, the API on "api", a worker on
"cpu-host" (queue cpu, two runs at once) and one on "long-host" (queue long). Nothing but the network connects
them: each host has its own data directory, and the runs' files go through the bucket.

Needs root and iproute2 (scripts/install-system-deps.sh installs it); the test makes and removes every
namespace, link and bridge it uses."""

import contextlib
from collections.abc import Sequence
from datetime import datetime

import httpx
import psutil
import pytest
from conftest import wait_for

from azuraforge_common import names
from azuraforge_common.lifecycle import WORKER_LOST
from azuraforge_common.testing import can_make_namespaces, cluster, ip

HEARTBEAT_TTL_S = 3
LONG_EPOCHS = 24
"""Of 0.3 s: the long run outlives the cut and its reaping (about 2 heartbeats), and ends after the link is back."""


@pytest.fixture
def hosts(tmp_path, test_app_path):
    if not can_make_namespaces():
        pytest.fail("this test builds network namespaces: run it as root with iproute2 (apt-get install iproute2)")
    workers: dict[str, Sequence[str]] = {
        "cpu-host": ["--queues=cpu", "--concurrency=2"],
        "long-host": ["--queues=long"],
    }
    with cluster(tmp_path, workers, str(test_app_path), HEARTBEAT_TTL_S) as built:
        # Every worker process ready before the runs are sent, so that they start together however loaded the
        # machine is.
        for host, processes in {"cpu-host": 2, "long-host": 1}.items():
            log = tmp_path / f"{host}.log"
            wait_for(lambda log=log, n=processes: log.read_text().count(" ready.") == n, 120, f"{host}'s workers")
        yield built


def worker_processes(pid):
    """The worker processes a `--concurrency` worker runs (not the short-lived child publishing its apps)."""
    found = set()
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "azuraforge_worker.catalog" not in child.cmdline():
                found.add(child.pid)
    return found


def test_runs_cross_hosts_by_queue_and_priority_and_survive_a_cut_link(hosts, tmp_path):
    http = httpx.Client(base_url=hosts.api_url, headers={"Authorization": f"Bearer {hosts.token}"}, timeout=30)

    def experiment(experiment_id):
        return http.get(f"/api/v1/experiments/{experiment_id}").json()

    def create(queue, epochs, **fields):
        config = {"epochs": epochs, "epoch_sleep_s": 0.3}
        response = http.post(
            "/api/v1/experiments", json={"app": "sine_test", "queue": queue, "config": config, **fields}
        )
        assert response.status_code == 202, response.text
        created = response.json()
        return [member["id"] for member in created["experiments"]] if "experiments" in created else created["id"]

    def run_by(experiment_id):
        """The pid of the worker process whose heartbeat the running experiment carries (host:pid)."""
        owner = hosts.redis.get(names.heartbeat_key(experiment_id))
        return int(owner.rsplit(b":", 1)[1]) if owner else None

    def running(experiment_id):
        """Recorded running (not only claimed: a cut between the two would leave it queued) and beating."""
        return experiment(experiment_id)["status"] == "running" and run_by(experiment_id)

    def started(experiment_id):
        return datetime.fromisoformat(experiment(experiment_id)["started_at"])

    shorts, long = [create("cpu", 8), create("cpu", 8)], create("long", LONG_EPOCHS)
    wait_for(lambda: all(running(run) for run in [*shorts, long]), 90, "the three runs to start")
    cpu_processes = worker_processes(hosts.workers["cpu-host"].pid)
    assert {run_by(run) for run in shorts} == cpu_processes, "both cpu runs at once, on the cpu host's two processes"
    assert run_by(long) == hosts.workers["long-host"].pid, "the long run went to the long worker"

    ip("link", "set", hosts.network.link("long-host"), "down")  # unplug the long worker's host
    try:
        # Queued meanwhile on the long queue: a grid's trials, then an interactive run, which goes first.
        trials = create("long", 1, grid={"window": [4, 5]})
        interactive = create("long", 1)
        lost = wait_for(lambda: (e := experiment(long))["status"] == "failed" and e, 4 * HEARTBEAT_TTL_S + 10, "reaped")
        assert lost["error"] == WORKER_LOST
        done = [
            wait_for(lambda r=run: (e := experiment(r))["status"] == "succeeded" and e, 60, "a cpu run")
            for run in shorts
        ]
    finally:
        ip("link", "set", hosts.network.link("long-host"), "up")

    # Written on the cpu host, served by the api host: neither has the other's directory.
    assert not (tmp_path / "api" / "experiments").exists()
    assert {"report.md", "images/loss.png", "model.npz"} <= set(done[0]["artifacts"])
    report = http.get(f"/api/v1/experiments/{shorts[0]}/report")
    assert report.status_code == 200
    assert "](images/loss.png)" in report.text
    image = http.get(f"/api/v1/experiments/{shorts[0]}/artifacts/images/loss.png")
    assert image.content.startswith(b"\x89PNG")

    # Back on the network, the long host finishes its run: its real end and its files replace "worker lost".
    recovered = wait_for(lambda: (e := experiment(long))["status"] != "failed" and e, 90, "the long run's real end")
    assert recovered["status"] == "succeeded"
    assert len(recovered["history"]["loss"]) == LONG_EPOCHS
    assert http.get(f"/api/v1/experiments/{long}/artifacts/model.npz").status_code == 200
    assert hosts.workers["long-host"].poll() is None, "the cut-off worker is still serving"
    waiting = [interactive, *trials]
    wait_for(lambda: all(experiment(run)["status"] == "succeeded" for run in waiting), 90, "the long queue to empty")
    assert started(interactive) < min(started(trial) for trial in trials), "the interactive run overtook the trials"
    http.close()
