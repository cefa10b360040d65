"""Datasets a user uploads to a project, as an app sees them.

An app declares the kinds it trains on (`BasePipeline.datasets`: a CSV with the columns it needs, or a zip of
class folders) and gets a `dataset_id` config field (`DatasetId`). The platform validates uploads against the
kind, and the worker hands the run a `LocalDataset`: the uploaded file, downloaded and checked against its
SHA-256, on the worker's disk. The run's provenance names it (`DataSource.dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from azuraforge_learner.record import DatasetRef, Record

DatasetKind = Literal["csv", "image-folder"]
DATASET_ID_FIELD = "dataset_id"

DatasetId = Annotated[
    str | None,
    Field(
        pattern=r"^[0-9a-f]{32}$",
        description="An uploaded dataset of the project (GET /api/v1/datasets) to train on instead of the "
        "built-in source; null: the source above.",
    ),
]


class DatasetSpec(Record):
    """A kind of uploaded dataset an app trains on."""

    kind: DatasetKind
    columns: list[str] = Field(
        default=[], description="For csv: the columns the CSV needs (the first one is the time column)."
    )
    description: str = ""


@dataclass(frozen=True)
class LocalDataset:
    """An uploaded dataset on this machine: `path` is the CSV file, or the folder holding one subfolder per
    class."""

    ref: DatasetRef
    kind: DatasetKind
    path: Path
