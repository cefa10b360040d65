"""Both artifact stores behave alike: the local directory, and a bucket on a real S3-protocol server (moto's)."""

import base64
import hashlib
import os
from pathlib import Path

import boto3
import pytest

from azuraforge_common.artifacts import ArtifactStore, LocalStore, S3Store, model_key, open_store, run_key
from azuraforge_common.outcome import outcome_ids, read_outcome, write_outcome


@pytest.fixture(params=["local", "s3"])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return open_store(None, tmp_path / "data")
    return open_store(request.getfixturevalue("s3_store_url"), tmp_path / "unused")


def test_what_is_written_reads_back_and_is_listed_under_its_folder(artifact_store: ArtifactStore, tmp_path: Path):
    weights = tmp_path / "model.npz"
    weights.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several read chunks
    artifact_store.write(run_key("r1", "report.md"), "# Report\nα".encode())
    artifact_store.upload(run_key("r1", "model.npz"), weights)
    artifact_store.write(run_key("r10", "report.md"), b"other run")

    assert artifact_store.read(run_key("r1", "report.md")) == "# Report\nα".encode()
    stored = artifact_store.open(run_key("r1", "model.npz"))
    assert stored is not None
    assert stored.size == weights.stat().st_size
    assert hashlib.sha256(b"".join(stored.chunks)).digest() == hashlib.sha256(weights.read_bytes()).digest()
    assert artifact_store.keys(run_key("r1")) == [run_key("r1", "model.npz"), run_key("r1", "report.md")]
    assert artifact_store.sizes(run_key("r1")) == {
        run_key("r1", "model.npz"): weights.stat().st_size,
        run_key("r1", "report.md"): len("# Report\nα".encode()),
    }
    assert artifact_store.exists(run_key("r1", "model.npz"))
    assert not artifact_store.exists(run_key("r1", "missing.png"))
    assert artifact_store.read(run_key("r1", "missing.png")) is None


def test_copy_duplicates_a_file_inside_the_store_and_stamps_tell_versions_apart(artifact_store: ArtifactStore):
    artifact_store.write(run_key("r", "model.npz"), b"weights v1")
    first = artifact_store.stamp(run_key("r", "model.npz"))
    assert artifact_store.copy(run_key("r", "model.npz"), model_key("v1", "model.npz"))
    artifact_store.write(run_key("r", "model.npz"), b"weights v2, longer")
    assert artifact_store.read(model_key("v1", "model.npz")) == b"weights v1"
    assert first is not None
    assert artifact_store.stamp(run_key("r", "model.npz")) not in (first, None)
    assert not artifact_store.copy(run_key("r", "missing.npz"), model_key("v2", "model.npz"))
    assert not artifact_store.exists(model_key("v2", "model.npz"))
    assert artifact_store.stamp(model_key("v2", "model.npz")) is None


def test_a_rewrite_replaces_the_whole_file(artifact_store: ArtifactStore):
    artifact_store.write("experiments/r/history.csv", b"epoch,loss\n1,0.5\n2,0.4\n")
    artifact_store.write("experiments/r/history.csv", b"epoch,loss\n1,0.5\n")
    assert artifact_store.read("experiments/r/history.csv") == b"epoch,loss\n1,0.5\n"


def test_delete_removes_the_folder_and_nothing_else(artifact_store: ArtifactStore):
    for run in ("a", "ab"):
        artifact_store.write(run_key(run, "report.md"), b"x")
        artifact_store.write(run_key(run, "images/loss.png"), b"png")
    artifact_store.delete(run_key("a"))
    assert artifact_store.keys(run_key("a")) == []
    assert artifact_store.keys(run_key("ab")) == [run_key("ab", "images/loss.png"), run_key("ab", "report.md")]


@pytest.mark.parametrize("key", ["../secret", "experiments/r/../../x", "/etc/passwd", "a//b", "a\\b", "a\0b", ""])
def test_keys_that_could_leave_the_store_are_missing_on_read_and_refused_on_write(
    artifact_store: ArtifactStore, key: str
):
    assert artifact_store.read(key) is None
    assert not artifact_store.exists(key)
    with pytest.raises(ValueError, match="not a relative path"):
        artifact_store.write(key, b"x")


def test_checkout_gives_the_folder_as_local_files(artifact_store: ArtifactStore):
    artifact_store.write(run_key("r", "model.npz"), b"weights")
    artifact_store.write(run_key("r", "images/loss.png"), b"png")
    with artifact_store.checkout(run_key("r")) as directory:
        assert (directory / "model.npz").read_bytes() == b"weights"
        assert (directory / "images" / "loss.png").read_bytes() == b"png"
    with artifact_store.checkout(run_key("r"), only=["model.npz", "absent.json"]) as directory:
        assert (directory / "model.npz").read_bytes() == b"weights"
        assert not (directory / "absent.json").exists()


def test_outcomes_are_found_and_read_from_the_store(artifact_store: ArtifactStore):
    write_outcome(artifact_store, "done", "succeeded", {"metrics": {"mae": 0.5}})
    artifact_store.write(run_key("other", "report.md"), b"no outcome here")
    assert outcome_ids(artifact_store) == ["done"]
    outcome = read_outcome(artifact_store, "done")
    assert outcome is not None
    assert outcome.status == "succeeded"
    assert outcome.fields == {"metrics": {"mae": 0.5}}
    assert read_outcome(artifact_store, "other") is None


def test_the_local_store_does_not_follow_a_symlink_out_of_its_directory(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    store = LocalStore(tmp_path / "data")
    (tmp_path / "data" / "experiments" / "r").mkdir(parents=True)
    (tmp_path / "data" / "experiments" / "r" / "link.txt").symlink_to(secret)
    assert store.read(run_key("r", "link.txt")) is None
    (tmp_path / "data" / "experiments" / "out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="symlink"):
        store.write(run_key("out", "planted.txt"), b"x")
    with pytest.raises(ValueError, match="symlink"):
        store.write(run_key("r", "link.txt"), b"x")
    assert not (tmp_path / "planted.txt").exists()
    assert secret.read_text() == "do not serve"


def test_s3_objects_sit_under_the_prefix_with_a_server_checked_sha256(s3_store_url: str, tmp_path: Path):
    store = open_store(s3_store_url, tmp_path)
    assert isinstance(store, S3Store)
    source = tmp_path / "metrics.json"
    source.write_bytes(b'{"mae": 0.5}')
    store.upload(run_key("r", "metrics.json"), source)
    client = boto3.client("s3")
    head = client.head_object(Bucket=store.bucket, Key="azuraforge/experiments/r/metrics.json", ChecksumMode="ENABLED")
    expected = hashlib.sha256(source.read_bytes()).digest()
    assert base64.b64decode(head["ChecksumSHA256"]) == expected
