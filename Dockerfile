# One image for every process of the platform: the migrate job, the Dagster code server,
# webserver and daemon, the API and the event generator (docker-compose.yml picks the
# command). Build with `docker compose build` or `docker build -t analytics-platform .`.
#
# Plain Dockerfile syntax (no BuildKit-only mounts), so the classic builder of
# docker-compose 1.x builds it too.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# uv comes from PyPI through pip, pinned like every other dependency.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Extra `uv sync` flags. The containers never start pgserver (the embedded PostgreSQL of
# tests and the demo), but the CLI still imports it on its error path, so it is kept by
# default; --build-arg UV_SYNC_ARGS="--no-install-package pgserver" leaves it out
# (34 MB, and it has no arm64 wheel) once nothing outside dev-services imports it.
ARG UV_SYNC_ARGS=""

# The locked dependencies first: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project ${UV_SYNC_ARGS}

# Then the project, installed as a wheel (not editable) so the runtime stage needs no
# source tree.
COPY README.md ./
COPY analytics_platform ./analytics_platform
RUN uv sync --frozen --no-dev --no-editable ${UV_SYNC_ARGS}

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" app \
    && useradd --system --uid "${APP_UID}" --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

# SQL_DIR: the package is installed in site-packages, so the SQL files cannot be found
# relative to it. DAGSTER_HOME holds dagster.yaml; its storage/ (compute logs) is a
# volume shared by the Dagster containers.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SQL_DIR=/app/sql \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /app

# Owned by root and read-only for the app user. Dagster writes into DAGSTER_HOME (logs/,
# storage/), so that directory is the app user's, but not the dagster.yaml in it.
COPY --from=build /app/.venv /app/.venv
COPY sql ./sql
COPY deploy/workspace.yaml ./workspace.yaml
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
# The archive's mount point exists owned by the app user, so a fresh named volume mounted
# there is writable (Docker copies the ownership on first mount).
RUN mkdir -p "${DAGSTER_HOME}/storage" /var/lib/analytics-platform/archive \
    && chown app:app "${DAGSTER_HOME}" "${DAGSTER_HOME}/storage" \
        /var/lib/analytics-platform /var/lib/analytics-platform/archive

USER app

# 3000 Dagster webserver, 4000 Dagster code server (gRPC), 8000 API. Health checks are
# per service in docker-compose.yml, since one image plays several roles.
EXPOSE 3000 4000 8000

CMD ["analytics-platform", "--help"]
