# syntax=docker/dockerfile:1.7
# compose.yaml's local-only services, in one image: the embedded AWS (moto server: DynamoDB,
# S3, Secrets Manager), the stream (kinesalite, the Kinesis of `lambdalytics local`), and the
# one-shot `lambdalytics compose bootstrap | welcome | demo`. Never deployed: infra/ builds
# the collector, archiver and dashboard images only. Built by `docker compose build`.
#
# The same conventions as the three service images (docs/docker.md): the lock
# (requirements/local.txt: the runtime plus the local extra, moto[server] and mmdb-writer,
# every file's hash checked) into /opt/venv; user 10001; writes only under /tmp.

# kinesalite from the npm registry at the version lambdalytics.kinesalite checks (Makefile's
# KINESALITE), scripts off as `make setup` installs it (its optional leveldown is never built:
# the stream is kept in memory)
FROM node:20-bookworm-slim AS kinesalite
RUN npm install --prefix /opt/npm --no-save --no-package-lock --no-audit --no-fund \
    --ignore-scripts kinesalite@3.3.3

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY requirements/build.txt requirements/local.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --require-hashes \
        -r requirements/local.txt
COPY pyproject.toml setup.py README.md ./
COPY lambdalytics ./lambdalytics
COPY collector ./collector
COPY archiver ./archiver
COPY dashboard ./dashboard
RUN pip wheel --no-cache-dir --no-build-isolation --no-deps -w /wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /wheels/lambdalytics-*.whl

FROM python:3.11-slim-bookworm
# node for kinesalite: Debian's (apt versions are not pinned: the security archive replaces
# them; the base tag pins the release)
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 lambdalytics \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp lambdalytics
COPY --from=kinesalite /opt/npm/node_modules /opt/npm/node_modules
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    LAMBDALYTICS_KINESALITE_DIR=/opt/npm/node_modules/kinesalite \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
# one image, several services: each compose service has its own check (compose.yaml)
HEALTHCHECK NONE
CMD ["lambdalytics", "compose", "welcome"]
