"""The folder a run writes its files into, and how they reach the artifact store.

With a local store the run writes straight into the store's directory. With a bucket it writes into a scratch
folder on this host (DATA_DIR/runs/<id>), and an uploader copies each file to the store as it appears or changes
(every UPLOAD_INTERVAL_S, and once more when the run ends), so the report, images, weights, logs and checkpoints
reach the API while the run goes on. A failed upload is retried by boto3, then again at the next pass; the
scratch folder is removed once everything is stored.
"""

import logging
import shutil
import threading
from pathlib import Path
from types import TracebackType

from azuraforge_common.artifacts import ArtifactStore, run_key
from azuraforge_learner.artifacts import list_files

log = logging.getLogger(__name__)

UPLOAD_INTERVAL_S = 2.0
FINAL_UPLOAD_ATTEMPTS = 5
"""Passes over the folder when the run ends, each after boto3's own retries, before the upload is given up."""


class RunFolder:
    """`with RunFolder(store, scratch_root, experiment_id) as folder:` run into `folder.path`; leaving the block
    stores every file (raising the last upload error if some could not be stored)."""

    def __init__(self, store: ArtifactStore, scratch_root: Path, experiment_id: str) -> None:
        self.store = store
        self.prefix = run_key(experiment_id)
        local = store.local_dir(self.prefix)
        self.uploads = local is None
        self.path = local if local is not None else scratch_root / "runs" / experiment_id
        self._stored: dict[str, tuple[int, int]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._upload_while_running, name="azuraforge-upload", daemon=True)

    def __enter__(self) -> "RunFolder":
        if self.uploads:
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.uploads:
            return
        self._stopped.set()
        self._thread.join()
        self.finish()

    def finish(self) -> None:
        """Stores what is not stored yet; removes the scratch folder once all is."""
        for attempt in range(1, FINAL_UPLOAD_ATTEMPTS + 1):
            try:
                self.upload_changed()
                break
            except Exception as exc:
                if attempt == FINAL_UPLOAD_ATTEMPTS:
                    raise
                log.warning("uploading %s failed (%s); pass %d of %d", self.prefix, exc, attempt, FINAL_UPLOAD_ATTEMPTS)
                self._stopped.wait(attempt)
        shutil.rmtree(self.path, ignore_errors=True)

    def upload_changed(self) -> int:
        """Uploads every file new or changed (size or modification time) since its last upload; returns how many."""
        if not self.path.is_dir():
            return 0
        uploaded = 0
        for relative in list_files(self.path):
            file = self.path / relative
            try:
                stat = file.stat()
            except FileNotFoundError:
                continue  # replaced between listing and now: the next pass sees the new one
            version = (stat.st_size, stat.st_mtime_ns)
            if self._stored.get(relative) == version:
                continue
            self.store.upload(f"{self.prefix}{relative}", file)
            self._stored[relative] = version
            uploaded += 1
        return uploaded

    def _upload_while_running(self) -> None:
        while not self._stopped.wait(UPLOAD_INTERVAL_S):
            try:
                self.upload_changed()
            except Exception as exc:  # the store is unreachable: the next pass tries again
                log.warning("uploading %s: %s; trying again in %.0f s", self.prefix, exc, UPLOAD_INTERVAL_S)
