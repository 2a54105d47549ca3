# syntax=docker/dockerfile:1.7
# The dashboard image: the reports API, realtime, share links, the admin API and the web page
# (`python -m dashboard` on 8081). Build from the repository root:
#
#   docker build -f docker/dashboard.Dockerfile -t lambdalytics-dashboard .
#
# Conventions shared by the three images (docs/docker.md): dependencies from the lock
# (requirements/runtime.txt, every file's hash checked) into /opt/venv, copied whole into the
# final stage; user 10001, never root; writes only under /tmp (the DuckDB engine's copy of the
# archive: LAMBDALYTICS_DASHBOARD_CACHE_DIR, a temporary directory by default); a
# HEALTHCHECK; no ENTRYPOINT.

# The web page's assets. There is nothing to compile or bundle: the page is plain ES modules
# and one vendored library (uPlot, copied from its npm tarball, with its sha256 recorded).
# This stage checks them (the vendored files' digests, every reference and import resolves:
# docker/check_static.py) and the wheel is built from its output, so an image never ships a
# page that references a missing or altered file.
FROM python:3.11-slim-bookworm AS static
WORKDIR /static
COPY dashboard/static ./
COPY docker/check_static.py /usr/local/bin/check_static.py
RUN python /usr/local/bin/check_static.py /static

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
COPY --from=static /static ./dashboard/static
RUN pip wheel --no-cache-dir --no-build-isolation --no-deps -w /wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /wheels/lambdalytics-*.whl

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 lambdalytics \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp lambdalytics
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    LAMBDALYTICS_ADMIN_HOST=0.0.0.0 \
    LAMBDALYTICS_ADMIN_PORT=8081 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "dashboard"]
