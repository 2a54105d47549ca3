# syntax=docker/dockerfile:1.7
# The collector image. Build from the repository root:
#
#   docker build -f docker/collector.Dockerfile -t lambdalytics-collector .
#
# With a MaxMind licence key the build fetches GeoLite2-City into the image. The key is a
# BuildKit secret: it is never in a layer, the image history or a build argument.
#
#   MAXMIND_LICENSE_KEY=... docker build -f docker/collector.Dockerfile \
#       --secret id=maxmind_license_key,env=MAXMIND_LICENSE_KEY -t lambdalytics-collector .
#
# Without one the image runs with no geo fields (one start-up warning); a database can also
# be mounted at run time and named by LAMBDALYTICS_GEOIP_DATABASE.
#
# The three images' conventions (docs/docker.md): dependencies from the lock
# (requirements/*.txt, every file's hash checked) into a virtualenv at /opt/venv that the
# final stage copies whole; the user 10001 (infra/images.py UID), never root; nothing written
# outside /tmp (ECS runs them on a read-only root); a HEALTHCHECK; no ENTRYPOINT (ECS and
# compose give the command: infra/images.py COMMANDS).

FROM python:3.11-slim-bookworm AS geoip
# apt versions are not pinned: Debian's security archive replaces them, the base tag pins
# the release
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /geoip
RUN --mount=type=secret,id=maxmind_license_key,required=false \
    if [ -s /run/secrets/maxmind_license_key ]; then \
      curl -fsSL -G "https://download.maxmind.com/app/geoip_download" \
        --data-urlencode "edition_id=GeoLite2-City" --data-urlencode "suffix=tar.gz" \
        --data-urlencode "license_key@/run/secrets/maxmind_license_key" -o city.tar.gz \
      && tar -xzf city.tar.gz --strip-components=1 --wildcards '*/GeoLite2-City.mmdb' \
      && rm city.tar.gz; \
    else \
      echo "no MaxMind licence key: the image has no GeoIP database"; \
    fi

# The collector's hot modules compiled with mypyc and its native payload scan built with Cython
# (setup.py's option LAMBDALYTICS_COMPILE): the compiler, mypy, Cython and the type stubs stay
# in this stage (requirements/compile.txt), the image gets the runtime lock and the wheel. The
# collector logs "compiled (15 hot modules with mypyc, 1 in Cython)" at start-up.
FROM python:3.11-slim-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements/compile.txt requirements/runtime.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/compile.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --require-hashes \
        -r requirements/runtime.txt
COPY pyproject.toml setup.py README.md ./
COPY lambdalytics ./lambdalytics
COPY collector ./collector
RUN LAMBDALYTICS_COMPILE=1 pip wheel --no-cache-dir --no-build-isolation --no-deps -w /wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /wheels/lambdalytics-*.whl

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 lambdalytics \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp lambdalytics
COPY --from=build /opt/venv /opt/venv
COPY --from=geoip /geoip /usr/share/GeoIP
ENV PATH=/opt/venv/bin:$PATH \
    LAMBDALYTICS_HOST=0.0.0.0 \
    LAMBDALYTICS_PORT=8080 \
    LAMBDALYTICS_GEOIP_DATABASE=/usr/share/GeoIP/GeoLite2-City.mmdb \
    LAMBDALYTICS_TRUSTED_PROXY_HOPS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# uvicorn drains on SIGTERM (in-flight requests, then the queue into Kinesis)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "collector"]
