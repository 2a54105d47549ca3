# syntax=docker/dockerfile:1.7
# The archiver image: the Kinesis consumer (`python -m archiver`, the ECS archiver service) and
# the compactor (`lambdalytics compact --athena`, the scheduled ECS task), so it has DuckDB and
# pyarrow (the Parquet lake) and the dashboard package (compact --athena switches the Athena
# views through the dashboard's Athena engine). Build from the repository root:
#
#   docker build -f docker/archiver.Dockerfile -t lambdalytics-archiver .
#
# Conventions shared by the three images (docs/docker.md): dependencies from the lock
# (requirements/runtime.txt, every file's hash checked) into /opt/venv, copied whole into the
# final stage; user 10001, never root; writes only under /tmp (the compactor's DuckDB spills
# into its working directory, /tmp); a HEALTHCHECK; no ENTRYPOINT.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --require-hashes \
        -r requirements/runtime.txt
COPY pyproject.toml setup.py README.md ./
COPY lambdalytics ./lambdalytics
COPY archiver ./archiver
COPY dashboard ./dashboard
RUN pip wheel --no-cache-dir --no-build-isolation --no-deps -w /wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /wheels/lambdalytics-*.whl

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 lambdalytics \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp lambdalytics
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
# The worker serves no port: healthy while its `python -m archiver` process runs, neither
# stopped nor a zombie (docker/process_health.py). The compactor's one-shot runs turn the
# check off (compose.yaml); ECS has no check for either (infra/images.py).
COPY docker/process_health.py /opt/health/process_health.py
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "/opt/health/process_health.py", "archiver"]
# SIGTERM: flush, checkpoint, release the leases (ECS allows 120 s)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "archiver"]
