"""A deployed AzuraForge checked from outside, through its front door (the dashboard's nginx): the UI and its
client-side routes, the API's auth, health and apps, one experiment run to the end, its report and an image.

    python3 deploy-tests/deploycheck/smoke.py --url http://localhost:8080 --token "$AZURAFORGE_API_TOKEN" \\
        --app image-classifier --config '{"epochs": 1}'

Standard library only, so it runs wherever python3 does. Prints one line per check; exit code 0 when all pass.
The experiment it starts is deleted at the end.
"""

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled")
APP_WAIT_S = 120
"""How long a fresh deployment gets for a worker to publish the app (workers do as they start)."""


class SmokeCheckError(RuntimeError):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Site:
    url: str
    token: str | None

    def call(self, path: str, *, method: str = "GET", payload: object = None, auth: bool = True) -> Response:
        headers = {"Accept": "*/*"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url.rstrip("/") + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(answer.status, answer.headers.get_content_type(), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers.get_content_type(), error.read())


def expect(condition: bool, what: str, response: Response | None = None) -> None:
    if not condition:
        detail = f" (HTTP {response.status}, {response.content_type}: {response.body[:300]!r})" if response else ""
        raise SmokeCheckError(f"{what}{detail}")
    print(f"ok: {what}", flush=True)


def check_dashboard(site: Site) -> None:
    home = site.call("/", auth=False)
    expect(home.status == 200 and b'<div id="root">' in home.body, "GET / serves the dashboard", home)
    route = site.call("/experiments/smoke-check", auth=False)
    expect(route.body == home.body, "a client-side route is answered with the dashboard's index.html", route)


def check_api(site: Site, app: str) -> None:
    if site.token:
        refused = site.call("/api/v1/health", auth=False)
        expect(refused.status == 401, "the API refuses a call without the token", refused)
    health = site.call("/api/v1/health")
    expect(
        health.status == 200 and health.json()["status"] == "ok",
        "the API reaches Redis and the database",
        health,
    )
    # Workers publish their apps as they start, so a fresh deployment may answer before any has.
    deadline = time.monotonic() + APP_WAIT_S
    while True:
        apps = site.call("/api/v1/apps")
        names = sorted(entry["name"] for entry in apps.json()) if apps.status == 200 else []
        if app in names or apps.status != 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    expect(app in names, f"app {app!r} is published by a worker (published: {', '.join(names) or 'none'})", apps)


def run_experiment(site: Site, app: str, config: dict[str, Any], timeout_s: float) -> str:
    created = site.call("/api/v1/experiments", method="POST", payload={"app": app, "config": config, "name": "smoke"})
    expect(created.status == 202, f"POST /api/v1/experiments queues a run of {app}", created)
    experiment_id: str = created.json()["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        record = site.call(f"/api/v1/experiments/{experiment_id}").json()
        if record["status"] in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise SmokeCheckError(f"experiment {experiment_id} still {record['status']} after {timeout_s:.0f} s")
        time.sleep(0.25)
    ended = "" if record["status"] == "succeeded" else f" (it ended {record['status']}: {record['error']})"
    expect(not ended, f"a worker ran it to the end{ended}")
    return experiment_id


def check_report(site: Site, experiment_id: str) -> None:
    report = site.call(f"/api/v1/experiments/{experiment_id}/report")
    expect(report.status == 200 and report.content_type == "text/markdown", "its report downloads", report)
    image = re.search(r"\]\((images/[^)\s]+\.png)\)", report.body.decode())
    if image is None:
        raise SmokeCheckError("the report links no images/*.png")
    picture = site.call(f"/api/v1/experiments/{experiment_id}/artifacts/{image[1]}")
    expect(picture.status == 200 and picture.content_type == "image/png", f"its image {image[1]} downloads", picture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the dashboard's address, e.g. http://localhost:8080")
    parser.add_argument("--token", help="AZURAFORGE_API_TOKEN, when the API has one")
    parser.add_argument("--app", required=True, help="the app to run, e.g. image-classifier")
    parser.add_argument("--config", default="{}", help="the run's config as JSON, e.g. '{\"epochs\": 1}'")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the run may take (default 600)")
    args = parser.parse_args(argv)
    site = Site(args.url, args.token)
    try:
        check_dashboard(site)
        check_api(site, args.app)
        experiment_id = run_experiment(site, args.app, json.loads(args.config), args.timeout)
        check_report(site, experiment_id)
        deleted = site.call(f"/api/v1/experiments/{experiment_id}", method="DELETE")
        expect(deleted.status == 204, "the run and its artifacts are deleted", deleted)
    except SmokeCheckError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
