"""The commands the images run name the packages' real entry points."""

import importlib
import shlex
import sys
from importlib.metadata import entry_points

import click
import pytest
from celery import Celery
from deploycheck import dockerfile, lock, repo
from fastapi import FastAPI
from uvicorn.main import main as uvicorn_cli

import azuraforge_worker.__main__ as worker_main
import azuraforge_worker.command as worker_command_line
from azuraforge_common import names
from azuraforge_common.worker import worker_command


def image_command(service: str) -> list[str]:
    return dockerfile.stages(repo.DOCKER_DIR / f"{service}.Dockerfile")[-1].command()


def api_steps() -> list[list[str]]:
    """The api CMD is `sh -c "A && exec B"`: the steps A and B as argument lists."""
    command = image_command("api")
    assert command[:2] == ["sh", "-c"]
    assert len(command) == 3
    steps = [shlex.split(step) for step in command[2].split("&&")]
    return [step[1:] if step[0] == "exec" else step for step in steps]


def load(target: str) -> object:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def test_api_migrates_with_the_azuraforge_command_then_serves():
    migrate, serve = api_steps()
    assert migrate == ["azuraforge", "migrate"]
    assert repo.console_scripts()["azuraforge"] == "azuraforge_learner.cli:main"
    assert callable(load(repo.console_scripts()["azuraforge"]))
    registered = {entry.name: entry for entry in entry_points(group="azuraforge.commands")}
    assert registered["migrate"].value == repo.entry_points("azuraforge.commands")["migrate"]
    assert callable(registered["migrate"].load())
    assert serve[0] == "uvicorn"
    assert "--factory" in serve


def test_the_asgi_factory_builds_the_fastapi_app(monkeypatch, tmp_path):
    monkeypatch.setenv("AZURAFORGE_DATA_DIR", str(tmp_path))
    serve = api_steps()[1]
    context = uvicorn_cli.make_context("uvicorn", serve[1:])  # refuses unknown options
    assert context.params["factory"] is True
    assert context.params["proxy_headers"] is True
    factory = load(context.params["app"])
    assert callable(factory)
    assert isinstance(factory(), FastAPI)


def test_uvicorn_refuses_a_misspelt_option():
    """The option check above can fail."""
    with pytest.raises(click.NoSuchOption):
        uvicorn_cli.make_context("uvicorn", ["--factori", "azuraforge_api.app:create_app"])


def test_worker_runs_what_azuraforge_up_runs():
    assert image_command("worker") == ["python", *worker_command("worker")[1:]]


def worker_celery_arguments(monkeypatch) -> list[str]:
    """The Celery command line the image's `python -m azuraforge_worker ...` runs (argparse refuses unknown
    options)."""
    command = image_command("worker")
    assert command[1:3] == ["-m", "azuraforge_worker"]
    ran: list[str] = []
    monkeypatch.setattr(worker_command_line, "celery_main", lambda: ran.extend(sys.argv))
    monkeypatch.setattr(sys, "argv", ["azuraforge_worker", *command[3:]])
    with pytest.raises(SystemExit) as exited:
        worker_main.main()
    assert exited.value.code == 0
    return ran[1:]


def test_the_worker_command_runs_the_celery_app_with_the_experiment_task(monkeypatch):
    monkeypatch.setenv("AZURAFORGE_REDIS_URL", "redis://:secret@redis:6379/0")
    arguments = worker_celery_arguments(monkeypatch)
    assert "--hostname=worker@%h" in arguments
    assert "--pool=solo" in arguments
    app = importlib.import_module(arguments[arguments.index("-A") + 1]).app
    assert isinstance(app, Celery)
    app.loader.import_default_modules()
    assert names.RUN_EXPERIMENT_TASK in app.tasks
    assert app.conf.task_acks_late
    assert app.conf.worker_prefetch_multiplier == 1


def test_the_worker_command_refuses_a_misspelt_option(monkeypatch):
    """The option check above can fail."""
    monkeypatch.setattr(sys, "argv", ["azuraforge_worker", "--nme=worker"])
    with pytest.raises(SystemExit):
        worker_main.main()


@pytest.mark.parametrize("service", lock.PYTHON_IMAGES)
def test_every_app_is_installed_in_the_image(service):
    installed = set(lock.image_requirements(service))
    assert {repo.project_name(app) for app in repo.app_packages()} <= installed
    assert repo.app_packages(), "no azuraforge-app-* package found"
    apps = {entry.name for entry in entry_points(group="azuraforge.pipelines")}
    for app in repo.app_packages():
        assert set(repo.pyproject(app)["project"]["entry-points"]["azuraforge.pipelines"]) <= apps
