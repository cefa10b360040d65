"""`azuraforge models list|show|register|alias|predict`: the model registry from the command line.

It talks to a running platform's REST API (azuraforge_learner.client: standard library HTTP only), so it works the
same against this machine's `azuraforge up` and a remote one, records who/when through the same code as the
dashboard, and predicts through the model server like every other client. AZURAFORGE_URL (default
http://127.0.0.1:8000) and AZURAFORGE_API_TOKEN say where and as whom, as for the tracking client.
"""

import argparse
import csv
import json
import mimetypes
import sys
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azuraforge_api.registry import URI_PATTERN
from azuraforge_learner.client import DEFAULT_URL, URL_ENV, HttpError, PlatformClient, UnreachableError

TIMEOUT_S = 120


class ApiError(Exception):
    """The API refused or could not be reached; the message says why."""


def register_models(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="the model registry: list, show, register, alias and predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help=f"the platform's URL (default ${URL_ENV}, else {DEFAULT_URL})")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    commands.add_parser("list", help="registered models").set_defaults(handler=list_models)
    show = commands.add_parser("show", help="a model (NAME) or one version (models:/NAME/3, models:/NAME@ALIAS)")
    show.add_argument("model", metavar="NAME|URI")
    show.set_defaults(handler=show_model)
    register = commands.add_parser("register", help="register a succeeded run's model as NAME's next version")
    register.add_argument("name")
    register.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    register.add_argument("--description", default="")
    register.set_defaults(handler=register_version)
    alias = commands.add_parser("alias", help="point ALIAS of NAME at VERSION (or --delete it)")
    alias.add_argument("name")
    alias.add_argument("alias")
    alias.add_argument("version", type=int, nargs="?")
    alias.add_argument("--delete", action="store_true", help="remove the alias")
    alias.set_defaults(handler=set_alias)
    predict = commands.add_parser("predict", help="predict with models:/NAME@ALIAS or models:/NAME/VERSION")
    predict.add_argument("uri", metavar="URI")
    given = predict.add_mutually_exclusive_group()
    given.add_argument("--image", type=Path, help="a PNG or JPEG to classify")
    given.add_argument("--history", type=Path, help="a CSV with a header row: the recent rows to forecast from")
    predict.add_argument("--timestamps", metavar="COLUMN", help="the history's column of ISO 8601 times")
    predict.add_argument("--horizon", type=int, help="steps to return (default: all the model forecasts)")
    predict.set_defaults(handler=predict_with)


def list_models(args: argparse.Namespace) -> int:
    return _run(args, lambda: _print_models(_call(args, "GET", "/api/v1/models")))


def show_model(args: argparse.Namespace) -> int:
    if args.model.startswith("models:/"):
        path = f"/api/v1/models/resolve?{urllib.parse.urlencode({'uri': args.model})}"
    else:
        path = f"/api/v1/models/{_quote(args.model)}"
    return _run(args, lambda: _print_json(_call(args, "GET", path)))


def register_version(args: argparse.Namespace) -> int:
    body = {"experiment_id": args.experiment_id, "description": args.description}

    def register() -> None:
        version = _call(args, "POST", f"/api/v1/models/{_quote(args.name)}/versions", body)
        print(f"registered {version['uri']} (weights sha256 {version['weights_sha256'][:12]}...)")

    return _run(args, register)


def set_alias(args: argparse.Namespace) -> int:
    path = f"/api/v1/models/{_quote(args.name)}/aliases/{_quote(args.alias)}"
    if not args.delete and args.version is None:
        print("error: give the VERSION the alias is to point at, or --delete", file=sys.stderr)
        return 2

    def change() -> None:
        if args.delete:
            _call(args, "DELETE", path)
            print(f"removed alias {args.alias} of {args.name}")
        else:
            _call(args, "PUT", path, {"version": args.version})
            print(f"models:/{args.name}@{args.alias} -> version {args.version}")

    return _run(args, change)


def predict_with(args: argparse.Namespace) -> int:
    match = URI_PATTERN.match(args.uri)
    if match is None:
        print(
            f"error: {args.uri!r} is not a model URI; write models:/NAME@ALIAS or models:/NAME/VERSION", file=sys.stderr
        )
        return 2
    name = _quote(match["name"])
    if match["alias"] is not None:
        path = f"/api/v1/models/{name}@{_quote(match['alias'])}/predict"
    else:
        path = f"/api/v1/models/{name}/versions/{match['version']}/predict"

    def predict() -> None:
        if args.image is not None:
            _print_json(_call(args, "POST", path, files={"image": args.image}))
            return
        body: dict[str, Any] = {"horizon": args.horizon}
        if args.history is not None:
            body |= _history(args.history, args.timestamps)
        _print_json(_call(args, "POST", path, body))

    return _run(args, predict)


def _history(path: Path, timestamp_column: str | None) -> dict[str, Any]:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if timestamp_column is not None and rows and timestamp_column not in rows[0]:
        raise ApiError(f"{path} has no column {timestamp_column!r}; its columns: {', '.join(rows[0])}")
    history = [{key: _number(value) for key, value in row.items() if key != timestamp_column} for row in rows]
    timestamps = [row[timestamp_column] for row in rows] if timestamp_column else None
    return {"history": history, "timestamps": timestamps}


def _number(text: str) -> float | str | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _call(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
) -> Any:
    platform = PlatformClient.from_env(args.url, timeout_s=TIMEOUT_S)
    data, media_type = None, "application/json"
    if files:
        boundary = uuid.uuid4().hex
        data, media_type = _multipart(boundary, files), f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
    try:
        text = platform.request(method, path, data, media_type)
    except HttpError as exc:
        raise ApiError(f"{method} {path} answered {exc.status}: {_detail(exc.body)}") from None
    except UnreachableError as exc:
        raise ApiError(f"{exc}; start it with `azuraforge up`, or set --url or ${URL_ENV}") from None
    return json.loads(text) if text else None


def _multipart(boundary: str, files: dict[str, Path]) -> bytes:
    parts = []
    for field, path in files.items():
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{path.name}"\r\n'
            f"Content-Type: {media_type}\r\n\r\n"
        )
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _detail(raw: bytes) -> str:
    try:
        detail = json.loads(raw)["detail"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace")[:500]
    return detail if isinstance(detail, str) else json.dumps(detail)


def _run(args: argparse.Namespace, action: Callable[[], object]) -> int:
    try:
        action()
    except (ApiError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_models(models: list[dict[str, Any]]) -> None:
    if not models:
        print("no models registered yet: azuraforge models register NAME EXPERIMENT_ID")
    for model in models:
        aliases = ", ".join(f"{a['alias']}->v{a['version']}" for a in model["aliases"]) or "no aliases"
        latest = f"{model['versions']} version(s), latest v{model['latest_version']}"
        print(f"{model['name']:<30} project {model['project_id']:<12} {latest}  ({aliases})")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
