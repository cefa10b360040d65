"""With AZURAFORGE_ARTIFACT_STORE=s3://..., on a real S3-protocol server (moto's): the API, the worker and the
model server each have a data directory of their own (as on three hosts), and every artifact path still works:
report, images, downloads, the zip, logs, predict, registry copy/serve/delete, MLflow artifacts upload/list/
download, delete. One stack for the module, one run through every path."""

import hashlib
import io
import zipfile

import boto3
from conftest import RunningAPI, create, make_settings, serving
from test_mlflow import run_client

from azuraforge_common import names
from azuraforge_common.artifacts import model_key, parse_s3_url, run_key
from azuraforge_common.models import ModelVersion
from azuraforge_worker import runner

ROWS = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]


def objects(store_url, prefix):
    """The bucket's keys under `prefix` of the store, read with a plain boto3 client."""
    bucket, root = parse_s3_url(store_url)
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{root}/{prefix}")
    return sorted(entry["Key"].removeprefix(f"{root}/{prefix}") for entry in listed.get("Contents", []))


def local_artifacts(host_dir):
    """Artifact folders a local store would have made under a host's data directory."""
    return [name for name in ("experiments", "registry") if (host_dir / "data" / name).exists()]


def test_every_artifact_path_works_from_a_bucket_with_no_shared_directory(
    tmp_path, redis_server, redis_client, test_app_path, s3_store_url
):
    api_settings = make_settings(tmp_path / "api-host", redis_server.url, artifact_store=s3_store_url)
    worker_settings = api_settings.model_copy(update={"data_dir": tmp_path / "worker-host" / "data"})
    server_settings = api_settings.model_copy(update={"data_dir": tmp_path / "model-host" / "data"})
    with RunningAPI(api_settings) as api, serving(api, server_settings):
        experiment = create(api, {"epochs": 2, "window": 4, "horizon": 2, "chatter": 1})
        worker = runner.Services.from_settings(worker_settings)  # what a worker on another host runs
        assert runner.run_experiment(worker, experiment["id"]) == "succeeded"
        worker.redis.close()
        assert not (tmp_path / "worker-host" / "data" / "runs" / experiment["id"]).exists(), "its scratch is gone"
        run = f"/api/v1/experiments/{experiment['id']}"
        listed = api.http.get(run).json()["artifacts"]
        assert {"report.md", "images/loss.png", "model.npz", names.RUN_LOG_FILE} <= set(listed)
        assert objects(s3_store_url, run_key(experiment["id"])) == sorted([*listed, "outcome.json"])

        report = api.http.get(f"{run}/report")
        assert report.status_code == 200
        assert "](images/loss.png)" in report.text
        image = api.http.get(f"{run}/artifacts/images/loss.png")
        assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
        assert image.content.startswith(b"\x89PNG")
        assert int(image.headers["content-length"]) == len(image.content)
        weights = api.http.get(f"{run}/artifacts/model.npz").content
        assert weights == api.platform.artifacts.read(run_key(experiment["id"], "model.npz"))
        assert api.http.get(f"{run}/artifacts/../../secret").status_code == 404
        assert api.http.get(f"{run}/artifacts/nothing.png").status_code == 404
        with zipfile.ZipFile(io.BytesIO(api.http.get(f"{run}/artifacts.zip").content)) as archive:
            assert sorted(archive.namelist()) == sorted(listed)
            assert archive.read("model.npz") == weights
        logs = api.http.get(f"{run}/logs").json()
        printed = [line.split(" ", 1)[1] for line in logs["lines"] if "stdout:" in line]
        assert printed == ["INFO stdout: epoch 1 line 1", "INFO stdout: epoch 2 line 1"]
        assert logs["finished"]

        forecast = api.http.post(f"{run}/predict", json={"data": ROWS})
        assert forecast.status_code == 200, forecast.text
        assert len(forecast.json()["forecast"]) == 2

        # The registry copies the model within the bucket; the copy outlives the run, is served, and is deleted.
        version = api.http.post("/api/v1/models/sine/versions", json={"experiment_id": experiment["id"]})
        assert version.status_code == 201, version.text
        with api.platform.sessions() as session:
            version_id = session.query(ModelVersion).one().id
        saved = objects(s3_store_url, model_key(version_id))
        assert "model.npz" in saved
        assert set(saved) <= set(listed)
        assert version.json()["weights_sha256"] == hashlib.sha256(weights).hexdigest()
        assert api.http.delete(run).status_code == 204
        assert objects(s3_store_url, run_key(experiment["id"])) == []
        predicted = api.http.post("/api/v1/models/sine/versions/1/predict", json={"history": ROWS})
        assert predicted.status_code == 200, predicted.text
        assert api.http.delete("/api/v1/models/sine/versions/1").status_code == 204
        assert objects(s3_store_url, model_key(version_id)) == []

        # MLflow: the unmodified client uploads, lists and downloads its artifacts through the bucket.
        seen = run_client(api, "tracking_flow.py")
        assert (seen["listed"], seen["downloaded"]) == ([["outputs/notes.txt", False]], "weights are elsewhere\n")
        tracked = objects(s3_store_url, run_key(seen["first"]))
        assert {"outputs/notes.txt", "report.md", "images/metric-loss.png"} <= set(tracked)
    for host in ("api-host", "worker-host", "model-host"):
        assert local_artifacts(tmp_path / host) == [], f"{host} wrote artifacts to its own disk"
