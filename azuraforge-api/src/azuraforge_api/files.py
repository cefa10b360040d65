"""The one way the API reads a run's files: from the artifact store (azuraforge_common.artifacts), by the
path the run gave them. A missing file, or a path that is not a plain relative name, is None (answer 404)."""

import mimetypes

from fastapi.responses import StreamingResponse

from azuraforge_api.platform import Platform
from azuraforge_common.artifacts import run_key


def run_files(platform: Platform, experiment_id: str) -> list[str]:
    """Every file of the run, as paths relative to its folder (what its record's artifact list holds)."""
    prefix = run_key(experiment_id)
    return [key.removeprefix(prefix) for key in platform.artifacts.keys(prefix)]


def read_artifact(platform: Platform, experiment_id: str, relative: str) -> bytes | None:
    return platform.artifacts.read(run_key(experiment_id, relative))


def has_artifact(platform: Platform, experiment_id: str, relative: str) -> bool:
    return platform.artifacts.exists(run_key(experiment_id, relative))


def artifact_response(
    platform: Platform, experiment_id: str, relative: str, media_type: str | None = None
) -> StreamingResponse | None:
    """The file streamed from the store, with its length and `media_type` (default: the type of its name)."""
    stored = platform.artifacts.open(run_key(experiment_id, relative))
    if stored is None:
        return None
    media_type = media_type or mimetypes.guess_type(relative)[0] or "application/octet-stream"
    return StreamingResponse(stored.chunks, media_type=media_type, headers={"Content-Length": str(stored.size)})
