# syntax=docker/dockerfile:1
# An AzuraForge worker: a Celery worker that runs one experiment at a time (solo pool), on the CPU.
# Build from the repository root: docker build -f docker/worker.Dockerfile -t azuraforge/worker .
# Scale with `docker compose up -d --scale worker=N`, or run it on other hosts (docs/deployment.md).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock VERSION LICENSE ./
COPY azuraforge-core/ azuraforge-core/
COPY azuraforge-learner/ azuraforge-learner/
COPY azuraforge-common/ azuraforge-common/
COPY azuraforge-worker/ azuraforge-worker/
COPY azuraforge-app-stock-predictor/ azuraforge-app-stock-predictor/
COPY azuraforge-app-weather-forecaster/ azuraforge-app-weather-forecaster/
COPY azuraforge-app-image-classifier/ azuraforge-app-image-classifier/
# Third-party versions come from requirements.lock, the lock the test suite installs too (its pins without the
# hashes: pip cannot hash-check a set that also holds folders).
RUN sed -e '/--hash=/d' -e 's/ *\\$//' requirements.lock >constraints.txt \
    && pip install --no-cache-dir --constraint constraints.txt \
    ./azuraforge-core ./azuraforge-learner "./azuraforge-common[postgres]" ./azuraforge-worker \
    ./azuraforge-app-stock-predictor ./azuraforge-app-weather-forecaster ./azuraforge-app-image-classifier

FROM python:3.11.14-slim-bookworm
# The same uid in the api and worker images: both write the shared artifacts volume.
RUN groupadd --system --gid 10001 azuraforge \
    && useradd --system --uid 10001 --gid azuraforge --create-home --home-dir /home/azuraforge azuraforge \
    && install -d -o azuraforge -g azuraforge /var/lib/azuraforge /var/cache/azuraforge
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    AZURAFORGE_DATA_DIR=/var/lib/azuraforge \
    AZURAFORGE_CACHE_DIR=/var/cache/azuraforge
USER 10001:10001
WORKDIR /home/azuraforge
# The command azuraforge_common.worker.worker_command builds for `azuraforge up`; the Celery name is
# worker@<container hostname>, so every scaled replica has its own.
CMD ["python", "-m", "azuraforge_worker", "--name=worker", "--loglevel=INFO"]
