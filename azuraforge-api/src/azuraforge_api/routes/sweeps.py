from typing import Annotated

from fastapi import APIRouter, Header, Query, status

from azuraforge_api import services, sweeps
from azuraforge_api.auth import CallerDep
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.schemas import MAX_OFFSET, SweepCreate, SweepOut, SweepPage
from azuraforge_common.models import Sweep

router = APIRouter(prefix="/api/v1/sweeps", tags=["sweeps"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def create_sweep(
    body: SweepCreate,
    caller: CallerDep,
    platform: PlatformDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> SweepOut:
    """Start a hyperparameter search: `parallelism` trials at a time until `n_trials` have run, each an experiment
    in the sweep's batch. The space is checked against the app's config schema (422 naming the field). With an
    Idempotency-Key header, repeating the request returns the sweep the first one created instead of another."""
    caller.require(body.project, "editor", services.no_project(body.project))
    return sweeps.create(platform, session, body, idempotency_key)


@router.get("")
def list_sweeps(
    caller: CallerDep,
    platform: PlatformDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SweepPage:
    """Sweeps, newest first, with their trial counts and best trial (GET one for its trials)."""
    items, total = sweeps.page(platform, session, caller.visible_projects(), limit, offset)
    return SweepPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{sweep_id}", responses=errors(404))
def get_sweep(sweep_id: str, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> SweepOut:
    """The sweep's state, its best trial so far, and every trial with its sampled values, state and objective."""
    caller.record(session.get(Sweep, sweep_id), "viewer", sweeps.no_sweep(sweep_id))
    return sweeps.describe(platform, session, sweep_id)


@router.post("/{sweep_id}/pause", responses=errors(404, 409))
def pause_sweep(sweep_id: str, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> SweepOut:
    """Start no new trials; those queued or running go on to their end."""
    caller.record(session.get(Sweep, sweep_id), "editor", sweeps.no_sweep(sweep_id))
    return sweeps.pause(platform, session, sweep_id)


@router.post("/{sweep_id}/resume", responses=errors(404, 409))
def resume_sweep(sweep_id: str, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> SweepOut:
    caller.record(session.get(Sweep, sweep_id), "editor", sweeps.no_sweep(sweep_id))
    return sweeps.resume(platform, session, sweep_id)


@router.post("/{sweep_id}/stop", responses=errors(404, 409))
def stop_sweep(sweep_id: str, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> SweepOut:
    """End the sweep: no new trials, and its queued and running trials are cancelled."""
    caller.record(session.get(Sweep, sweep_id), "editor", sweeps.no_sweep(sweep_id))
    return sweeps.stop(platform, session, sweep_id)
