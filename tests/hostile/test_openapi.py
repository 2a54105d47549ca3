"""schemathesis over the three OpenAPI documents, each served on loopback: the collector's
(its hit routes included, DESIGN.md), the admin API's and the dashboard's. Positive and
negative examples of every operation: never a 5xx but a 503 with Retry-After, and every
response conforms to what its operation declares (status code, content type, schema,
headers).

Not checked: schemathesis' negative_data_rejection on the hit routes (an invalid hit gets
the same 2xx as a valid one, as Google answers: DESIGN.md), and the stateful phase."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard import admin
from dashboard.settings import AdminSettings, DashboardSettings
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx
from tests.support import RunningCollector, boto, serving_app

# examples per operation and mode (bench/fuzz.py openapi runs many more); the APIs' operations
# each read or write DynamoDB on moto: fewer
EXAMPLES = 12
API_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def is_problem(response: Any) -> bool:
    """An RFC 9457 problem body, the APIs' errors (dashboard.admin.Problem)."""
    if response.status_code < 400:
        return False
    media = response.headers.get("content-type")
    media = media[0] if isinstance(media, list) else media
    assert media == "application/problem+json", response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("title"), str), body
    assert body.get("status") == response.status_code, body
    assert set(body) <= {"type", "title", "status", "detail", "errors"}, body
    return True


def failures(url: str, *, headers: dict[str, str] | None = None, examples: int = EXAMPLES,
             path_parameters: Callable[[Any], dict[str, Any] | None] = lambda op: None,
             problems: bool = False) -> list[str]:
    """Run every operation of ``url``'s OpenAPI document; what failed, one line each."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found: list[str] = []
    # .ok() raises for an operation schemathesis cannot read: that fails the test too
    operations = [op.ok() for op in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations, "no operations in the document"
    for op in operations:
        for mode in GenerationMode:
            strategy = op.as_strategy(generation_mode=mode,
                                      path_parameters=path_parameters(op))

            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case: Any) -> None:
                response = case.call(base_url=url, headers=headers, timeout=30)
                if response.status_code == 503 and "retry-after" in response.headers:
                    return  # a dependency unavailable: the client is told when to retry
                if problems:
                    is_problem(response)  # an error: a problem body, and as declared (below)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in it to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # collected, reported together
                answered = re.search(r"\[(\d{3})\] ", str(exc))
                found.append(f"{op.label} [{mode.value}]: {_summary(exc)}"
                             + (f" (answered {answered.group(1)})" if answered else ""))
    return found


def _summary(exc: BaseException) -> str:
    subs = getattr(exc, "exceptions", None)
    if subs:
        return "; ".join(_summary(e) for e in subs)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def test_the_collectors_openapi(collector: RunningCollector) -> None:
    found = failures(collector.url)
    assert found == [], "\n".join(found)


@pytest.fixture(scope="module")
def dashboard_settings(moto_url: str, module_env: None) -> DashboardSettings:
    settings_ = ds.provision(moto_url, "t" + secrets.token_hex(5))
    boto(settings_, "s3").create_bucket(Bucket=settings_.resources.archive.name)  # type: ignore[arg-type]
    return settings_


def _with_property(op: Any) -> dict[str, Any] | None:
    # a real property for most operations (so that they reach past the 404); never for the
    # one that deletes it, which would leave the rest nothing to reach
    if "{property_id}" in op.path and not (op.method.upper() == "DELETE"
                                          and op.path.endswith("{property_id}")):
        return {"property_id": fx.OTHER}
    return None


def test_the_dashboards_openapi(dashboard_settings: DashboardSettings) -> None:
    with ds.running(dashboard_settings, clock=ds.Clock()) as url:
        found = failures(url, headers=ds.AUTH, path_parameters=_with_property,
                         problems=True, examples=API_EXAMPLES)
    assert found == [], "\n".join(found)


def test_the_admin_apis_openapi(dashboard_settings: DashboardSettings) -> None:
    settings_ = AdminSettings(**dashboard_settings.model_dump(include=set(AdminSettings.model_fields)))
    with serving_app(admin.create_app(settings_), "admin") as url:
        found = failures(url, headers=ds.AUTH, path_parameters=_with_property,
                         problems=True, examples=API_EXAMPLES)
    assert found == [], "\n".join(found)


def test_the_apis_document_their_problems(
        dashboard_settings: DashboardSettings) -> None:
    with ds.running(dashboard_settings, clock=ds.Clock()) as url:
        document = httpx.get(f"{url}/openapi.json").json()
    wrong = [f"{method.upper()} {path} {status}"
             for path, item in document["paths"].items() for method, op in item.items()
             for status, response in op.get("responses", {}).items()
             if status.isdigit() and int(status) >= 400
             and "application/problem+json" not in response.get("content", {})]
    wrong += [f"{method.upper()} {path} 400" for path, item in document["paths"].items()
              for method, op in item.items()
              if "requestBody" in op and "400" not in op.get("responses", {})]
    assert wrong == []

