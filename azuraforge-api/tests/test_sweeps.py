"""Sweeps end to end: the API, real Celery worker processes, Redis, and SQLite or PostgreSQL holding both the
platform's records and the Optuna study."""

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest
from conftest import RunningAPI, make_settings, wait_for

from azuraforge_api.sweeps import step
from azuraforge_common import sweeps
from azuraforge_common.processes import stop_process
from azuraforge_common.worker import worker_command

BASE = {"epochs": 4, "rows": 200, "window": 4, "val_fraction": 0.2}
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
    "window": {"type": "int", "low": 2, "high": 10, "step": 2},
    "scaler": {"type": "categorical", "choices": ["standard", "minmax"]},
}


def sweep_request(**fields):
    return {
        "app": "sine_test",
        "base_config": BASE,
        "space": SPACE,
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "sampler": "tpe",
        "pruner": "median",
        "n_trials": 12,
        "parallelism": 2,
        "name": "sine search",
        "seed": 7,
        **fields,
    }


@pytest.fixture
def workers(tmp_path, test_app_path):
    """Starts real Celery worker processes with the settings given (killed at the end of the test)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings, count):
        env = {
            **os.environ,
            "AZURAFORGE_REDIS_URL": settings.redis_url,
            "AZURAFORGE_DATABASE_URL": settings.resolved_database_url,
            "AZURAFORGE_DATA_DIR": str(settings.data_dir),
            "PYTHONPATH": os.pathsep.join([str(test_app_path), os.environ.get("PYTHONPATH", "")]),
        }
        for _ in range(count):
            log = (tmp_path / f"worker-{len(started)}.log").open("wb")
            process = subprocess.Popen(worker_command(f"sweep{len(started)}"), env=env, stdout=log, stderr=log)
            started.append(process)

    yield start
    for process in started:
        stop_process(process, sig=signal.SIGKILL)


def get_sweep(api, sweep_id):
    response = api.http.get(f"/api/v1/sweeps/{sweep_id}")
    assert response.status_code == 200, response.text
    return response.json()


def trials_in(api, sweep_id):
    response = api.http.get("/api/v1/experiments", params={"batch_id": sweep_id, "limit": 500})
    return response.json()["items"]


def test_a_tpe_sweep_prunes_pauses_resumes_and_survives_an_api_restart(
    tmp_path, redis_server, redis_client, test_app_path, empty_database_url, workers
):
    settings = make_settings(tmp_path, redis_server.url, database_url=empty_database_url, sweep_interval_s=0.5)
    workers(settings, 2)
    with RunningAPI(settings) as api:
        created = api.http.post("/api/v1/sweeps", json=sweep_request())
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
        assert created.json()["state"] == "running"
        assert len(created.json()["trials"]) == 2  # parallelism 2, queued at once
        wait_for(lambda: get_sweep(api, sweep_id)["counts"].get("complete", 0) >= 3, 120, "3 complete trials")
    # The API is gone for a while; the workers go on, advancing the sweep themselves as trials end.
    with RunningAPI(settings) as api:
        paused = api.http.post(f"/api/v1/sweeps/{sweep_id}/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == "paused"
        assert api.http.post(f"/api/v1/sweeps/{sweep_id}/pause").status_code == 409
        wait_for(
            lambda: all(t["state"] not in ("queued", "running") for t in get_sweep(api, sweep_id)["trials"]),
            120,
            "the paused sweep's trials to end",
        )
        asked = len(get_sweep(api, sweep_id)["trials"])
        assert asked < 12
        # A paused sweep's step asks for nothing, however often it runs.
        api_step_twice(api, sweep_id)
        assert len(get_sweep(api, sweep_id)["trials"]) == asked
        resumed = api.http.post(f"/api/v1/sweeps/{sweep_id}/resume")
        assert resumed.json()["state"] == "running"
        done = wait_for(
            lambda: (sweep := get_sweep(api, sweep_id))["state"] == "finished" and sweep, 240, "the sweep to finish"
        )
        experiments = trials_in(api, sweep_id)

    # Every trial ran exactly once, as an ordinary experiment of the sweep's batch with its sampled values.
    assert sorted(e["trial_number"] for e in experiments) == list(range(12))
    assert [t["number"] for t in done["trials"]] == list(range(12))
    by_number = {e["trial_number"]: e for e in experiments}
    for trial in done["trials"]:
        experiment = by_number[trial["number"]]
        assert experiment["id"] == trial["experiment_id"]
        assert experiment["trial_params"] == trial["params"]
        assert set(trial["params"]) == set(SPACE)
        assert {k: experiment["config"][k] for k in SPACE} == trial["params"]
        assert trial["state"] in ("complete", "pruned"), trial
    study = optuna.load_study(study_name=sweep_id, storage=sweeps.storage(settings.resolved_database_url))
    assert len(study.trials) == 12
    assert all(trial.state.is_finished() for trial in study.trials)

    # Some trials were pruned: stopped early through the cancel path, keeping their model and report.
    pruned = [t for t in done["trials"] if t["state"] == "pruned"]
    assert pruned, done["counts"]
    for trial in pruned:
        experiment = by_number[trial["number"]]
        assert experiment["status"] == "succeeded"
        assert experiment["result"]["stop_reason"]["kind"] == "pruned"
        assert experiment["result"]["epochs_completed"] < BASE["epochs"]
        assert {"model.npz", "report.md"} <= set(experiment["artifacts"])
        assert trial["value"] == experiment["history"]["val_loss"][-1]

    # The best trial is the complete trial with the lowest val_loss at its last epoch.
    complete = [t for t in done["trials"] if t["state"] == "complete"]
    for trial in complete:
        assert trial["value"] == by_number[trial["number"]]["history"]["val_loss"][-1]
        assert len(by_number[trial["number"]]["history"]["val_loss"]) == BASE["epochs"]
    best = min(complete, key=lambda t: t["value"])
    assert done["best"]["number"] == best["number"] == study.best_trial.number
    assert set(done["importances"]) == set(SPACE)
    assert all(0.0 <= share <= 1.0 for share in done["importances"].values())
    assert done["counts"] == {
        state: count
        for state in ("complete", "pruned", "failed")
        if (count := sum(t["state"] == state for t in done["trials"]))
    }


def api_step_twice(api, sweep_id):
    step(api.platform, sweep_id)
    step(api.platform, sweep_id)


def test_a_trial_asked_by_a_process_that_died_gets_its_experiment_once(api):
    """The step's recovery: an Optuna trial without its experiment (the asking process died in between) gets
    one, with the trial's sampled values, and running the step again creates no second one."""
    created = api.http.post("/api/v1/sweeps", json=sweep_request(parallelism=1, n_trials=3))
    sweep_id = created.json()["id"]
    study = optuna.load_study(study_name=sweep_id, storage=sweeps.storage(api.settings.resolved_database_url))
    orphan = study.ask({name: sweeps.distribution(param) for name, param in sweeps.parse_space(SPACE).items()})
    api_step_twice(api, sweep_id)
    trials = get_sweep(api, sweep_id)["trials"]
    assert [t["number"] for t in trials] == [0, 1]
    assert trials[1]["params"] == orphan.params
    assert trials[1]["state"] == "queued"
    assert sorted(e["trial_number"] for e in trials_in(api, sweep_id)) == [0, 1]


def test_sweeps_are_listed_and_stopped(api):
    sweep_id = api.http.post("/api/v1/sweeps", json=sweep_request(parallelism=2, n_trials=5)).json()["id"]
    listed = api.http.get("/api/v1/sweeps").json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == sweep_id
    assert listed["items"][0]["counts"] == {"queued": 2}
    stopped = api.http.post(f"/api/v1/sweeps/{sweep_id}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped"
    # No worker ran: the queued trials were cancelled and Optuna was told they failed.
    assert [t["state"] for t in stopped.json()["trials"]] == ["failed", "failed"]
    assert stopped.json()["importances"] == {}
    assert {e["status"] for e in trials_in(api, sweep_id)} == {"cancelled"}
    assert stopped.json()["finished_at"] is not None
    assert api.http.post(f"/api/v1/sweeps/{sweep_id}/resume").status_code == 409
    assert api.http.get("/api/v1/sweeps/nope").status_code == 404


def test_idempotency_key_returns_the_first_sweep(
    tmp_path, redis_server, redis_client, test_app_path, empty_database_url
):
    """As for POST /experiments: the same request with the same key gets the first sweep, and queues no more
    trials, also when the copies arrive at once; another request with that key, or a key first used for an
    experiment, is a 409. On SQLite and PostgreSQL."""
    with RunningAPI(make_settings(tmp_path, redis_server.url, database_url=empty_database_url)) as api:
        _check_sweep_idempotency(api)


def _check_sweep_idempotency(api):
    body = sweep_request(parallelism=2, n_trials=4)
    with ThreadPoolExecutor(4) as pool:
        racing = list(
            pool.map(lambda _: api.http.post("/api/v1/sweeps", json=body, headers={"Idempotency-Key": "s-0"}), range(4))
        )
    assert [r.status_code for r in racing] == [202] * 4, [r.text for r in racing]
    assert len({r.json()["id"] for r in racing}) == 1
    first = api.http.post("/api/v1/sweeps", json=body, headers={"Idempotency-Key": "s-1"})
    again = api.http.post("/api/v1/sweeps", json=body, headers={"Idempotency-Key": "s-1"})
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert api.http.get("/api/v1/sweeps").json()["total"] == 2
    assert len(trials_in(api, first.json()["id"])) == len(trials_in(api, racing[0].json()["id"])) == 2

    changed = api.http.post("/api/v1/sweeps", json={**body, "n_trials": 5}, headers={"Idempotency-Key": "s-1"})
    assert changed.status_code == 409
    assert "different request" in changed.json()["detail"]
    run = {"app": "sine_test", "config": {"epochs": 1}}
    assert api.http.post("/api/v1/experiments", json=run, headers={"Idempotency-Key": "s-1"}).status_code == 409
    assert api.http.post("/api/v1/experiments", json=run, headers={"Idempotency-Key": "e-1"}).status_code == 202
    assert api.http.post("/api/v1/sweeps", json=body, headers={"Idempotency-Key": "e-1"}).status_code == 409
    assert api.http.get("/api/v1/sweeps").json()["total"] == 2
    assert api.http.get("/api/v1/experiments").json()["total"] == 5


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"space": {"nope": {"type": "int", "low": 1, "high": 3}}}, ["body", "space", "nope"], "unknown field"),
        (
            {"space": {"window": {"type": "float", "low": 2, "high": 8}}},
            ["body", "space", "window"],
            "integer field",
        ),
        (
            {"space": {"learning_rate": {"type": "float", "low": 0.01, "high": 20}}},
            ["body", "space", "learning_rate"],
            "not at most 10",
        ),
        (
            {"space": {"window": {"type": "int", "low": 0, "high": 8}}},
            ["body", "space", "window"],
            "not at least 1",
        ),
        (
            {"space": {"scaler": {"type": "categorical", "choices": ["standard", "bogus"]}}},
            ["body", "space", "scaler"],
            "'bogus' is not a value",
        ),
        (
            {"space": {"live_predictions": {"type": "int", "low": 0, "high": 1}}},
            ["body", "space", "live_predictions"],
            "yes/no field",
        ),
        (
            {"space": {"learning_rate": {"type": "float", "low": 0, "high": 0.1, "log": True}}},
            ["body", "space", "learning_rate", "float"],
            "log range must start above 0",
        ),
        ({"base_config": {"epochs": 0}}, ["body", "base_config", "epochs"], "less than the minimum of 1"),
        (
            {"sampler": "grid"},
            ["body", "space", "learning_rate"],
            "a grid needs a step",
        ),
        (
            {"sampler": "grid", "space": {"window": {"type": "int", "low": 2, "high": 6, "step": 2}}},
            ["body", "n_trials"],
            "the grid has 3 points",
        ),
        ({"sampler": "bayes"}, ["body", "sampler"], "tpe"),
        ({"pruner": "asha"}, ["body", "pruner"], "median"),
    ],
)
def test_a_space_the_app_cannot_take_is_a_422_naming_the_field(api, change, loc, words):
    response = api.http.post("/api/v1/sweeps", json=sweep_request(**change))
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(detail["loc"] == loc and words in detail["msg"] for detail in details), details
    assert api.http.get("/api/v1/sweeps").json()["total"] == 0


def test_a_grid_sweep_asks_every_point_of_its_grid_once(api):
    space = {
        "window": {"type": "int", "low": 2, "high": 6, "step": 2},
        "scaler": {"type": "categorical", "choices": ["standard", "minmax"]},
    }
    created = api.http.post(
        "/api/v1/sweeps", json=sweep_request(sampler="grid", space=space, n_trials=6, parallelism=6)
    )
    assert created.status_code == 202, created.text
    points = sorted((t["params"]["window"], t["params"]["scaler"]) for t in created.json()["trials"])
    assert points == sorted((w, s) for w in (2, 4, 6) for s in ("standard", "minmax"))
