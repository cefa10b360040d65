"""Predictions between the API and the model server, over Redis.

The API pushes a request onto one list; a model-server thread pops it, predicts, and pushes the reply onto the
request's own list, which the API waits on. A request names its model by where the platform keeps it (a
registry version or an experiment, by id), never by a path, and carries its deadline: a request nobody waits
for any more is dropped, not computed.
"""

import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from redis.asyncio import Redis as AsyncRedis

from azuraforge_common.models import new_id
from azuraforge_common.names import PREFIX

REQUESTS = f"{PREFIX}:serve:requests"
REPLY_TTL_S = 60
POLL_S = 2.0
"""Longest single wait on Redis: the clients' connections keep their socket timeouts."""

ModelSource = Literal["registry", "experiment"]
ReplyStatus = Literal["ok", "invalid", "unavailable", "failed"]
"""ok: `output` holds the prediction; invalid: the input is wrong (the detail says how); unavailable: this model
cannot be served here (app not installed, files missing); failed: the model server hit an unexpected error."""


def reply_key(request_id: str) -> str:
    return f"{PREFIX}:serve:reply:{request_id}"


class ModelRef(BaseModel):
    source: ModelSource
    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The model version's or the experiment's id.")
    app: str
    weights_sha256: str | None = Field(
        default=None, description="Known for registry versions; the model server's cache is keyed by it."
    )


class ServeRequest(BaseModel):
    id: str
    model: ModelRef
    input: dict[str, Any]
    deadline: float = Field(description="Unix time after which nobody waits for the answer.")


class ServeReply(BaseModel):
    status: ReplyStatus
    output: dict[str, Any] | None = None
    detail: str | None = None


async def ask(client: AsyncRedis, model: ModelRef, payload: dict[str, Any], timeout_s: float) -> ServeReply | None:
    """The model server's reply, or None when none came within `timeout_s` (the request is then withdrawn)."""
    request = ServeRequest(id=new_id(), model=model, input=payload, deadline=time.time() + timeout_s)
    message = request.model_dump_json()
    await client.lpush(REQUESTS, message)
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        # BLPOP counts its timeout in whole seconds on old servers; at least 1 s, at most POLL_S.
        popped = await client.blpop([reply_key(request.id)], timeout=max(1.0, min(remaining, POLL_S)))
        if popped is not None:
            return ServeReply.model_validate_json(popped[1])
    await client.lrem(REQUESTS, 1, message)
    return None
