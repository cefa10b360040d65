"""The request bodies of MLflow's tracking API, as its client sends them (proto3 JSON with the field names of
its .proto files; 64-bit integers may arrive as strings). Unknown fields are ignored, as MLflow's server does.

Limits are MLflow's (mlflow/utils/validation.py), so a request its server refuses is refused here too."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from azuraforge_api.schemas import storable

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20_000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_RESULTS = 50_000
INT64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]

ViewType = Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: object) -> object:
        storable(data)
        return data


class KeyValue(Body):
    key: str
    value: str = ""


class CreateExperiment(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPERIMENT_NAME_LENGTH)]
    artifact_location: str | None = None
    tags: list[KeyValue] = []


class ExperimentId(Body):
    experiment_id: str


class UpdateExperiment(ExperimentId):
    new_name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPERIMENT_NAME_LENGTH)]


class SetExperimentTag(ExperimentId):
    key: str
    value: str = ""


class DeleteExperimentTag(ExperimentId):
    key: str


class SearchExperiments(Body):
    max_results: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: ViewType = "ACTIVE_ONLY"


class RunId(Body):
    run_id: str = ""
    run_uuid: str = ""

    @property
    def id(self) -> str:
        return self.run_id or self.run_uuid


class CreateRun(Body):
    experiment_id: str = "0"
    user_id: str = ""
    start_time: INT64 | None = None
    run_name: Annotated[str, StringConstraints(max_length=200)] = ""
    tags: list[KeyValue] = []


class UpdateRun(RunId):
    status: RunStatus | None = None
    end_time: INT64 | None = None
    run_name: Annotated[str, StringConstraints(max_length=200)] | None = None


class SearchRuns(Body):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: ViewType = "ACTIVE_ONLY"
    max_results: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 1000
    order_by: list[str] = []
    page_token: str | None = None


class Metric(Body):
    key: str
    value: float
    timestamp: INT64 = Field(ge=0)
    step: INT64 = 0
    model_id: str | None = None
    """Links the value to a logged model (MLflow 3); the value is the run's all the same."""


class LogMetric(RunId, Metric):
    pass


class LogParam(RunId, KeyValue):
    pass


class SetTag(RunId, KeyValue):
    pass


class DeleteTag(RunId):
    key: str


class LogBatch(RunId):
    metrics: list[Metric] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class Dataset(Body):
    model_config = ConfigDict(extra="allow")

    name: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    digest: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    source_type: str = ""
    source: str = ""
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInput(Body):
    tags: list[KeyValue] = []
    dataset: Dataset


class LogInputs(RunId):
    datasets: list[DatasetInput] = Field(default=[], max_length=1000)


LoggedModelStatus = Literal["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"]


class CreateLoggedModel(Body):
    experiment_id: str
    name: Annotated[str, StringConstraints(max_length=MAX_EXPERIMENT_NAME_LENGTH)] = ""
    model_type: Annotated[str, StringConstraints(max_length=200)] = ""
    source_run_id: str = ""
    params: list[KeyValue] = Field(default=[], max_length=MAX_PARAMS_TAGS_PER_BATCH)
    tags: list[KeyValue] = Field(default=[], max_length=MAX_PARAMS_TAGS_PER_BATCH)


class FinalizeLoggedModel(Body):
    status: LoggedModelStatus


class LoggedModelTags(Body):
    tags: list[KeyValue] = Field(default=[], max_length=MAX_PARAMS_TAGS_PER_BATCH)


class LoggedModelParams(Body):
    params: list[KeyValue] = Field(default=[], max_length=MAX_PARAMS_TAGS_PER_BATCH)


class LoggedModelOrder(Body):
    field_name: str
    ascending: bool = True


class SearchLoggedModels(Body):
    experiment_ids: list[str] = []
    filter: str | None = None
    max_results: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 100
    order_by: list[LoggedModelOrder] = []
    page_token: str | None = None


class ModelOutput(Body):
    model_id: str
    step: INT64 = 0


class LogOutputs(Body):
    run_id: str
    models: list[ModelOutput] = Field(default=[], max_length=MAX_ENTITIES_PER_BATCH)
