"""The REST API on a real uvicorn, Redis and SQLite; experiments run by the worker's code in this process."""

import os
from datetime import timedelta

import pytest
from conftest import create, queued_tasks, record, run_dir, run_in_process, stored_events

from azuraforge_common import catalog, names, store
from azuraforge_common.events import StatusEvent
from azuraforge_common.models import utcnow


def test_apps_lists_the_published_apps_with_schema_defaults_and_metrics(api):
    apps = {app["name"]: app for app in api.http.get("/api/v1/apps").json()}
    sine = apps["sine_test"]
    assert sine["description"].startswith("Test app")
    assert {"epochs", "batch_size", "seed", "epoch_sleep_s"} <= set(sine["config_schema"]["properties"])
    assert sine["defaults"]["epochs"] == 3
    assert sine["defaults"]["window"] == 8
    assert sine["task"] == "forecast"
    epoch = {metric["name"]: metric for metric in sine["epoch_metrics"]}
    assert (epoch["val_loss"]["direction"], epoch["val_loss"]["unit"]) == ("lower", "")
    assert {"mae", "rmse"} <= {metric["name"] for metric in sine["metrics"]}
    assert sine["published_by"] == "tests"
    assert sine["packages"]["azuraforge-worker"]
    assert sine["app_distribution"] == "azuraforge-worker"


def publish(api, **change):
    """Writes a publication to the API's catalog, as a worker with other apps installed would."""
    publication = {"publisher": "other@host", "apps": {}, "errors": {}, "packages": {}, **change}
    with api.platform.sessions() as session:
        catalog.publish(session, catalog.Publication(**publication))


def test_apps_pass_every_field_of_the_published_description_through_and_the_newest_wins(api):
    (sine,) = [app for app in api.http.get("/api/v1/apps").json() if app["name"] == "sine_test"]
    fields = ("name", "description", "task", "config_schema", "defaults", "metrics", "epoch_metrics",
              "app_distribution", "app_version", "datasets", "queue")  # fmt: skip
    payload = {key: sine[key] for key in fields}
    publish(api, apps={"sine_test": {**payload, "dataset_kinds": ["timeseries"]}}, at=utcnow() - timedelta(hours=1))
    (older,) = [app for app in api.http.get("/api/v1/apps").json() if app["name"] == "sine_test"]
    assert "dataset_kinds" not in older, "an older publication does not replace a newer one"
    publish(api, apps={"sine_test": {**payload, "dataset_kinds": ["timeseries"]}})
    (newer,) = [app for app in api.http.get("/api/v1/apps").json() if app["name"] == "sine_test"]
    assert newer["dataset_kinds"] == ["timeseries"]
    assert newer["published_by"] == "other@host"


def test_an_app_that_fails_to_load_is_left_out_and_submitting_it_names_its_error(api):
    publish(api, errors={"crashy": "ImportError: no module named 'torchvision' (while importing crashy:App)"})
    assert "crashy" not in {app["name"] for app in api.http.get("/api/v1/apps").json()}
    response = api.http.post("/api/v1/experiments", json={"app": "crashy", "config": {}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "app"]
    assert "fails to load where other@host published it: ImportError: no module named 'torchvision'" in error["msg"]
    assert queued_tasks(api) == 0


def test_a_config_the_schema_takes_but_the_app_refuses_fails_its_run_naming_the_field(api):
    # A rule between two fields, which the JSON schema cannot state: the worker's full check finds it.
    experiment = create(api, {"epochs": 1, "train_fraction": 0.6, "val_fraction": 0.5})
    assert run_in_process(api, experiment["id"]) == "failed"
    error = record(api, experiment["id"]).error
    assert "val_fraction: " in error, error
    assert "must stay below 1" in error


def test_post_queues_an_experiment_with_its_full_config(api):
    experiment = create(api, {"epochs": 2}, name="first", tags=["smoke", "sine"])
    assert experiment["status"] == "queued"
    assert (experiment["name"], experiment["tags"], experiment["app"]) == ("first", ["smoke", "sine"], "sine_test")
    assert experiment["config"]["epochs"] == 2
    assert experiment["config"]["window"] == 8, "defaults are filled in"
    assert experiment["progress"] is None
    assert experiment["created_at"].endswith("Z") or "+00:00" in experiment["created_at"]
    assert queued_tasks(api) == 1
    (queued,) = stored_events(api, experiment["id"])
    assert isinstance(queued, StatusEvent)
    assert (queued.seq, queued.status, queued.final) == (1, "queued", False)
    assert api.http.get(f"/api/v1/experiments/{experiment['id']}").json() == experiment


def test_invalid_config_is_a_422_naming_each_field_and_stores_nothing(api):
    response = api.http.post(
        "/api/v1/experiments", json={"app": "sine_test", "config": {"epochs": 0, "window": "wide", "windw": 3}}
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert sorted(tuple(error["loc"]) for error in errors) == [
        ("body", "config", "epochs"),
        ("body", "config", "window"),
        ("body", "config", "windw"),
    ]
    assert all(error["msg"] for error in errors)
    assert api.http.get("/api/v1/experiments").json()["total"] == 0
    assert queued_tasks(api) == 0


def test_an_app_no_worker_has_published_is_a_422_listing_the_published_ones(api):
    response = api.http.post("/api/v1/experiments", json={"app": "nope", "config": {}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "app"]
    assert "unknown app 'nope' (no worker has published it)" in error["msg"]
    assert "sine_test" in error["msg"]
    assert api.http.get("/api/v1/experiments").json()["total"] == 0
    assert queued_tasks(api) == 0


def test_malformed_body_is_a_422(api):
    response = api.http.post("/api/v1/experiments", json={"config": {}, "tags": "not-a-list"})
    assert response.status_code == 422
    locs = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert {("body", "app"), ("body", "tags")} <= locs


def test_a_grid_expands_into_a_batch_and_lists_stay_values(api):
    response = api.http.post(
        "/api/v1/experiments",
        json={
            "app": "sine_test",
            "name": "sweep",
            "config": {"features": ["value"], "epochs": 1},
            "grid": {"learning_rate": [0.1, 0.01], "window": [4, 8]},
        },
    )
    assert response.status_code == 202
    batch = response.json()
    experiments = batch["experiments"]
    assert len(experiments) == 4
    assert {e["batch_id"] for e in experiments} == {batch["batch_id"]}
    assert {(e["config"]["learning_rate"], e["config"]["window"]) for e in experiments} == {
        (0.1, 4), (0.1, 8), (0.01, 4), (0.01, 8),
    }  # fmt: skip
    assert all(e["config"]["features"] == ["value"] for e in experiments), "a list in config is not a grid"
    assert "sweep (learning_rate=0.1, window=4)" in {e["name"] for e in experiments}
    assert queued_tasks(api) == 4
    page = api.http.get("/api/v1/experiments", params={"batch_id": batch["batch_id"]}).json()
    assert page["total"] == 4


def test_a_grid_over_a_list_valued_field_uses_each_list_whole(api):
    response = api.http.post(
        "/api/v1/experiments", json={"app": "sine_test", "config": {}, "grid": {"features": [["value"], None]}}
    )
    assert response.status_code == 202
    assert [e["config"]["features"] for e in response.json()["experiments"]] == [["value"], None]


@pytest.mark.parametrize(
    ("grid", "loc"),
    [
        ({"nope": [1, 2]}, ["body", "grid", "nope"]),
        ({"epochs": [1, 0]}, ["body", "grid", "epochs"]),
        ({"epochs": []}, ["body", "grid", "epochs"]),
        ({"epochs": list(range(1, 12)), "window": list(range(1, 11))}, ["body", "grid"]),
    ],
    ids=["unknown field", "bad value", "no values", "too many"],
)
def test_bad_grids_are_422_and_store_nothing(api, grid, loc):
    response = api.http.post("/api/v1/experiments", json={"app": "sine_test", "config": {}, "grid": grid})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert api.http.get("/api/v1/experiments").json()["total"] == 0


def test_idempotency_key_returns_the_first_experiment(api):
    body = {"app": "sine_test", "config": {"epochs": 1}}
    first = api.http.post("/api/v1/experiments", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.http.post("/api/v1/experiments", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert api.http.get("/api/v1/experiments").json()["total"] == 1
    assert queued_tasks(api) == 1

    other = api.http.post("/api/v1/experiments", json={**body, "name": "x"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409

    grid = {**body, "grid": {"seed": [1, 2]}}
    batch = api.http.post("/api/v1/experiments", json=grid, headers={"Idempotency-Key": "k-2"}).json()
    batch_again = api.http.post("/api/v1/experiments", json=grid, headers={"Idempotency-Key": "k-2"}).json()
    assert batch_again["batch_id"] == batch["batch_id"]
    assert sorted(e["id"] for e in batch_again["experiments"]) == sorted(e["id"] for e in batch["experiments"])
    assert api.http.get("/api/v1/experiments").json()["total"] == 3


def test_list_filters_sorts_and_pages(api):
    made = [
        create(api, name="b", tags=["x"]),
        create(api, name="a", tags=["x", "y"]),
        create(api, name="c", tags=["y"]),
    ]
    api.http.post(f"/api/v1/experiments/{made[2]['id']}/cancel")

    def names_of(**params):
        page = api.http.get("/api/v1/experiments", params=params).json()
        return [item["name"] for item in page["items"]], page["total"]

    assert names_of() == (["c", "a", "b"], 3), "newest first by default"
    assert names_of(sort="name") == (["a", "b", "c"], 3)
    assert names_of(sort="name", limit=2, offset=1) == (["b", "c"], 3)
    assert names_of(tag="x", sort="name") == (["a", "b"], 2)
    assert names_of(status="cancelled") == (["c"], 1)
    assert names_of(status="queued", tag="y") == (["a"], 1)
    assert names_of(app="other") == ([], 0)
    page = api.http.get("/api/v1/experiments", params={"limit": 1, "offset": 2}).json()
    assert (page["limit"], page["offset"]) == (1, 2)
    assert api.http.get("/api/v1/experiments", params={"sort": "password"}).status_code == 422
    assert api.http.get("/api/v1/experiments", params={"status": "exploded"}).status_code == 422
    assert api.http.get("/api/v1/experiments", params={"limit": 0}).status_code == 422


def test_unknown_experiment_is_a_404_everywhere(api):
    for method, path in [
        ("GET", "/api/v1/experiments/nope"),
        ("DELETE", "/api/v1/experiments/nope"),
        ("POST", "/api/v1/experiments/nope/cancel"),
        ("GET", "/api/v1/experiments/nope/report"),
        ("GET", "/api/v1/experiments/nope/artifacts/report.md"),
    ]:
        response = api.http.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["detail"] == "no experiment 'nope'"


def test_cancel_a_queued_experiment_ends_it_at_once(api):
    experiment = create(api)
    response = api.http.post(f"/api/v1/experiments/{experiment['id']}/cancel")
    assert response.status_code == 202
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert cancelled["started_at"] is None
    final = stored_events(api, experiment["id"])[-1]
    assert isinstance(final, StatusEvent)
    assert (final.status, final.final) == ("cancelled", True)
    assert api.http.post(f"/api/v1/experiments/{experiment['id']}/cancel").status_code == 409
    assert run_in_process(api, experiment["id"]) is None, "the worker will not run it"


def test_cancel_a_running_experiment_raises_the_flag_for_its_worker(api):
    experiment = create(api)
    with api.platform.sessions() as session:
        store.transition(session, experiment["id"], ["queued"], "running")
    response = api.http.post(f"/api/v1/experiments/{experiment['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running", "it ends when the worker sees the flag"
    assert api.platform.redis.exists(names.cancel_key(experiment["id"]))


def test_a_finished_experiment_serves_its_report_and_artifacts_then_deletes_them(api):
    experiment = create(api, {"epochs": 2})
    assert run_in_process(api, experiment["id"]) == "succeeded"
    done = api.http.get(f"/api/v1/experiments/{experiment['id']}").json()
    assert done["status"] == "succeeded"
    assert len(done["history"]["loss"]) == 2
    assert done["progress"] == {"epoch": 2, "total_epochs": 2}
    assert {"report.md", "images/loss.png"} <= set(done["artifacts"])

    report = api.http.get(f"/api/v1/experiments/{experiment['id']}/report")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/markdown")
    assert "](images/loss.png)" in report.text
    image = api.http.get(f"/api/v1/experiments/{experiment['id']}/artifacts/images/loss.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    history = api.http.get(f"/api/v1/experiments/{experiment['id']}/artifacts/history.csv")
    assert history.text.splitlines()[0].startswith("epoch")

    directory = run_dir(api, experiment["id"])
    assert api.http.delete(f"/api/v1/experiments/{experiment['id']}").status_code == 204
    assert not directory.exists()
    assert api.http.get(f"/api/v1/experiments/{experiment['id']}").status_code == 404
    assert not any(api.platform.redis.exists(key) for key in names.experiment_keys(experiment["id"]))


def test_a_finished_experiment_answers_with_its_run_record(api):
    experiment = create(api, {"epochs": 2})
    assert api.http.get(f"/api/v1/experiments/{experiment['id']}").json()["result"] is None, "none while queued"
    assert run_in_process(api, experiment["id"]) == "succeeded"
    done = api.http.get(f"/api/v1/experiments/{experiment['id']}").json()
    result = done["result"]
    assert (result["status"], result["stop_reason"]["kind"]) == ("succeeded", "completed")
    specs = {spec["name"]: spec for spec in result["plan"]["metrics"]}
    assert set(done["metrics"]) <= set(specs), "every metric comes with its declaration"
    assert (specs["rmse"]["direction"], specs["r2"]["direction"]) == ("lower", "higher")
    assert result["baselines"], "every baseline, not only the strongest one's scores"
    strongest = {entry["metric"]: entry for entry in result["verdict"]}
    assert {metric: entry["baseline"] for metric, entry in strongest.items()} == done["baseline_metrics"]
    for metric, entry in strongest.items():
        model, baseline = entry["model"], entry["baseline"]
        better = model < baseline if specs[metric]["direction"] == "lower" else model > baseline
        assert entry["beaten"] == better, metric
    provenance = result["provenance"]
    assert provenance["seed"] == done["config"]["seed"]
    assert provenance["data"]["rows"] > 0
    assert len(provenance["data"]["sha256"]) == 64
    assert "azuraforge-learner" in provenance["packages"]
    listed = api.http.get("/api/v1/experiments").json()["items"]
    assert [item["result"] for item in listed if item["id"] == experiment["id"]] == [result]


def test_artifact_paths_cannot_leave_the_experiment_directory(api, tmp_path):
    experiment = create(api, {"epochs": 1})
    run_in_process(api, experiment["id"])
    secret = api.settings.data_dir / "secret.txt"
    secret.write_text("do not serve")
    directory = run_dir(api, experiment["id"])
    os.symlink(secret, directory / "link.txt")
    base = f"/api/v1/experiments/{experiment['id']}/artifacts/"
    for path in [
        "../../secret.txt",
        "..%2F..%2Fsecret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "link.txt",
        "/etc/passwd",
        "images",
    ]:
        response = api.http.get(base + path)
        assert response.status_code == 404, path
        assert "do not serve" not in response.text


def test_a_report_before_the_end_is_a_404_that_says_why(api):
    experiment = create(api)
    response = api.http.get(f"/api/v1/experiments/{experiment['id']}/report")
    assert response.status_code == 404
    assert "queued" in response.json()["detail"]


def test_predict_forecasts_with_the_saved_model(api, model_server):
    experiment = create(api, {"epochs": 1, "window": 4, "horizon": 2})
    rows = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]
    assert api.http.post(f"/api/v1/experiments/{experiment['id']}/predict", json={"data": rows}).status_code == 409
    run_in_process(api, experiment["id"])

    given = api.http.post(f"/api/v1/experiments/{experiment['id']}/predict", json={"data": rows}).json()
    assert given["last_value"] == 0.0
    assert len(given["forecast"]) == 2

    too_short = api.http.post(f"/api/v1/experiments/{experiment['id']}/predict", json={"data": rows[:2]})
    assert too_short.status_code == 422
    assert "window=4" in too_short.json()["detail"]


def test_an_experiment_goes_to_the_queue_it_asks_for_and_a_grid_behind_interactive_runs(api):
    on_gpu = create(api, {"epochs": 1}, queue="gpu")
    assert (on_gpu["queue"], record(api, on_gpu["id"]).queue) == ("gpu", "gpu")
    assert (queued_tasks(api, "gpu"), queued_tasks(api, "cpu")) == (1, 0)
    assert api.platform.redis.llen(names.task_queue("gpu")) == 1, "interactive: the first priority step"

    batch = create(api, {"epochs": 1}, grid={"seed": [1, 2]})
    assert {member["queue"] for member in batch["experiments"]} == {"cpu"}, "the default: the first of the queues"
    low = names.task_queue_keys("cpu")[names.PRIORITY_STEPS.index(names.PRIORITY_BATCH)]
    assert api.platform.redis.llen(low) == 2

    unknown = api.http.post("/api/v1/experiments", json={"app": "sine_test", "queue": "tpu"})
    assert unknown.status_code == 422
    (error,) = unknown.json()["detail"]
    assert error["loc"] == ["body", "queue"]
    assert "'tpu' is not served here; the queues are: cpu, gpu, long" in error["msg"]
