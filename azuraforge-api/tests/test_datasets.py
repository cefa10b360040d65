"""Datasets users upload: checked, versioned by content, kept once in the artifact store, trained on by runs
whose record names them, and kept while a run names them; on SQLite and PostgreSQL."""

import hashlib
import io
import zipfile

import numpy as np
import pytest
from conftest import RunningAPI, make_settings, record, run_in_process
from PIL import Image
from sklearn.datasets import load_digits

from azuraforge_common import datasets
from azuraforge_common.artifacts import open_store

SERIES = "step,value\n" + "".join(f"{step},{np.sin(step / 6.0):.5f}\n" for step in range(120))


def upload(api, data, kind="csv", name=None, **params):
    query = {"kind": kind, **({"name": name} if name else {}), **params}
    return api.http.post("/api/v1/datasets", params=query, files={"file": ("upload", data)})


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def digits_zip(per_class: int) -> bytes:
    """scikit-learn's digits as a zip of class folders inside one top folder, as zipping a folder makes."""
    bunch = load_digits()
    files, seen = {}, dict.fromkeys(range(10), 0)
    for image, label in zip(bunch.images, bunch.target, strict=True):
        if seen[label] < per_class:
            seen[label] += 1
            files[f"digits/{label}/{seen[label]}.png"] = png(image * 15)
    return zipped(files)


@pytest.fixture
def db_api(tmp_path, redis_server, redis_client, empty_database_url, test_app_path):
    """An API on SQLite, then on PostgreSQL."""
    with RunningAPI(make_settings(tmp_path, redis_server.url, database_url=empty_database_url)) as api:
        yield api


def test_a_dataset_is_versioned_by_its_bytes_trained_on_and_kept_while_a_run_names_it(db_api):
    api = db_api
    created = upload(api, SERIES.encode(), name="sine")
    assert created.status_code == 201, created.text
    dataset = created.json()
    sha256 = hashlib.sha256(SERIES.encode()).hexdigest()
    assert (dataset["sha256"], dataset["kind"], dataset["size"]) == (sha256, "csv", len(SERIES))
    assert dataset["summary"] == {"columns": ["step", "value"], "numeric_columns": ["step", "value"], "rows": 120}
    again = upload(api, SERIES.encode(), name="sine again")
    assert (again.status_code, again.json()["id"], again.json()["name"]) == (200, dataset["id"], "sine")
    store = open_store(None, api.settings.data_dir)
    assert store.keys("datasets/") == [f"datasets/default/{sha256}/data.csv"]
    assert [d["id"] for d in api.http.get("/api/v1/datasets", params={"kind": "csv"}).json()] == [dataset["id"]]
    assert api.http.get("/api/v1/datasets", params={"kind": "image-folder"}).json() == []

    apps = {app["name"]: app for app in api.http.get("/api/v1/apps").json()}
    assert apps["sine_test"]["datasets"][0]["columns"] == ["step", "value"]
    assert {spec["kind"] for spec in apps["image-classifier"]["datasets"]} == {"image-folder"}

    run = api.http.post(
        "/api/v1/experiments", json={"app": "sine_test", "config": {"epochs": 1, "dataset_id": dataset["id"]}}
    )
    assert run.status_code == 202, run.text
    assert run_in_process(api, run.json()["id"]) == "succeeded"
    source = record(api, run.json()["id"]).result["provenance"]["data"]["source"]
    assert source["dataset"] == {"id": dataset["id"], "name": "sine", "sha256": sha256}
    assert record(api, run.json()["id"]).result["provenance"]["data"]["rows"] == 120

    refused = api.http.delete(f"/api/v1/datasets/{dataset['id']}")
    assert refused.status_code == 409, refused.text
    assert run.json()["id"] in refused.json()["detail"]
    assert api.http.delete(f"/api/v1/experiments/{run.json()['id']}").status_code == 204
    assert api.http.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 204
    assert api.http.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404
    assert store.keys("datasets/") == []

    # A run names only a dataset of its project that its app takes.
    lacking = upload(api, b"step,level\n1,2\n2,3\n").json()
    images = upload(api, digits_zip(2), kind="image-folder").json()
    assert images["summary"] == {"classes": {str(digit): 2 for digit in range(10)}, "images": 20}
    project = api.http.post("/api/v1/projects", json={"name": "other"})
    elsewhere = upload(api, SERIES.encode(), project=project.json()["id"]).json()
    expected = {
        lacking["id"]: "lacks column(s) value",
        images["id"]: "is of kind image-folder; app sine_test takes: csv",
        elsewhere["id"]: "no dataset",
        "0" * 32: "no dataset",
    }
    for dataset_id, message in expected.items():
        response = api.http.post("/api/v1/experiments", json={"app": "sine_test", "config": {"dataset_id": dataset_id}})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "config", "dataset_id"], error
        assert message in error["msg"], error


UNUSABLE = [
    ("csv", b"", "empty"),
    ("csv", b"a,b\n1,2\n3\n", "CSV line 3 has 1 fields but the header has 2"),
    ("csv", b"a,a\n1,2\n3,4\n", "names column(s) a twice"),
    ("csv", "a\n\xe9\n1\n".encode("latin-1"), "not UTF-8"),
    ("csv", b"a,b\n1,2\n", "1 data row(s)"),
    ("image-folder", b"a,b\n1,2\n", "not a readable zip"),
    ("image-folder", zipped({"cats/1.png": png([[0]]), "../dogs/1.png": png([[1]])}), "leads out"),
    (
        "image-folder",
        zipped({"cats/1.png": png([[0]]), "dogs/notes.txt": b"hi"}),
        "dogs/notes.txt' is not an image",
    ),
    ("image-folder", zipped({"cats/1.png": png([[0]]), "2.png": png([[1]])}), "not inside a class folder"),
    ("image-folder", zipped({"cats/1.png": png([[0]]), "__MACOSX/._1.png": b"x"}), "only class 'cats'"),
    ("image-folder", zipped({f"c{n}/{n}.png": png([[n]]) for n in range(4)}), "holds 4 files; at most 3"),
    ("image-folder", zipped({"a/1.png": png([[0]]), "b/1.png": b"\x89PNG\r\n\x1a\n" + bytes(5000)}), "unpacks to"),
]


def test_an_unusable_upload_is_a_422_naming_what_is_wrong(api, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_ZIP_FILES", 3)
    monkeypatch.setattr(datasets, "MAX_UNZIPPED_BYTES", 4096)  # a bomb, in miniature
    for kind, data, message in UNUSABLE:
        response = upload(api, data, kind=kind)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
    assert api.http.get("/api/v1/datasets").json() == []
    assert open_store(None, api.settings.data_dir).keys("datasets/") == []


def test_the_image_classifier_trains_on_an_uploaded_zip_checked_against_its_hash(api):
    dataset = upload(api, digits_zip(6), kind="image-folder", name="digits").json()
    config = {"epochs": 1, "image_size": 8, "conv_channels": 2, "hidden_units": 8, "dataset_id": dataset["id"]}
    run = api.http.post("/api/v1/experiments", json={"app": "image-classifier", "config": config}).json()
    assert run_in_process(api, run["id"]) == "succeeded", record(api, run["id"]).error
    data = record(api, run["id"]).result["provenance"]["data"]
    assert data["rows"] == 60
    assert data["source"]["dataset"]["sha256"] == dataset["sha256"]
    assert "uploaded dataset 'digits': 60 images in 10 classes" in data["source"]["description"]

    # A stored file that no longer has its version's bytes is refused, not trained on.
    store = open_store(None, api.settings.data_dir)
    store.write(datasets.dataset_key("default", dataset["sha256"], "image-folder"), digits_zip(5))
    cached = api.settings.data_dir / "dataset-cache" / dataset["sha256"]
    assert (cached / "images" / "0" / "1.png").is_file()
    for path in sorted(cached.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    cached.rmdir()
    again = api.http.post("/api/v1/experiments", json={"app": "image-classifier", "config": config}).json()
    assert run_in_process(api, again["id"]) == "failed"
    assert "changed in the artifact store" in record(api, again["id"]).error
