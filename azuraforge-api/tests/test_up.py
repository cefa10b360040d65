"""End to end: the platform started the way users start it, `azuraforge up`, as a child process with its own
Redis, SQLite, API and worker; the test app is found through its entry point on PYTHONPATH."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import websockets
from conftest import wait_for
from websockets.sync.client import connect

from azuraforge_api.cli import WORKER_NICENESS
from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until

AZURAFORGE = str(Path(sys.executable).parent / "azuraforge")


def children_of(pid):
    """Processes whose parent is `pid` (read from /proc): what `azuraforge up` started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Up:
    """One `azuraforge up` process on a free port over `data_dir`."""

    def __init__(self, data_dir: Path, test_app_path: Path) -> None:
        self.port = free_port()
        log = data_dir.parent / f"up-{self.port}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("AZURAFORGE_")}
        env |= {
            "AZURAFORGE_DATA_DIR": str(data_dir),
            "AZURAFORGE_HEARTBEAT_TTL_S": "3",
            "AZURAFORGE_REAPER_INTERVAL_S": "1",
            "PYTHONPATH": os.pathsep.join([str(test_app_path), env.get("PYTHONPATH", "")]),
        }
        self.log = log
        self.process = subprocess.Popen(
            [AZURAFORGE, "up", "--port", str(self.port)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # a killed test run leaves no platform behind
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        wait_until(self._ready, 120, "azuraforge up", self.process)

    def _ready(self):
        return "AzuraForge is running at" in self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        self.http.close()
        return stop_process(self.process, 90, sig)

    def post(self, config, **fields):
        response = self.http.post("/api/v1/experiments", json={"app": "sine_test", "config": config, **fields})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def get(self, experiment_id):
        return self.http.get(f"/api/v1/experiments/{experiment_id}").json()

    def wait_status(self, experiment_id, statuses, timeout_s=60):
        return wait_for(lambda: (e := self.get(experiment_id))["status"] in statuses and e, timeout_s, str(statuses))

    def worker_pids(self):
        return [pid for pid in children_of(self.process.pid) if "-m azuraforge_worker " in cmdline(pid)]

    def cli(self, *args):
        """`azuraforge ARGS` against this platform, as a user runs it."""
        env = {**os.environ, "AZURAFORGE_URL": self.url}
        return subprocess.run([AZURAFORGE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def platform_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("platform")


@pytest.fixture(scope="module")
def stack(platform_dir, test_app_path):
    """The running platform; a test may replace it (holder[0]) with a restarted one."""
    holder = [Up(platform_dir / "data", test_app_path)]
    yield holder
    assert holder[0].stop() == 0
    assert wait_for(lambda: not children_of(holder[0].process.pid), 10, "no child left")


def read_socket(url, arrivals=None):
    """Every message (parsed) until the server closes, with the local arrival time of each."""
    messages = []
    with connect(url) as ws:
        while True:
            try:
                raw = ws.recv(timeout=60)
            except websockets.exceptions.ConnectionClosedOK:
                break
            messages.append(json.loads(raw))
            if arrivals is not None:
                arrivals.append(time.time())
    return messages, ws.close_code


def test_live_progress_reaches_the_client_while_training_runs(stack):
    up = stack[0]
    # `up` published the installed apps before it started the API.
    apps = {app["name"]: app["published_by"] for app in up.http.get("/api/v1/apps").json()}
    assert apps["sine_test"] == f"up@{socket.gethostname()}"
    experiment_id = up.post({"epochs": 8, "epoch_sleep_s": 0.5}, name="live")
    arrivals: list[float] = []
    messages, code = read_socket(f"{up.ws_url}/ws/experiments/{experiment_id}", arrivals)

    assert code == 1000
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1)), "no sequence number missing"
    final = messages[-1]
    assert (final["type"], final["status"], final["final"]) == ("status", "succeeded", True)
    epochs = [(m, t) for m, t in zip(messages, arrivals, strict=True) if m["type"] == "epoch_end"]
    assert [m["epoch"] for m, _ in epochs] == list(range(1, 9))
    first_epoch_arrival = epochs[0][1]
    last_epoch_published = epochs[-1][0]["ts"]
    finished = datetime.fromisoformat(up.get(experiment_id)["finished_at"]).timestamp()
    # The first epoch reached us before the last epoch was even trained, let alone the run finished.
    assert first_epoch_arrival < last_epoch_published < final["ts"]
    assert first_epoch_arrival < finished

    report = up.http.get(f"/api/v1/experiments/{experiment_id}/report")
    assert report.status_code == 200
    images = re.findall(r"!\[[^\]]*\]\((images/[^)]+\.png)\)", report.text)
    assert "images/loss.png" in images
    for image in images:
        response = up.http.get(f"/api/v1/experiments/{experiment_id}/artifacts/{image}")
        assert response.status_code == 200, image
        assert response.content.startswith(b"\x89PNG")


def test_a_reconnect_with_after_and_a_second_client_see_the_same_events(stack):
    up = stack[0]
    experiment_id = up.post({"epochs": 6, "epoch_sleep_s": 0.4})
    url = f"{up.ws_url}/ws/experiments/{experiment_id}"
    whole: list[dict] = []
    second = threading.Thread(target=lambda: whole.extend(read_socket(url)[0]))
    second.start()

    with connect(url) as ws:
        first_part = [json.loads(ws.recv(timeout=60))]
        while first_part[-1]["type"] != "epoch_end":
            first_part.append(json.loads(ws.recv(timeout=60)))
    last = first_part[-1]["seq"]
    wait_for(lambda: (up.get(experiment_id)["progress"] or {}).get("epoch", 0) >= 3, 60, "epoch 3")
    rest, code = read_socket(f"{url}?after={last}")
    second.join()

    assert code == 1000
    assert rest[0]["seq"] == last + 1
    assert first_part + rest == whole
    assert whole[-1]["status"] == "succeeded"


def test_cancel_a_running_and_a_queued_experiment(stack):
    up = stack[0]
    running = up.post({"epochs": 200, "epoch_sleep_s": 0.3})
    queued = up.post({"epochs": 1})
    up.wait_status(running, {"running"})

    cancelled = up.http.post(f"/api/v1/experiments/{queued}/cancel").json()
    assert (cancelled["status"], cancelled["started_at"]) == ("cancelled", None)
    assert up.http.post(f"/api/v1/experiments/{running}/cancel").status_code == 202
    stopped = up.wait_status(running, {"cancelled", "failed", "succeeded"})
    assert stopped["status"] == "cancelled"
    assert len(stopped["history"].get("loss", [])) < 200
    assert "report.md" in stopped["artifacts"]
    assert up.http.get(f"/api/v1/experiments/{running}/report").status_code == 200

    after = up.post({"epochs": 1})  # the one worker takes tasks in order: the cancelled one's task comes first
    up.wait_status(after, {"succeeded"})
    messages, _ = read_socket(f"{up.ws_url}/ws/experiments/{queued}")
    assert [(m["status"], m["final"]) for m in messages] == [("queued", False), ("cancelled", True)]
    assert up.get(queued)["started_at"] is None, "a cancelled queued experiment never runs"


def test_a_worker_killed_mid_run_fails_its_experiment_and_is_replaced(stack):
    up = stack[0]
    experiment_id = up.post({"epochs": 200, "epoch_sleep_s": 0.3})
    up.wait_status(experiment_id, {"running"})
    (worker,) = up.worker_pids()
    os.kill(worker, signal.SIGKILL)

    failed = up.wait_status(experiment_id, {"failed", "succeeded", "cancelled"}, timeout_s=60)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("worker lost")
    messages, _ = read_socket(f"{up.ws_url}/ws/experiments/{experiment_id}")
    assert (messages[-1]["status"], messages[-1]["final"]) == ("failed", True)

    replaced = wait_for(lambda: [pid for pid in up.worker_pids() if pid != worker], 60, "a new worker")
    assert len(replaced) == 1
    after = up.post({"epochs": 1})
    assert up.wait_status(after, {"succeeded", "failed"})["status"] == "succeeded"


def child_pid(up, program):
    (pid,) = [pid for pid in children_of(up.process.pid) if program in cmdline(pid)]
    return pid


def test_workers_yield_the_cpu_to_the_api_and_redis(stack):
    up = stack[0]
    assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in up.worker_pids()] == [WORKER_NICENESS]
    assert os.getpriority(os.PRIO_PROCESS, child_pid(up, "uvicorn")) == os.getpriority(os.PRIO_PROCESS, 0)


def test_workers_get_their_share_of_the_cpus_for_their_numerical_threads(stack):
    up = stack[0]
    (worker,) = up.worker_pids()
    environ = dict(
        entry.split(b"=", 1) for entry in Path(f"/proc/{worker}/environ").read_bytes().split(b"\0") if b"=" in entry
    )
    for name in (b"OMP_NUM_THREADS", b"OPENBLAS_NUM_THREADS"):  # one worker: every CPU, unless the user chose
        assert environ[name].decode() == os.environ.get(name.decode(), str(len(os.sched_getaffinity(0))))


def test_redis_killed_mid_run_is_restarted_and_the_run_ends_with_complete_replay(stack):
    up = stack[0]
    experiment_id = up.post({"epochs": 12, "epoch_sleep_s": 0.4})
    wait_for(lambda: (up.get(experiment_id)["progress"] or {}).get("epoch", 0) >= 2, 60, "epoch 2")
    os.kill(child_pid(up, "redis-server"), signal.SIGKILL)
    wait_for(lambda: "Redis was killed by SIGKILL; restarting it" in up.log.read_text(), 30, "the restart")

    done = up.wait_status(experiment_id, {"succeeded", "failed", "cancelled"}, timeout_s=120)
    assert done["status"] == "succeeded"
    messages, code = read_socket(f"{up.ws_url}/ws/experiments/{experiment_id}")
    assert code == 1000
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert [m["epoch"] for m in messages if m["type"] == "epoch_end"] == list(range(1, 13)), "no epoch lost"
    assert (messages[-1]["status"], messages[-1]["final"]) == ("succeeded", True)


def test_the_api_killed_is_restarted(stack):
    up = stack[0]
    os.kill(child_pid(up, "uvicorn"), signal.SIGKILL)
    wait_for(lambda: "the API was killed by SIGKILL; restarting it" in up.log.read_text(), 30, "the restart")

    def answers():
        try:
            return httpx.get(f"{up.url}/api/v1/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, 60, "the restarted API")
    up.http.close()
    up.http = httpx.Client(base_url=up.url, timeout=30)
    assert up.wait_status(up.post({"epochs": 1}), {"succeeded", "failed"})["status"] == "succeeded"


def test_restarting_loses_nothing_and_stopping_leaves_no_process(stack, platform_dir, test_app_path):
    up = stack[0]
    before = up.http.get("/api/v1/experiments", params={"limit": 500}).json()
    finished = next(e for e in before["items"] if e["name"] == "live")
    events_before, _ = read_socket(f"{up.ws_url}/ws/experiments/{finished['id']}")
    children = children_of(up.process.pid)
    assert len(children) == 4, "Redis, the API, one worker and the model server"

    assert up.stop(signal.SIGINT) == 0, "Ctrl-C is a clean stop"
    assert not [pid for pid in children if alive(pid)]

    stack[0] = again = Up(platform_dir / "data", test_app_path)
    after = again.http.get("/api/v1/experiments", params={"limit": 500}).json()
    assert after == before
    events_after, code = read_socket(f"{again.ws_url}/ws/experiments/{finished['id']}")
    assert (events_after, code) == (events_before, 1000)
    assert again.http.get(f"/api/v1/experiments/{finished['id']}/artifacts/images/loss.png").status_code == 200
    assert again.wait_status(again.post({"epochs": 1}), {"succeeded"})


def test_a_registered_model_serves_by_alias_from_the_model_server_through_rest_and_the_cli(stack, tmp_path):
    up = stack[0]
    run = up.wait_status(up.post({"epochs": 2, "window": 4, "horizon": 2}), {"succeeded", "failed"})
    registered = up.cli("models", "register", "sine", run["id"])
    assert registered.returncode == 0, registered.stderr
    assert "registered models:/sine/1" in registered.stdout
    assert up.cli("models", "alias", "sine", "production", "1").returncode == 0
    history = tmp_path / "history.csv"
    history.write_text("value\n0.0\n0.5\n1.0\n0.5\n0.0\n")

    by_cli = up.cli("models", "predict", "models:/sine@production", "--history", str(history))
    assert by_cli.returncode == 0, by_cli.stderr
    rows = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]
    by_rest = up.http.post("/api/v1/models/sine@production/predict", json={"history": rows})
    assert by_rest.status_code == 200, by_rest.text
    assert json.loads(by_cli.stdout) == by_rest.json()
    assert [point["timestamp"] for point in by_rest.json()["forecast"]] == ["5", "6"]
    listed = up.cli("models", "list")
    assert "sine" in listed.stdout
    assert "production->v1" in listed.stdout
    assert [pid for pid in children_of(up.process.pid) if "azuraforge_worker.serve" in cmdline(pid)]


def test_up_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "AZURAFORGE_DATA_DIR": str(tmp_path / "data")}
        done = subprocess.run(
            [AZURAFORGE, "up", "--port", str(port)], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert not (tmp_path / "data" / "redis").exists(), "nothing was started"


def test_migrate_creates_the_schema(tmp_path):
    database = tmp_path / "forge.db"
    env = {**os.environ, "AZURAFORGE_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([AZURAFORGE, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "experiment_tags", "idempotency_keys", "alembic_version"} <= tables
