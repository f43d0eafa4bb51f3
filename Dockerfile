# fixuser's own image: fixuser and git, run as a non-root user that fixuser itself created
# (`fixuser check Dockerfile` calls this file compliant; tests/test_own_image.py builds it).
#
#   docker build -t fixuser .
#   docker run --rm -v "$PWD:/src" fixuser check
#   docker run --rm -v "$PWD:/src" fixuser fix --diff
#
# BASE_IMAGE is any Debian-family image with Python 3.11+ and `python3 -m venv`. CI has no
# registry and passes a local one: --build-arg BASE_IMAGE=localhost/fixuser-ci-python:3.11.
# PIP_OPTIONS are pip's, for a build without PyPI: `pip wheel . setuptools wheel -w wheels`,
# then --build-arg PIP_OPTIONS="--no-index --find-links /tmp/fixuser/wheels".
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_OPTIONS=""
COPY . /tmp/fixuser
RUN python3 -m venv /opt/fixuser \
 && /opt/fixuser/bin/pip install --no-cache-dir --disable-pip-version-check $PIP_OPTIONS /tmp/fixuser

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="fixuser" \
      org.opencontainers.image.description="Make containers stop running as root (CIS Docker Benchmark 4.1)" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --gid 10001 fixuser \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /home/fixuser --shell /usr/sbin/nologin fixuser \
 && mkdir -p /home/fixuser \
 && chown 10001:10001 /home/fixuser
# git for fix --commit and batch (installed unless the base has it). A checkout mounted from
# the host belongs to another user, which git refuses ("dubious ownership") unless it is
# told every directory is safe.
RUN if ! command -v git >/dev/null; then \
        apt-get update \
     && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
     && rm -rf /var/lib/apt/lists/*; \
    fi \
 && git config --system --add safe.directory '*'
RUN mkdir -p /src \
 && chown 10001:10001 /src
# CIS Docker Benchmark 4.1: run as a non-root user
USER 10001:10001
# The virtual environment stays root's: the user runs fixuser, it cannot change it.
COPY --from=build /opt/fixuser /opt/fixuser
ENV PATH=/opt/fixuser/bin:$PATH
WORKDIR /src
ENTRYPOINT ["fixuser"]
CMD ["--help"]
