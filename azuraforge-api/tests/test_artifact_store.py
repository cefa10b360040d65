"""With AZURAFORGE_ARTIFACT_STORE=s3://..., on a real S3-protocol server (moto's): the worker's host and the API's
host share no directory, and every artifact path (report, images, downloads, predict, delete) still works."""

import shutil

import boto3
from conftest import RunningAPI, create, make_settings

from azuraforge_common.artifacts import parse_s3_url
from azuraforge_worker import runner


def test_every_artifact_path_works_from_a_bucket_with_no_shared_directory(
    tmp_path, redis_server, redis_client, test_app_path, s3_store_url
):
    api_settings = make_settings(tmp_path / "api-host", redis_server.url, artifact_store=s3_store_url)
    worker_settings = api_settings.model_copy(update={"data_dir": tmp_path / "worker-host"})
    with RunningAPI(api_settings) as api:
        experiment = create(api, {"epochs": 2, "window": 4, "horizon": 2})
        worker = runner.Services.from_settings(worker_settings)  # what a worker on another host runs
        assert runner.run_experiment(worker, experiment["id"]) == "succeeded"
        worker.redis.close()
        shutil.rmtree(tmp_path / "worker-host", ignore_errors=True)
        assert not (tmp_path / "api-host" / "data" / "experiments").exists()
        base = f"/api/v1/experiments/{experiment['id']}"

        report = api.http.get(f"{base}/report")
        assert report.status_code == 200
        assert "](images/loss.png)" in report.text
        image = api.http.get(f"{base}/artifacts/images/loss.png")
        assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
        assert image.content.startswith(b"\x89PNG")
        assert int(image.headers["content-length"]) == len(image.content)
        bucket, prefix = parse_s3_url(s3_store_url)
        weights = (
            boto3.client("s3")
            .get_object(Bucket=bucket, Key=f"{prefix}/experiments/{experiment['id']}/model.npz")["Body"]
            .read()
        )
        assert api.http.get(f"{base}/artifacts/model.npz").content == weights
        assert api.http.get(f"{base}/artifacts/../../secret").status_code == 404
        assert api.http.get(f"{base}/artifacts/nothing.png").status_code == 404

        rows = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]
        forecast = api.http.post(f"{base}/predict", json={"data": rows})
        assert forecast.status_code == 200, forecast.text
        assert len(forecast.json()["forecast"]) == 2

        assert api.http.delete(base).status_code == 204
        assert api.platform.artifacts.keys(f"experiments/{experiment['id']}/") == []
