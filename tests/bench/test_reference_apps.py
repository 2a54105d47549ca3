"""bench.serve --mode reference: the issue's reference apps answer every hit route of the
workload (GET and POST) and /healthz with 204 under the benchmark's server, and the pydantic
reference really validates the workload's hits (or its figure would be of less work)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from bench import collect_bench, hits, reference_apps
from collector.edge import ROUTES
from tests.bench.serving import bench_server


@pytest.mark.parametrize("app", sorted(reference_apps.APPS))
def test_each_reference_app_answers_the_hit_routes(tmp_path: Path, app: str) -> None:
    with bench_server(tmp_path / "server.log", "--mode", "reference", "--app", app) as (base, _), \
            httpx.Client(base_url=base) as client:
        for path in sorted(ROUTES):
            got = client.get(f"{path}?v=1&tid=UA-1-1&cid=1&t=pageview")
            posted = client.post(path, content=b"v=1&tid=UA-1-1&cid=1&t=event&ec=a&ea=b")
            assert (got.status_code, posted.status_code) == (204, 204), path
        assert client.get("/healthz").status_code == 204


def test_the_pydantic_reference_validates_the_workloads_hits() -> None:
    models = [reference_apps.UAHit.model_validate(dict(parse_qsl(r.payload(),
                                                                 keep_blank_values=True)))
              for r in hits.generate(200)]
    assert len(models) == 200
    assert all(m.tid.startswith("UA-") and m.t and m.v == "1" for m in models)


def _load(label: str, rps: float, us_per_hit: float) -> collect_bench.Load:
    return collect_bench.Load(label, 32, "wrk", rps, 1.0, 2.0, int(rps * 8), None, 0,
                              duration_s=8.0, server_cpu_s=rps * 8 * us_per_hit / 1e6)


def test_the_summary_sets_each_reference_beside_the_collector_as_a_share_of_a() -> None:
    plain = {"bare": [_load("bare", 20_000, 48)],
             **{f"{collect_bench.REFERENCE}{name}": [_load(name, rps, 1e6 / rps)]
                for name, rps in (("fastapi", 4_000), ("qsl_pydantic", 6_000),
                                  ("starlette", 10_000))},
             "before": [_load("before", 7_000, 145)], "null": [_load("null", 3_000, 300)]}
    lines = collect_bench.summary(plain, None)
    title = next(i for i, line in enumerate(lines) if line.startswith("the issue's reference"))
    assert "fastapi 23%, qsl_pydantic 35%, starlette 41%" in lines[title]
    assert lines[title + 1].split(" | ")[1:] == [f"{n:>20}" for n in (
        "fastapi", "qsl_pydantic", "starlette", "(b0)", "(b)")]
    cells = [cell.split()[0] for cell in lines[title + 2].split(" | ")[1:]]
    assert cells == ["20.0%", "30.0%", "50.0%", "35.0%", "15.0%"]
