# syntax=docker/dockerfile:1
# The AzuraForge API: applies the database migrations, then serves REST and WebSocket with uvicorn on 8000.
# Build from the repository root: docker build -f docker/api.Dockerfile -t azuraforge/api .
# The apps are installed too: the API validates configs against their schemas and runs their predict.

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
COPY azuraforge-api/ azuraforge-api/
COPY azuraforge-app-stock-predictor/ azuraforge-app-stock-predictor/
COPY azuraforge-app-weather-forecaster/ azuraforge-app-weather-forecaster/
COPY azuraforge-app-image-classifier/ azuraforge-app-image-classifier/
# Third-party versions come from requirements.lock, the lock the test suite installs too (its pins without the
# hashes: pip cannot hash-check a set that also holds folders).
RUN sed -e '/--hash=/d' -e 's/ *\\$//' requirements.lock >constraints.txt \
    && pip install --no-cache-dir --constraint constraints.txt \
    ./azuraforge-core ./azuraforge-learner "./azuraforge-common[postgres]" ./azuraforge-worker ./azuraforge-api \
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
    AZURAFORGE_CACHE_DIR=/var/cache/azuraforge \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000
USER 10001:10001
WORKDIR /home/azuraforge
EXPOSE 8000
CMD ["sh", "-c", "azuraforge migrate && exec uvicorn --factory azuraforge_api.app:create_app --ws-per-message-deflate false --proxy-headers --forwarded-allow-ips='*'"]
