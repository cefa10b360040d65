"""Managing runs: their logs, notes, deletion while they run, bulk actions, clones. Against a real Redis and
SQLite; runs are trained by the worker's own code in this process."""

import csv
import io
import threading
import zipfile

from conftest import create, record, run_dir, run_in_process, stored_events, wait_for

from azuraforge_common import names
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import EpochEndEvent, LogEvent, StatusEvent


def test_logs_page_through_run_log_as_numbered_as_the_live_lines(api):
    experiment = create(api, {"epochs": 2, "chatter": 5})
    run_in_process(api, experiment["id"])
    url = f"/api/v1/experiments/{experiment['id']}/logs"
    everything = api.http.get(url).json()
    assert everything["first_line"] == 1
    assert everything["finished"] is True
    assert everything["total"] == len(everything["lines"]) > 10
    live = {
        event.first_line + i: line
        for event in stored_events(api, experiment["id"])
        if isinstance(event, LogEvent)
        for i, line in enumerate(event.lines)
    }
    assert live == dict(enumerate(everything["lines"], start=1))

    pages, after = [], 0
    while lines := api.http.get(url, params={"after": after, "limit": 4}).json()["lines"]:
        pages.append(lines)
        after += len(lines)
    assert [line for page in pages for line in page] == everything["lines"]
    assert all(len(page) == 4 for page in pages[:-1])

    # A line still being written (no newline yet) is not served until it is whole.
    run_log = run_dir(api, experiment["id"]) / names.RUN_LOG_FILE
    with run_log.open("a") as file:
        file.write("half a li")
    assert api.http.get(url, params={"after": everything["total"]}).json() == {
        "first_line": everything["total"] + 1,
        "lines": [],
        "total": everything["total"],
        "finished": True,
    }
    assert api.http.get(url, params={"after": -1}).status_code == 422


def test_a_queued_run_has_an_empty_log_and_an_unknown_one_is_a_404(api):
    experiment = create(api)
    page = api.http.get(f"/api/v1/experiments/{experiment['id']}/logs").json()
    assert page == {"first_line": 1, "lines": [], "total": 0, "finished": False}
    assert api.http.get("/api/v1/experiments/nope/logs").status_code == 404


def test_patch_changes_name_tags_and_notes_and_only_those(api):
    experiment = create(api, name="first", tags=["a", "b"])
    url = f"/api/v1/experiments/{experiment['id']}"
    changed = api.http.patch(url, json={"notes": "# Why\nlr **too** high", "tags": ["b", "c"]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["tags"], body["notes"]) == ("first", ["b", "c"], "# Why\nlr **too** high")
    assert api.http.patch(url, json={"name": "second"}).json()["tags"] == ["b", "c"]
    assert api.http.get(url).json()["name"] == "second"
    assert api.http.get("/api/v1/experiments", params={"tag": "c"}).json()["total"] == 1
    assert api.http.get("/api/v1/experiments", params={"tag": "a"}).json()["total"] == 0

    for bad, field in [({}, "name, tags, notes"), ({"tags": ["x", "x"]}, "tags"), ({"colour": 1}, "colour")]:
        response = api.http.patch(url, json=bad)
        assert response.status_code == 422, bad
        assert field in response.text
    assert api.http.patch("/api/v1/experiments/nope", json={"name": "x"}).status_code == 404


def test_deleting_a_running_run_cancels_it_and_its_worker_leaves_nothing_behind(api):
    experiment = create(api, {"epochs": 50, "epoch_sleep_s": 0.2, "chatter": 1})
    experiment_id = experiment["id"]
    ended: list[object] = []
    worker = threading.Thread(target=lambda: ended.append(run_in_process(api, experiment_id)))
    worker.start()
    wait_for(
        lambda: any(isinstance(e, EpochEndEvent) for e in stored_events(api, experiment_id)), 60, "the first epoch"
    )
    assert api.http.delete(f"/api/v1/experiments/{experiment_id}").status_code == 204
    assert api.http.get(f"/api/v1/experiments/{experiment_id}").status_code == 404
    worker.join(60)
    assert ended == [None], "the worker found its run ended elsewhere"
    assert api.platform.artifacts.keys(run_key(experiment_id)) == []
    assert not api.platform.redis.exists(*names.experiment_keys(experiment_id))


def test_deleting_a_queued_run_means_its_worker_never_runs_it(api):
    experiment = create(api)
    assert api.http.delete(f"/api/v1/experiments/{experiment['id']}").status_code == 204
    assert record(api, experiment["id"]) is None
    assert run_in_process(api, experiment["id"]) is None


def test_bulk_cancels_a_batch_and_deletes_a_selection_listing_what_it_could_not_do(api):
    batch = api.http.post(
        "/api/v1/experiments", json={"app": "sine_test", "grid": {"learning_rate": [0.1, 0.01, 0.001]}}
    ).json()
    ids = [member["id"] for member in batch["experiments"]]
    run_in_process(api, ids[0])

    cancelled = api.http.post("/api/v1/experiments/bulk", json={"action": "cancel", "batch_id": batch["batch_id"]})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["done"] == ids[1:]
    assert cancelled.json()["skipped"] == [{"id": ids[0], "reason": f"experiment {ids[0]} already succeeded"}]
    assert [record(api, i).status for i in ids] == ["succeeded", "cancelled", "cancelled"]
    final = [e for e in stored_events(api, ids[1]) if isinstance(e, StatusEvent) and e.final]
    assert [e.status for e in final] == ["cancelled"]

    deleted = api.http.post("/api/v1/experiments/bulk", json={"action": "delete", "ids": [ids[0], ids[2], "nope"]})
    assert deleted.json() == {"done": [ids[0], ids[2]], "skipped": [{"id": "nope", "reason": "no experiment 'nope'"}]}
    assert [record(api, i) is None for i in ids] == [True, False, True]

    for bad in [
        {"action": "cancel"},
        {"action": "cancel", "ids": ["a"], "batch_id": "b"},
        {"action": "x", "ids": ["a"]},
    ]:
        assert api.http.post("/api/v1/experiments/bulk", json=bad).status_code == 422, bad
    unknown = api.http.post("/api/v1/experiments/bulk", json={"action": "delete", "batch_id": "nope"})
    assert unknown.status_code == 404


def test_clone_gives_the_request_that_repeats_the_run_exactly(api):
    experiment = create(api, {"epochs": 1}, name="base", tags=["t"])
    run_in_process(api, experiment["id"])
    clone = api.http.get(f"/api/v1/experiments/{experiment['id']}/clone").json()
    assert clone["app"] == "sine_test"
    assert (clone["name"], clone["tags"]) == ("base (again)", ["t"])
    assert clone["config"]["epochs"] == 1
    assert "seed" in clone["config"], "the full config as it ran, defaults and seed included"
    again = create(api, clone.pop("config"), **{k: v for k, v in clone.items() if k not in {"app", "grid"}})
    run_in_process(api, again["id"])
    first, second = record(api, experiment["id"]).result, record(api, again["id"]).result
    assert first["provenance"]["data"] == second["provenance"]["data"]
    assert first["metrics"] == second["metrics"], "same config, same seed, same data: the same result"


def test_the_list_searches_filters_sorts_by_metric_and_pages_with_a_cursor_and_exports_csv(api):
    made = [create(api, {"epochs": 1, "learning_rate": lr}, name=f"lr {lr}") for lr in (0.1, 0.01, 0.001)]
    for experiment in made:
        run_in_process(api, experiment["id"])
    api.http.patch(f"/api/v1/experiments/{made[1]['id']}", json={"notes": "the =SUM(A1) one"})
    records = {e["id"]: api.http.get(f"/api/v1/experiments/{e['id']}").json() for e in made}
    rmse = {run: found["metrics"]["rmse"] for run, found in records.items()}
    last_val_loss = {run: found["history"]["val_loss"][-1] for run, found in records.items()}

    def ids(**params):
        response = api.http.get("/api/v1/experiments", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    by_rmse = sorted(rmse, key=rmse.__getitem__)
    assert ids(sort="metric.rmse") == by_rmse
    assert ids(sort="-config.learning_rate") == [e["id"] for e in made]
    assert ids(q="SUM(a1)") == [made[1]["id"]]
    assert ids(filter=["config.learning_rate>=0.01", f"metric.rmse<={rmse[made[0]['id']]}"]) == [made[0]["id"]]
    # val_loss is reported per epoch only: its value at the last epoch
    by_val_loss = sorted(last_val_loss, key=last_val_loss.__getitem__)
    assert ids(sort="metric.val_loss") == by_val_loss
    assert ids(filter=f"metric.val_loss<={last_val_loss[by_val_loss[0]]}") == by_val_loss[:1]

    pages, cursor = [], None
    while True:
        params = {"sort": "metric.rmse", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.http.get("/api/v1/experiments", params=params).json()
        pages.append([item["id"] for item in page["items"]])
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == [by_rmse[:2], by_rmse[2:]]

    for bad, field in [
        ({"filter": "metric.rmse<<1"}, "filter"),
        ({"sort": "colour"}, "sort"),
        ({"cursor": "bogus"}, "cursor"),
        ({"cursor": "bogus", "offset": 2}, "cursor"),
    ]:
        response = api.http.get("/api/v1/experiments", params=bad)
        assert response.status_code == 422, bad
        assert field in response.text

    export = api.http.get("/api/v1/experiments/export.csv", params={"sort": "metric.rmse"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [row["id"] for row in rows] == by_rmse
    assert {row["metric.rmse"] for row in rows} == {str(value) for value in rmse.values()}
    assert {row["metric.val_loss"] for row in rows} == {str(value) for value in last_val_loss.values()}
    assert all(int(row["peak_rss_bytes"]) > 0 for row in rows)
    assert rows[0]["config.learning_rate"] in {"0.1", "0.01", "0.001"}
    assert api.http.get("/api/v1/experiments/export.csv", params={"q": "nothing like it"}).text.count("\n") == 1


def test_every_artifact_downloads_as_one_zip(api):
    experiment = create(api, {"epochs": 1, "chatter": 1})
    run_in_process(api, experiment["id"])
    artifacts = api.http.get(f"/api/v1/experiments/{experiment['id']}").json()["artifacts"]
    response = api.http.get(f"/api/v1/experiments/{experiment['id']}/artifacts.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted(artifacts)
    assert "stdout: epoch 1 line 1" in archive.read(names.RUN_LOG_FILE).decode()
    report = api.http.get(f"/api/v1/experiments/{experiment['id']}/artifacts/report.md").content
    assert archive.read("report.md") == report
    assert api.http.get("/api/v1/experiments/nope/artifacts.zip").status_code == 404
