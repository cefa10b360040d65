"""Several hosts on this machine, joined by a real network: one network namespace each (`ip netns`), each with a
veth pair to a bridge. Redis, PostgreSQL and the S3 server run on the "db" host, the API on "api", one worker on
"cpu-host" (queue cpu) and one on "long-host" (queue long). Nothing but the network connects them: each host
has its own data directory, and the runs' files go through the bucket.

Needs root and iproute2 (scripts/install-system-deps.sh installs it); the test makes and removes every
namespace, link and bridge it uses."""

import httpx
import pytest
from conftest import wait_for

from azuraforge_common import names
from azuraforge_common.lifecycle import WORKER_LOST
from azuraforge_common.testing import can_make_namespaces, cluster, ip

HEARTBEAT_TTL_S = 3


@pytest.fixture
def hosts(tmp_path, test_app_path):
    if not can_make_namespaces():
        pytest.fail("this test builds network namespaces: run it as root with iproute2 (apt-get install iproute2)")
    workers = {"cpu-host": ["cpu"], "long-host": ["long"]}
    with cluster(tmp_path, workers, str(test_app_path), HEARTBEAT_TTL_S) as built:
        yield built


def test_runs_cross_hosts_and_survive_a_cut_link(hosts, tmp_path):
    http = httpx.Client(base_url=hosts.api_url, headers={"Authorization": f"Bearer {hosts.token}"}, timeout=30)

    def experiment(experiment_id):
        return http.get(f"/api/v1/experiments/{experiment_id}").json()

    def create(queue, epochs):
        response = http.post(
            "/api/v1/experiments",
            json={"app": "sine_test", "queue": queue, "config": {"epochs": epochs, "epoch_sleep_s": 0.3}},
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def run_by(experiment_id):
        """The pid of the worker process whose heartbeat the running experiment carries (host:pid)."""
        owner = hosts.redis.get(names.heartbeat_key(experiment_id))
        return int(owner.rsplit(b":", 1)[1]) if owner else None

    short, long = create("cpu", 8), create("long", 40)
    wait_for(lambda: run_by(short) and run_by(long), 90, "both runs to start")
    assert run_by(short) == hosts.workers["cpu-host"].pid, "the cpu run went to the cpu worker"
    assert run_by(long) == hosts.workers["long-host"].pid, "the long run went to the long worker"

    ip("link", "set", hosts.network.link("long-host"), "down")  # unplug the long worker's host
    try:
        lost = wait_for(lambda: (e := experiment(long))["status"] == "failed" and e, 4 * HEARTBEAT_TTL_S + 10, "reaped")
        assert lost["error"] == WORKER_LOST
        done = wait_for(lambda: (e := experiment(short))["status"] == "succeeded" and e, 60, "the cpu run to end")
    finally:
        ip("link", "set", hosts.network.link("long-host"), "up")

    # Written on the cpu host, served by the api host: neither has the other's directory.
    assert not (tmp_path / "api" / "experiments").exists()
    assert {"report.md", "images/loss.png", "model.npz"} <= set(done["artifacts"])
    report = http.get(f"/api/v1/experiments/{short}/report")
    assert report.status_code == 200
    assert "](images/loss.png)" in report.text
    image = http.get(f"/api/v1/experiments/{short}/artifacts/images/loss.png")
    assert image.content.startswith(b"\x89PNG")

    # Back on the network, the long host finishes its run: its real end and its files replace "worker lost".
    recovered = wait_for(lambda: (e := experiment(long))["status"] != "failed" and e, 90, "the long run's real end")
    assert recovered["status"] == "succeeded"
    assert len(recovered["history"]["loss"]) == 40
    assert http.get(f"/api/v1/experiments/{long}/artifacts/model.npz").status_code == 200
    assert hosts.workers["long-host"].poll() is None, "the cut-off worker is still serving"
    again = create("long", 1)
    assert wait_for(lambda: experiment(again)["status"] == "succeeded", 60, "a new run on the long host")
    http.close()
