"""The uploaded dataset a run's config names, fetched from the artifact store into this worker's cache."""

from typing import Any, cast

from sqlalchemy.orm import Session, sessionmaker

from azuraforge_common.artifacts import ArtifactStore
from azuraforge_common.datasets import DatasetError, DatasetKind, materialize
from azuraforge_common.models import DATASET_ID_FIELD, Dataset
from azuraforge_common.settings import Settings
from azuraforge_learner.datasets import LocalDataset
from azuraforge_learner.record import DatasetRef

CACHE_FOLDER = "dataset-cache"
"""Under the data directory: one folder per dataset version (its SHA-256), reused by later runs."""


def local_dataset(
    settings: Settings, store: ArtifactStore, sessions: sessionmaker[Session], project_id: str, config: dict[str, Any]
) -> LocalDataset | None:
    """The dataset `config` names, on this disk and checked against its hash; None if it names none."""
    dataset_id = config.get(DATASET_ID_FIELD)
    if dataset_id is None:
        return None
    with sessions() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.project_id != project_id:
            raise DatasetError(
                f"dataset {dataset_id} is not in project {project_id!r} (was it deleted?); upload it and start a "
                "new run with its id"
            )
        ref = DatasetRef(id=dataset.id, name=dataset.name, sha256=dataset.sha256)
        kind = cast(DatasetKind, dataset.kind)
    path = materialize(store, project_id, ref.sha256, kind, settings.data_dir / CACHE_FOLDER)
    return LocalDataset(ref, kind, path)
