# syntax=docker/dockerfile:1
# One image for both services: `qahub-notify api` (default) and `qahub-notify relay`.
#   docker build -t qahub-notify .     # --build-arg REVISION=$(git rev-parse HEAD) labels it
#   docker run qahub-notify                                   # the API on :8000
#   docker run qahub-notify qahub-notify relay --host 0.0.0.0 # a relay on :8001

# ---- build: resolve from uv.lock into /app/.venv (no dev tools, no editable installs)
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
COPY contracts/pyproject.toml contracts/
COPY services/notifications-api/pyproject.toml services/notifications-api/
COPY services/stream-relay/pyproject.toml services/stream-relay/
COPY clients/python/pyproject.toml clients/python/README.md clients/python/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace
# Then the workspace's own packages (their static files and migrations are package data).
COPY src/ src/
COPY contracts/ contracts/
COPY services/ services/
COPY clients/python/ clients/python/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --compile-bytecode

# ---- runtime: the virtual environment only, as an unprivileged user
FROM python:3.11-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="qahub-notify" \
      org.opencontainers.image.description="QaHub Notifications: notifications-api (qahub-notify api) and stream-relay (qahub-notify relay)" \
      org.opencontainers.image.vendor="QaHub" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
RUN groupadd --system --gid 10001 qahub \
 && useradd --system --uid 10001 --gid qahub --home-dir /app --create-home qahub \
 && install -d -o qahub -g qahub /app/relay-state
COPY --from=build --chown=qahub:qahub /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER qahub
EXPOSE 8000 8001
# Readiness of whichever service the container runs (api :8000, relay :8001, dev :3001,
# or the --port it was given): the check finds the process and asks its /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-m", "qahub_notify.healthcheck"]
STOPSIGNAL SIGTERM
CMD ["qahub-notify", "api", "--host", "0.0.0.0", "--port", "8000"]
