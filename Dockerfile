# voiceid-reconciler as a container image (see docs/deployment.md).
#
#   DOCKER_BUILDKIT=1 docker build -t voiceid-reconciler:0.1.0 .   (BuildKit: RUN --mount)
#   docker run --rm -v "$PWD/specs:/specs:ro" voiceid-reconciler:0.1.0 validate /specs
#
# Stage 1 fetches the wheel of every dependency at the version and hash requirements.lock pins
# (pip --require-hashes: a file whose hash the lock does not list fails the build) and builds
# the project's own wheel; stage 2 installs them from those wheels alone (--no-index), so the
# image holds no compiler, no build backend, no pip cache and no source tree. Refreshing the
# lock: docs/deployment.md. The base is pinned to an exact patch release; pin its digest too
# (python:3.11.14-slim-bookworm@sha256:...) when your registry policy asks for it.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock ./
# --no-deps: the lock is the whole closure (tests/test_deploy.py), and pip's hash mode cannot
# pin a dependency asked for with extras (githubkit's hishel[async,httpx]); pip check below
# proves nothing is missing.
RUN python3 -m pip wheel --no-cache-dir --require-hashes --only-binary=:all: --no-deps \
        --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY reconciler/ reconciler/
# the demo's example specs, packaged into the wheel (pyproject.toml's force-include)
COPY specs/ specs/
RUN python3 -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="voiceid-reconciler" \
      org.opencontainers.image.description="A declarative GitOps reconciler for Amazon Connect Voice ID batch jobs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A fixed, numeric, unprivileged identity: Kubernetes' runAsNonRoot can only verify a numeric
# USER, and the manifests in deploy/kubernetes/ run as the same 10001.
RUN groupadd --system --gid 10001 reconciler \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /work --no-create-home --shell /usr/sbin/nologin reconciler \
 && install -d -o 10001 -g 10001 -m 0755 /work /specs
# A virtual environment of its own: the base's Python may be "externally managed" (PEP 668:
# Debian's python3), and the product never mixes with the base's packages either way.
ENV PATH=/opt/venv/bin:$PATH
# The wheels are bind-mounted from the build stage for this one step: they never land in a layer.
# The dependencies go in by the lock's hashes; the project without its own resolution
# (--no-deps), and pip check proves the lock holds everything it requires.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels \
        --require-hashes --no-deps -r /tmp/requirements.lock \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps /wheels/voiceid_reconciler-*.whl \
 && /opt/venv/bin/pip check \
 && voiceid-reconciler --version
USER 10001:10001
WORKDIR /work
# Specs are mounted at /specs (or baked into a derived image: see docs/deployment.md).
ENTRYPOINT ["voiceid-reconciler"]
CMD ["apply", "/specs"]
