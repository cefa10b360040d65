"""The model registry and serving, end to end: real runs trained by the worker's code, the API on a real uvicorn,
the model server's threads on the same Redis, on SQLite and PostgreSQL."""

import base64
import hashlib
import io
from typing import Any

import numpy as np
import pytest
from conftest import RunningAPI, create, make_settings, record, run_dir, run_in_process, serving
from PIL import Image

from azuraforge_common.artifacts import model_key
from azuraforge_common.models import ModelVersion
from azuraforge_common.serving import REQUESTS

SMALL = {"epochs": 1, "window": 4, "horizon": 2}
ROWS = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]


@pytest.fixture
def db_api(tmp_path, redis_server, redis_client, test_app_path, empty_database_url):
    """The API on SQLite, then on PostgreSQL."""
    settings = make_settings(tmp_path, redis_server.url, database_url=empty_database_url)
    with RunningAPI(settings) as running:
        yield running


def trained(api, config=None, app="sine_test"):
    experiment = create(api, config or SMALL, app=app)
    assert run_in_process(api, experiment["id"]) == "succeeded"
    return experiment["id"]


def register(api, name, experiment_id, **fields):
    response = api.http.post(f"/api/v1/models/{name}/versions", json={"experiment_id": experiment_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_version_keeps_what_the_run_recorded_and_survives_deleting_the_run(db_api):
    api = db_api
    run_id = trained(api)
    run = record(api, run_id)
    weights = (run_dir(api, run_id) / "model.npz").read_bytes()

    first = register(api, "sine", run_id, description="first try")
    assert (first["name"], first["version"], first["uri"]) == ("sine", 1, "models:/sine/1")
    assert first["experiment_id"] == run_id
    assert first["source_run_exists"]
    assert (first["app"], first["task"]) == ("sine_test", "forecast")
    assert first["app_version"] == run.result["provenance"]["app_version"]
    assert first["config"] == run.config
    assert first["metrics"] == run.result["metrics"]
    assert first["result"]["verdict"] == run.result["verdict"]
    assert first["result"]["provenance"]["data"] == run.result["provenance"]["data"]
    assert first["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert first["created_by"] == "local"
    assert first["description"] == "first try"
    assert first["input_schema"]["title"] == "ForecastInput"
    assert register(api, "sine", run_id)["version"] == 2

    assert api.http.delete(f"/api/v1/experiments/{run_id}").status_code == 204
    kept = api.http.get("/api/v1/models/sine/versions/1").json()
    assert not kept["source_run_exists"]
    assert kept["metrics"] == first["metrics"]
    with serving(api):
        predicted = api.http.post("/api/v1/models/sine/versions/1/predict", json={"history": ROWS})
    assert predicted.status_code == 200, predicted.text
    forecast = predicted.json()
    assert forecast["last_value"] == 0.0
    assert forecast["target"] == "value"
    assert [point["timestamp"] for point in forecast["forecast"]] == ["5", "6"]
    listed = api.http.get("/api/v1/models").json()
    assert [(m["name"], m["versions"], m["latest_version"]) for m in listed] == [("sine", 2, 2)]


def test_only_succeeded_runs_with_saved_weights_can_be_registered(db_api):
    api = db_api
    queued = create(api, SMALL)["id"]
    refused = api.http.post("/api/v1/models/sine/versions", json={"experiment_id": queued})
    assert refused.status_code == 409
    assert "is queued; only succeeded runs can be registered" in refused.json()["detail"]
    failed = create(api, {**SMALL, "fail_at_epoch": 1})["id"]
    assert run_in_process(api, failed) == "failed"
    assert api.http.post("/api/v1/models/sine/versions", json={"experiment_id": failed}).status_code == 409
    run_id = trained(api)
    (run_dir(api, run_id) / "model.npz").unlink()
    no_weights = api.http.post("/api/v1/models/sine/versions", json={"experiment_id": run_id})
    assert no_weights.status_code == 409
    assert "saved no model" in no_weights.json()["detail"]
    missing = api.http.post("/api/v1/models/sine/versions", json={"experiment_id": "f" * 32})
    assert missing.status_code == 404
    bad_name = api.http.post("/api/v1/models/-bad name/versions", json={"experiment_id": run_id})
    assert bad_name.status_code == 422
    assert bad_name.json()["detail"][0]["loc"] == ["path", "name"]
    assert api.http.get("/api/v1/models").json() == [], "nothing half-registered"
    assert api.platform.artifacts.keys("registry/") == []


def test_aliases_move_with_an_audit_trail_and_protect_their_versions(db_api):
    api = db_api
    run_id = trained(api)
    for _ in range(2):
        register(api, "sine", run_id)
    aliases = "/api/v1/models/sine/aliases"
    assert api.http.put(f"{aliases}/production", json={"version": 1}).status_code == 200
    moved = api.http.put(f"{aliases}/production", json={"version": 2})
    assert moved.json()["version"] == 2
    assert api.http.put(f"{aliases}/production", json={"version": 2}).status_code == 200, "no change, no event"
    assert api.http.put(f"{aliases}/staging", json={"version": 1}).status_code == 200
    assert api.http.delete(f"{aliases}/staging").status_code == 204
    assert api.http.delete(f"{aliases}/staging").status_code == 404
    assert api.http.put(f"{aliases}/production", json={"version": 9}).status_code == 404
    assert api.http.put(f"{aliases}/Not Valid", json={"version": 1}).status_code == 422

    model = api.http.get("/api/v1/models/sine").json()
    trail = [(e["alias"], e["from_version"], e["to_version"], e["by"]) for e in model["alias_history"]]
    assert trail == [
        ("staging", 1, None, "local"),
        ("staging", None, 1, "local"),
        ("production", 1, 2, "local"),
        ("production", None, 1, "local"),
    ]
    assert [(a["alias"], a["version"]) for a in model["aliases"]] == [("production", 2)]
    assert [(v["version"], v["aliases"]) for v in model["version_list"]] == [(2, ["production"]), (1, [])]

    resolve = "/api/v1/models/resolve"
    assert api.http.get(resolve, params={"uri": "models:/sine@production"}).json()["version"] == 2
    assert api.http.get(resolve, params={"uri": "models:/sine/1"}).json()["version"] == 1
    assert api.http.get(resolve, params={"uri": "models:/sine@staging"}).status_code == 404
    wrong_form = api.http.get(resolve, params={"uri": "sine:2"})
    assert wrong_form.status_code == 404
    assert "write models:/<name>/<version>" in wrong_form.json()["detail"]

    refused = api.http.delete("/api/v1/models/sine/versions/2")
    assert refused.status_code == 409
    assert "aliased as production" in refused.json()["detail"]
    version_one = _version_id(api, 1)
    assert api.platform.artifacts.exists(model_key(version_one, "model.npz"))
    assert api.http.delete("/api/v1/models/sine/versions/1").status_code == 204
    assert api.platform.artifacts.keys(model_key(version_one)) == []
    edited = api.http.patch("/api/v1/models/sine", json={"description": "sine forecaster", "tags": ["demo"]})
    assert (edited.json()["description"], edited.json()["tags"]) == ("sine forecaster", ["demo"])


def test_bad_prediction_input_is_a_422_naming_what_is_wrong(api, model_server):
    register(api, "sine", trained(api))
    predict = "/api/v1/models/sine/versions/1/predict"
    cases = [
        ({"history": ROWS[:2]}, "at least window=4 rows"),
        ({"history": [{"other": 1.0}] * 5}, "lacks column(s) value"),
        ({"history": ROWS, "horizon": 3}, "horizon 3 is beyond the model's"),
        ({"history": ROWS, "timestamps": ["2024-01-01"]}, "one entry per history row"),
        ({"pixels": [[0.0]]}, "Extra inputs are not permitted"),
    ]
    for body, expected in cases:
        response = api.http.post(predict, json=body)
        assert response.status_code == 422, body
        assert expected in response.json()["detail"], response.text
    not_json = api.http.post(predict, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert "not JSON" in not_json.json()["detail"]
    assert api.http.post(predict, json={"history": ROWS}).status_code == 200, "the server is still up"
    assert api.http.post("/api/v1/models/sine/predict", json={"history": ROWS}).status_code == 404
    assert api.http.post("/api/v1/models/sine@nothing/predict", json={"history": ROWS}).status_code == 404


def test_a_model_whose_app_is_not_installed_where_models_are_served_is_a_409(api, model_server):
    register(api, "sine", trained(api))
    with api.platform.sessions() as session:
        session.query(ModelVersion).update({ModelVersion.app: "uninstalled_app"})
        session.commit()
    response = api.http.post("/api/v1/models/sine/versions/1/predict", json={"history": ROWS})
    assert response.status_code == 409
    assert "no app named 'uninstalled_app' is installed" in response.json()["detail"]


def test_without_a_model_server_a_prediction_is_a_503_and_is_withdrawn(
    tmp_path, redis_server, redis_client, test_app_path
):
    settings = make_settings(tmp_path, redis_server.url, predict_timeout_s=1)
    with RunningAPI(settings) as api:
        register(api, "sine", trained(api))
        response = api.http.post("/api/v1/models/sine/versions/1/predict", json={"history": ROWS})
        assert response.status_code == 503
        assert "model server did not answer within 1 s" in response.json()["detail"]
        assert response.headers["Retry-After"] == "5"
        assert redis_client.llen(REQUESTS) == 0, "nobody computes a prediction nobody waits for"


def test_the_experiment_route_predicts_through_the_model_server_with_one_cached_load(api, model_server):
    run_id = trained(api)
    for _ in range(3):
        response = api.http.post(f"/api/v1/experiments/{run_id}/predict", json={"data": ROWS})
        assert response.status_code == 200
    assert len(model_server) == 1, "loaded once, then answered from the cache"
    register(api, "sine", run_id)
    api.http.post("/api/v1/models/sine/versions/1/predict", json={"history": ROWS})
    assert len(model_server) == 2, "a registry version is cached by its weights' hash"


def digit_png(pixels):
    """An 8x8 grey PNG of a scikit-learn digit (levels 0..16)."""
    buffer = io.BytesIO()
    Image.fromarray((np.asarray(pixels) * 255 / 16).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_classifier_answers_class_probabilities_for_an_uploaded_digit(api, model_server):
    from sklearn.datasets import load_digits

    run_id = trained(api, {"epochs": 6, "conv_channels": 8, "hidden_units": 32, "seed": 0}, app="image-classifier")
    version = register(api, "digits", run_id)
    assert version["task"] == "classification"
    assert version["input_schema"]["title"] == "ImageInput"
    assert api.http.put("/api/v1/models/digits/aliases/production", json={"version": 1}).status_code == 200
    digits = load_digits()
    predict = "/api/v1/models/digits@production/predict"
    right = 0
    for index in range(10):
        png = digit_png(digits.images[index])
        uploaded = api.http.post(predict, files={"image": ("digit.png", png, "image/png")})
        assert uploaded.status_code == 200, uploaded.text
        answer = uploaded.json()
        assert len(answer["probabilities"]) == 10
        assert abs(sum(p["probability"] for p in answer["probabilities"]) - 1.0) < 1e-6
        assert answer["probabilities"][0]["label"] == answer["top_class"]
        right += answer["top_class"] == str(digits.target[index])
        as_json = api.http.post(predict, json={"image": base64.b64encode(png).decode()}).json()
        assert as_json == answer, "a base64 image gives what the upload gives"
    assert right >= 8, f"only {right} of 10 digits classified right"
    pixels = (digits.images[0] / 16).tolist()
    assert api.http.post(predict, json={"pixels": pixels}).json()["top_class"] in "0123456789"

    cases: list[tuple[dict[str, Any], str]] = [
        ({"files": {"image": ("x.png", b"not an image", "image/png")}}, "does not decode"),
        ({"files": {"image": ("x.png", b"0" * (4 * 1024 * 1024 + 1), "image/png")}}, "over the limit of 4 MiB"),
        ({"files": {"other": ("x.png", b"1", "image/png")}}, "no 'image' field"),
        ({"json": {"pixels": [[0.5] * 7] * 8}}, "pixels must be shaped (8, 8)"),
        ({"json": {"image": "%%%"}}, "not valid base64"),
        ({"json": {}}, "give exactly one of image"),
    ]
    for request, expected in cases:
        response = api.http.post(predict, **request)
        assert response.status_code == 422, request
        assert expected in response.json()["detail"], response.text


def test_a_stock_model_serves_a_forecast_by_alias_from_the_data_it_was_trained_on(api, model_server):
    config = {"source": "sample", "epochs": 1, "window": 10, "hidden_size": 8, "period": "2y"}
    register(api, "spx", trained(api, config, app="stock-predictor"))
    api.http.put("/api/v1/models/spx/aliases/production", json={"version": 1})
    response = api.http.post("/api/v1/models/spx@production/predict", json={})
    assert response.status_code == 200, response.text
    forecast = response.json()
    assert forecast["target"] == "Close"
    assert forecast["last_value"] > 0
    assert len(forecast["forecast"]) == 1
    assert forecast["forecast"][0]["value"] > 0


def _version_id(api, number):
    with api.platform.sessions() as session:
        return session.query(ModelVersion).filter_by(version=number).one().id
