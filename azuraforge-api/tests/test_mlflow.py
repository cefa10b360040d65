"""The MLflow tracking API with the real MLflow client (mlflow-skinny, in a process of its own as any training
script would be), against the API on a real uvicorn, Redis, and SQLite or PostgreSQL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import RunningAPI, make_settings, record, stored_events, wait_for
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from azuraforge_api.mlflow import live, protocol
from azuraforge_common import names
from azuraforge_common.events import LIVE_INTERVAL_S, EpochEndEvent, parse_event
from azuraforge_common.models import Experiment, utcnow

CLIENTS = Path(__file__).parent / "mlflow_clients"
MLFLOW = "/api/2.0/mlflow"


def client_env(api):
    env = {**os.environ, "MLFLOW_TRACKING_URI": api.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    if api.settings.api_token:
        env["MLFLOW_TRACKING_TOKEN"] = api.settings.api_token
    return env


def run_client(api, script):
    done = subprocess.run(
        [sys.executable, str(CLIENTS / script)], env=client_env(api), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])  # MLflow prints links to its own UI before


def start_client(api, script):
    return subprocess.Popen(
        [sys.executable, str(CLIENTS / script)],
        env=client_env(api),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def any_db_api(tmp_path, redis_server, redis_client, empty_database_url, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, database_url=empty_database_url)
    with RunningAPI(settings) as api:
        yield api


def test_an_unmodified_mlflow_client_logs_searches_and_reads_back(api):
    seen = run_client(api, "tracking_flow.py")

    assert seen["status"] == "FINISHED"
    assert seen["artifact_uri"] == f"mlflow-artifacts:/{seen['first']}"
    assert seen["params"] == {"lr": "0.01", "layers": "3", "batch": "32"}
    assert seen["metrics"] == {"loss": pytest.approx(0.2), "acc": pytest.approx(0.7)}
    assert (seen["tags"]["team"], seen["tags"]["stage"]) == ("vision", "b")
    assert seen["tags"]["mlflow.runName"] == "first"
    assert seen["filtered"] == [seen["first"]]
    assert seen["by_loss"] == ["second", "first", "third"]  # a run without the metric sorts last
    assert seen["pages"] == [["first", "second"], ["third"], None]
    assert seen["history"] == [[step, pytest.approx(1.0 / (step + 1))] for step in range(5)]
    assert seen["listed"] == [["outputs/notes.txt", False]]
    assert seen["downloaded"] == "weights are elsewhere\n"
    assert seen["third_status"] == "KILLED"
    assert (seen["unknown"], seen["changed"]) == ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")

    # The run is an ordinary experiment of the platform, with its report and artifacts.
    first = api.http.get(f"/api/v1/experiments/{seen['first']}").json()
    assert (first["status"], first["app"], first["name"]) == ("succeeded", "vision", "first")
    assert first["config"] == {"lr": "0.01", "layers": "3", "batch": "32"}
    assert first["history"]["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert first["metrics"] == {"loss": pytest.approx(0.2), "acc": pytest.approx(0.7)}
    assert {"outputs/notes.txt", "report.md", "images/metric-loss.png"} <= set(first["artifacts"])
    report = api.http.get(f"/api/v1/experiments/{seen['first']}/report").text
    assert "| loss | 0.2 | 4 |" in report
    assert "| lr | 0.01 |" in report
    assert "![loss](images/metric-loss.png)" in report
    assert record(api, seen["first"]).source == "external"
    assert record(api, seen["third"]).status == "cancelled"
    listed = api.http.get("/api/v1/experiments", params={"app": "vision"}).json()
    assert listed["total"] == 3
    external = api.http.get("/api/v1/experiments", params={"source": "external"}).json()
    assert {item["id"] for item in external["items"]} >= {seen["first"], seen["third"]}
    assert {item["source"] for item in external["items"]} == {"external"}
    assert api.http.get("/api/v1/experiments", params={"source": "worker", "app": "vision"}).json()["total"] == 0
    assert api.http.get("/api/v1/experiments", params={"source": "other"}).status_code == 422

    # Its calls became the live events a worker run has: numbered, stored for replay, one final status.
    events = stored_events(api, seen["first"])
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events][:2] == ["status", "train_begin"]
    assert (events[-1].type, events[-1].status, events[-1].final) == ("status", "succeeded", True)
    assert {"loss", "acc"} <= {key for e in events if e.type == "epoch_end" for key in e.metrics}


def test_a_torch_training_loop_is_seen_live_over_the_websocket(api):
    client = start_client(api, "torch_loop.py")
    try:
        run_id = client.stdout.readline().strip()
        with connect(f"{api.ws_url}/ws/experiments/{run_id}") as ws:
            client.stdin.write("train\n")
            client.stdin.flush()
            losses = json.loads(client.stdout.readline())
            # Every log_metric call has been answered, so its events (throttled as a worker's batches are) exist;
            # the run is still running while the watcher receives them.
            published = [e for e in stored_events(api, run_id) if e.type == "epoch_end"]
            assert published
            received: list[dict] = []
            while len(received) < len(published):
                message = json.loads(ws.recv(timeout=20))
                if message["type"] == "epoch_end":
                    received.append(message)
            assert record(api, run_id).status == "running"
            for event in received:
                assert event["metrics"]["loss"] == pytest.approx(losses[event["epoch"] - 1])
            assert received[0]["epoch"] == 1
            client.stdin.write("end\n")
            client.stdin.flush()
            rest = [json.loads(message) for message in until_closed(ws)]
        assert (rest[-1]["type"], rest[-1]["status"], rest[-1]["final"]) == ("status", "succeeded", True)
        assert client.wait(60) == 0
    finally:
        client.kill()
    assert record(api, run_id).history["loss"] == pytest.approx(losses)


def until_closed(ws):
    while True:
        try:
            yield ws.recv(timeout=20)
        except ConnectionClosedOK:
            return


def post(api, path, body):
    return api.http.post(f"{MLFLOW}/{path}", json=body)


def new_run(api):
    response = post(api, "runs/create", {"experiment_id": "0", "run_name": "raw"})
    assert response.status_code == 200, response.text
    return response.json()["run"]["info"]["run_id"]


def mlflow_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return body["message"]


def test_errors_have_mlflows_shape_status_and_validation(any_db_api):
    api = any_db_api
    run_id = new_run(api)
    ok = {"run_id": run_id, "timestamp": 1, "step": 0}

    message = mlflow_error(
        api.http.get(f"{MLFLOW}/runs/get", params={"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert "f" * 32 in message
    mlflow_error(
        post(api, "runs/log-metric", {**ok, "run_id": "nope", "key": "a", "value": 1}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    for bad_key in ("../escape", "a?b", "", "/abs", "x" * 251):
        response = post(api, "runs/log-metric", {**ok, "key": bad_key, "value": 1})
        mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    message = mlflow_error(post(api, "runs/log-metric", {**ok, "key": "a"}), 400, "INVALID_PARAMETER_VALUE")
    assert "'value'" in message
    message = mlflow_error(
        post(api, "runs/log-metric", {**ok, "key": "a", "value": "high"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "'value'" in message
    assert "high" in message

    metrics = [{"key": "m", "value": i, "timestamp": 1, "step": i} for i in range(1001)]
    message = mlflow_error(
        post(api, "runs/log-batch", {"run_id": run_id, "metrics": metrics}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "at most 1000 metrics. Got 1001" in message
    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    message = mlflow_error(
        post(api, "runs/log-batch", {"run_id": run_id, "params": params}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "at most 100 params" in message
    tags = [{"key": f"t{i}", "value": "v"} for i in range(101)]
    mlflow_error(post(api, "runs/log-batch", {"run_id": run_id, "tags": tags}), 400, "INVALID_PARAMETER_VALUE")
    twice = [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]
    message = mlflow_error(
        post(api, "runs/log-batch", {"run_id": run_id, "params": twice}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Duplicate parameter keys" in message
    long_value = {"run_id": run_id, "key": "p", "value": "x" * 6001}
    mlflow_error(post(api, "runs/log-parameter", long_value), 400, "INVALID_PARAMETER_VALUE")

    # A refused batch stores nothing of itself.
    mixed = {"run_id": run_id, "metrics": metrics[:3], "params": [{"key": "bad/../key", "value": "1"}]}
    mlflow_error(post(api, "runs/log-batch", mixed), 400, "INVALID_PARAMETER_VALUE")
    run = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert (run["data"]["metrics"], run["data"]["params"]) == ([], [])

    assert post(api, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}).json() == {}
    assert post(api, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}).json() == {}  # same value
    message = mlflow_error(
        post(api, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "2"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Changing param values is not allowed" in message

    mlflow_error(post(api, "experiments/create", {"name": "Default"}), 400, "RESOURCE_ALREADY_EXISTS")
    mlflow_error(
        api.http.get(f"{MLFLOW}/experiments/get", params={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    message = mlflow_error(
        post(api, "runs/search", {"experiment_ids": ["0"], "filter": "metrics.loss ~ 1"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "metrics.loss ~ 1" in message
    mlflow_error(
        post(api, "runs/search", {"experiment_ids": ["0"], "page_token": "garbage"}), 400, "INVALID_PARAMETER_VALUE"
    )
    mlflow_error(post(api, "model-versions/create", {}), 404, "ENDPOINT_NOT_FOUND")
    mlflow_error(post(api, "runs/delete-tag", {"run_id": run_id, "key": "absent"}), 404, "RESOURCE_DOES_NOT_EXIST")

    upload = api.http.put(f"/api/2.0/mlflow-artifacts/artifacts/{run_id}/../../escape.txt", content=b"x")
    assert upload.status_code in (400, 404)
    assert not any(key.endswith("escape.txt") for key in api.platform.artifacts.keys(""))
    mlflow_error(
        api.http.get(f"/api/2.0/mlflow-artifacts/artifacts/{run_id}/absent.txt"), 404, "RESOURCE_DOES_NOT_EXIST"
    )

    post(api, "runs/delete", {"run_id": run_id})
    message = mlflow_error(post(api, "runs/log-metric", {**ok, "key": "a", "value": 1}), 400, "INVALID_PARAMETER_VALUE")
    assert "must be in the 'active' state" in message
    searched = post(api, "runs/search", {"experiment_ids": ["0"]}).json()
    assert searched.get("runs", []) == []
    post(api, "runs/restore", {"run_id": run_id})
    assert [r["info"]["run_id"] for r in post(api, "runs/search", {"experiment_ids": ["0"]}).json()["runs"]] == [run_id]


def test_metric_history_pages_and_keeps_every_value(any_db_api):
    api = any_db_api
    run_id = new_run(api)
    for start in range(0, 2500, 1000):
        metrics = [
            {"key": "loss", "value": step / 10, "timestamp": step, "step": step}
            for step in range(start, min(start + 1000, 2500))
        ]
        assert post(api, "runs/log-batch", {"run_id": run_id, "metrics": metrics}).status_code == 200
    steps, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": 1000} | (
            {"page_token": token} if token else {}
        )
        page = api.http.get(f"{MLFLOW}/metrics/get-history", params=params).json()
        steps += [metric["step"] for metric in page["metrics"]]
        if not (token := page.get("next_page_token")):
            break
    assert steps == list(range(2500))

    def latest():
        run = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
        return {m["key"]: (m["value"], m["step"], m["timestamp"]) for m in run["data"]["metrics"]}

    assert latest() == {"loss": (249.9, 2499, 2499)}
    # MLflow's latest value: the highest step, then the latest time, then the largest value (NaN lowest).
    for metric, expected in (
        ({"key": "loss", "value": 7, "step": 5, "timestamp": 9999}, (249.9, 2499, 2499)),
        ({"key": "loss", "value": 1, "step": 2499, "timestamp": 3000}, (1, 2499, 3000)),
        ({"key": "loss", "value": "NaN", "step": 2499, "timestamp": 3000}, (1, 2499, 3000)),
        ({"key": "loss", "value": 0.5, "step": 2499, "timestamp": 3000}, (1, 2499, 3000)),
        ({"key": "loss", "value": 2, "step": 2499, "timestamp": 3000}, (2, 2499, 3000)),
    ):
        assert post(api, "runs/log-metric", {"run_id": run_id, **metric}).status_code == 200
        assert latest()["loss"] == expected
    ended = post(api, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_000_000})
    assert ended.json()["run_info"]["status"] == "FINISHED"
    assert ended.json()["run_info"]["end_time"] == 1_700_000_000_000
    history = record(api, run_id).history["loss"]
    assert len(history) == 1000
    assert (history[0], history[-1]) == (0.0, 2)  # per step, the value logged last


def test_with_a_token_every_mlflow_route_needs_it(tmp_path, redis_server, redis_client, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, api_token="s3cret")
    with RunningAPI(settings) as api:
        for method, path in (
            ("POST", f"{MLFLOW}/runs/create"),
            ("GET", f"{MLFLOW}/experiments/get?experiment_id=0"),
            ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=x"),
            ("PUT", "/api/2.0/mlflow-artifacts/artifacts/x/y.txt"),
        ):
            assert httpx.request(method, api.url + path, json={}).status_code == 401
        assert new_run(api)


@pytest.fixture
def reaping_tracking_api(tmp_path, redis_server, redis_client, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, heartbeat_ttl_s=1, tracking_timeout_s=2, reaper_interval_s=0.5)
    with RunningAPI(settings) as api:
        wait_for(lambda: api.platform.redis.info("server")["uptime_in_seconds"] >= 1, 10, "Redis up for 1 s")
        yield api


def test_a_killed_client_leaves_a_failed_run_with_its_report(reaping_tracking_api):
    api = reaping_tracking_api
    client = start_client(api, "abandoned.py")
    try:
        run_id = client.stdout.readline().strip()
        assert record(api, run_id).status == "running"
        client.send_signal(signal.SIGKILL)
        client.wait(30)
    finally:
        client.kill()
    ended = wait_for(lambda: (r := record(api, run_id)).status != "running" and r, 30, "the lost run ended")
    assert ended.status == "failed"
    assert ended.error.startswith("client lost")
    assert ended.metrics == {"loss": 0.5}
    assert "report.md" in ended.artifacts
    # The reaper commits the record before it publishes the final event, so the event may follow a moment later.
    final = wait_for(lambda: (e := stored_events(api, run_id)[-1]).type == "status" and e, 10, "the final event")
    assert (final.status, final.final) == ("failed", True)


def test_a_model_logged_by_the_mlflow_client_loads_back_and_predicts(api):
    seen = run_client(api, "logged_model.py")

    model_id, run_id = seen["model_id"], seen["run_id"]
    assert seen["model_uri"] == f"models:/{model_id}"
    assert seen["by_id"] == seen["by_run"] == [2.0, 3.0], "loaded by models:/ and runs:/, and it predicts"
    assert (seen["status"], seen["name"], seen["source_run_id"]) == ("READY", "adder", run_id)
    assert seen["artifact_location"] == f"mlflow-artifacts:/{run_id}/models/{model_id}/artifacts"
    assert seen["tags"]["stage"] == "candidate"
    assert seen["params"] == {"lr": "0.1"}, "the run's params, as MLflow's log_model copies them"
    assert (seen["found"], seen["missed"]) == ([model_id], [])
    assert seen["outputs"] == [[model_id, 1]]
    assert seen["history"] == [[0, 0.5], [1, 0.25]], "log_model's copy of the step's values is not a new value"
    assert seen["deleted"] == "RESOURCE_DOES_NOT_EXIST"

    # The model's files are the run's: listed in its record, downloadable like any other of its files.
    files = record(api, run_id).artifacts
    assert f"models/{model_id}/artifacts/MLmodel" in files
    mlmodel = api.http.get(f"/api/v1/experiments/{run_id}/artifacts/models/{model_id}/artifacts/MLmodel")
    assert mlmodel.status_code == 200
    assert f"model_id: {model_id}" in mlmodel.text


def test_scikit_learn_autologging_logs_a_model_that_loads_back(api):
    seen = run_client(api, "sklearn_autolog.py")

    assert {"training_accuracy_score", "training_log_loss"} <= set(seen["metrics"])
    assert seen["params"]["max_iter"] == "300"
    (model_id,) = seen["models"]
    assert seen["held_out_accuracy"] > 0.9, "the model loaded back is the fitted one"
    run = api.http.get(f"/api/v1/experiments/{seen['run_id']}").json()
    assert run["status"] == "succeeded"
    assert f"models/{model_id}/artifacts/MLmodel" in run["artifacts"]
    assert run["metrics"]["training_accuracy_score"] > 0.9


def test_logged_models_refuse_what_they_cannot_keep(any_db_api):
    api = any_db_api
    run_id = new_run(api)
    other = post(api, "experiments/create", {"name": "elsewhere"}).json()["experiment_id"]
    message = mlflow_error(post(api, "logged-models", {"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE")
    assert "log the model inside a run" in message
    message = mlflow_error(
        post(api, "logged-models", {"experiment_id": other, "source_run_id": run_id}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert f"Run {run_id} belongs to experiment 0, not {other}" in message
    mlflow_error(
        post(api, "logged-models", {"experiment_id": "0", "source_run_id": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    bad_tag = {"experiment_id": "0", "source_run_id": run_id, "tags": [{"key": "../up", "value": "x"}]}
    assert "Invalid value '../up' for parameter 'key'" in mlflow_error(
        post(api, "logged-models", bad_tag), 400, "INVALID_PARAMETER_VALUE"
    )

    created = post(
        api, "logged-models", {"experiment_id": "0", "source_run_id": run_id, "params": [{"key": "a", "value": "1"}]}
    )
    model = created.json()["model"]["info"]
    assert (model["status"], model["name"][:6]) == ("LOGGED_MODEL_PENDING", "model-")
    path = f"{MLFLOW}/logged-models/{model['model_id']}"
    changed = api.http.post(f"{path}/params", json={"params": [{"key": "a", "value": "2"}]})
    assert "already has 'a'" in mlflow_error(changed, 400, "INVALID_PARAMETER_VALUE")
    finalized = api.http.patch(path, json={"status": "DONE"})
    assert "'status'" in mlflow_error(finalized, 400, "INVALID_PARAMETER_VALUE")
    assert (
        api.http.patch(path, json={"status": "LOGGED_MODEL_READY"}).json()["model"]["info"]["status"]
        == "LOGGED_MODEL_READY"
    )
    mlflow_error(api.http.delete(f"{path}/tags/absent"), 404, "RESOURCE_DOES_NOT_EXIST")
    unknown = mlflow_error(api.http.get(f"{MLFLOW}/logged-models/m-nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert unknown == "Logged model with ID 'm-nope' not found", "the id quoted once"
    second = new_run(api)
    outputs = {"run_id": second, "models": [{"model_id": model["model_id"], "step": 3}]}
    assert f"was logged by run {run_id}" in mlflow_error(
        post(api, "runs/outputs", outputs), 400, "INVALID_PARAMETER_VALUE"
    )
    bad_filter = post(api, "logged-models/search", {"experiment_ids": ["0"], "filter": "size > 3"})
    assert "size" in mlflow_error(bad_filter, 400, "INVALID_PARAMETER_VALUE")

    assert api.http.delete(path).json() == {}
    assert api.http.get(path, params={"allow_deleted": "true"}).json()["model"]["info"]["model_id"] == model["model_id"]
    assert post(api, "logged-models/search", {"experiment_ids": ["0"]}).json() == {"models": []}
    run = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["outputs"] == {"model_outputs": []}, "a deleted model is no longer the run's output"


def test_experiments_are_renamed_searched_deleted_and_restored_with_their_runs(any_db_api):
    api = any_db_api
    ids = [post(api, "experiments/create", {"name": name}).json()["experiment_id"] for name in ("vision-a", "audio")]
    assert post(api, "experiments/update", {"experiment_id": ids[1], "new_name": "vision-b"}).json() == {}
    mlflow_error(
        post(api, "experiments/update", {"experiment_id": ids[1], "new_name": "vision-a"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    post(api, "experiments/set-experiment-tag", {"experiment_id": ids[0], "key": "team", "value": "cv"})
    found = post(api, "experiments/search", {"filter": "name LIKE 'vision%'", "order_by": ["name DESC"]}).json()
    assert [e["name"] for e in found["experiments"]] == ["vision-b", "vision-a"]
    found = post(api, "experiments/search", {"filter": "tags.team = 'cv'"}).json()
    assert [e["experiment_id"] for e in found["experiments"]] == [ids[0]]
    post(api, "experiments/set-experiment-tag", {"experiment_id": ids[1], "key": "draft", "value": "yes"})
    assert post(api, "experiments/delete-tag", {"experiment_id": ids[1], "key": "draft"}).json() == {}
    tags = api.http.get(f"{MLFLOW}/experiments/get", params={"experiment_id": ids[1]}).json()["experiment"]["tags"]
    assert [tag["key"] for tag in tags] == ["azuraforge.project"]
    gone = post(api, "experiments/delete-tag", {"experiment_id": ids[1], "key": "draft"})
    assert "No tag with name: 'draft'" in mlflow_error(gone, 404, "RESOURCE_DOES_NOT_EXIST")
    fixed = post(api, "experiments/delete-tag", {"experiment_id": ids[1], "key": "azuraforge.project"})
    assert "cannot be removed" in mlflow_error(fixed, 400, "INVALID_PARAMETER_VALUE")

    run_id = post(api, "runs/create", {"experiment_id": ids[0]}).json()["run"]["info"]["run_id"]
    dataset = {"name": "digits", "digest": "abc123", "source_type": "local", "source": "/data/digits"}
    assert post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": dataset}]}).json() == {}
    inputs = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]["inputs"]["dataset_inputs"]
    assert inputs == [{"tags": [], "dataset": dataset}]

    post(api, "experiments/delete", {"experiment_id": ids[0]})
    names = [e["name"] for e in post(api, "experiments/search", {}).json()["experiments"]]
    assert "vision-a" not in names
    deleted = post(api, "experiments/search", {"view_type": "DELETED_ONLY"}).json()["experiments"]
    assert [e["name"] for e in deleted] == ["vision-a"]
    run = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["lifecycle_stage"] == "deleted"
    mlflow_error(post(api, "runs/create", {"experiment_id": ids[0]}), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(post(api, "experiments/delete", {"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE")
    post(api, "experiments/restore", {"experiment_id": ids[0]})
    run = api.http.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["lifecycle_stage"] == "active"
    by_name = api.http.get(f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": "vision-a"}).json()
    assert by_name["experiment"]["experiment_id"] == ids[0]


def test_logging_calls_write_to_redis_only_when_something_is_due(redis_client):
    """A client logging every batch must not cost Redis a write per call (its append-only file grows with each).
    Its heartbeat is renewed at most once a second, a metric's throttle stamp only when it is sent live."""
    run = Experiment(id="metric-volume", app="bench", started_at=utcnow())

    def writes() -> dict[str, int]:
        stats = redis_client.info("commandstats")
        return {command: stats.get(f"cmdstat_{command}", {"calls": 0})["calls"] for command in ("set", "hset")}

    before = writes()
    started = time.monotonic()
    for step in range(50):
        metric = protocol.Metric(key="loss", value=1 / (step + 1), timestamp=0, step=step)
        live.logged(redis_client, run, [metric], timeout_s=300)
    elapsed = time.monotonic() - started
    after = writes()

    renewals, stamps = after["set"] - before["set"], after["hset"] - before["hset"]
    assert 1 <= renewals <= 1 + elapsed  # one per second at most, against 50 calls
    assert 1 <= stamps <= 1 + elapsed / LIVE_INTERVAL_S
    assert 0 < redis_client.pttl(names.heartbeat_key(run.id)) <= 300_000
    events = [parse_event(fields[b"event"]) for _, fields in redis_client.xrange(names.events_stream(run.id))]
    assert len(events) == stamps  # each stamp is one live value sent
    assert isinstance(events[0], EpochEndEvent)
    assert events[0].metrics == {"loss": 1.0}
