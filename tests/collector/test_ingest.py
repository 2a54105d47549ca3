"""Enrichment in turns (collector.ingest.Ingest.enrich): the hits of every request that asks
in one turn of the event loop are enriched together, back to back, after the last of them
asked; one request's failure or cancellation is its own. In process for the order of events
on one loop, then over HTTP: a request whose enrichment raises is answered 503 and the
requests beside it are not."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from collector.app import Overrides
from collector.enrich import Verdict
from collector.filtered import FilteredCounters
from collector.http import RawRequest
from collector.ingest import Enriching, Ingest
from collector.metrics import Metrics
from collector.policy import DEFAULT_PRECISION
from collector.properties import PropertyCache
from collector.settings import CollectorSettings
from collector.sink import GroupCommitSink, NullWriter
from lambdalytics.hit import Hit
from lambdalytics.properties import Property
from tests.support import UA_TID, create_stack, read_records, running_collector

FOUND = Verdict()


class Recording:
    """An :class:`~collector.enrich.Enrichment` that logs each hit it enriches (by its
    ``client_id``) into ``events`` and raises for the user agent ``boom``."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.events = events if events is not None else []

    def address(self, request: RawRequest, ip_override: str | None) -> tuple[str | None, bool]:
        return request.client_ip, False

    def apply(self, fields: dict[str, Any], request: RawRequest, *, ip_override: str | None,
              ua_override: str | None, anonymize: bool, precision: Any = DEFAULT_PRECISION,
              bot_policy: str | None = None,
              hints: tuple[bytes, ...] | None = None) -> Verdict:
        if (ua_override or request.user_agent) == "boom":
            raise RuntimeError("enrichment failed")
        self.events.append(f"enrich {fields['client_id']}")
        fields["ip_anonymized"] = anonymize
        return FOUND


class NoProperties:
    async def lookup(self, tracking_id: str) -> Property | None:
        return None


def ingest_with(enricher: Recording) -> Ingest:
    """An ingest whose enrich() is all these tests use (its other parts are real, and idle:
    a compiled build checks their types)."""
    sink = GroupCommitSink(NullWriter())
    return Ingest(sink, PropertyCache(NoProperties()), FilteredCounters(sink), Metrics(),
                  enricher)


def request(user_agent: str = "test") -> RawRequest:
    return RawRequest("GET", "/collect", b"", b"", 0.0, "192.0.2.1", user_agent)


def hits(*client_ids: str) -> list[Enriching]:
    return [Enriching({"client_id": cid}, ip_override=None, ua_override=None, anonymize=False,
                      precision=DEFAULT_PRECISION, bot_policy=None) for cid in client_ids]


def test_one_turns_requests_are_enriched_together_after_the_last_asked() -> None:
    events: list[str] = []
    ingest = ingest_with(Recording(events))

    async def handler(*client_ids: str) -> list[Enriching]:
        mine = hits(*client_ids)
        done = ingest.enrich(request(), mine)
        events.append(f"asked {'+'.join(client_ids)}")
        await done
        events.append(f"resumed {'+'.join(client_ids)}")
        return mine

    async def main() -> None:
        first = [asyncio.create_task(handler("a")), asyncio.create_task(handler("b", "c")),
                 asyncio.create_task(handler("d"))]
        await asyncio.sleep(0)  # the three ask in this turn; the enrichment runs in the next
        late = asyncio.create_task(handler("e"))  # asks after the turn was scheduled
        for task in [*first, late]:
            assert all(hit.found is FOUND for hit in await task)

    asyncio.run(main())
    assert events == ["asked a", "asked b+c", "asked d",
                      "enrich a", "enrich b", "enrich c", "enrich d",
                      "asked e", "resumed a", "resumed b+c", "resumed d",
                      "enrich e", "resumed e"]


def test_a_failure_is_its_requests_alone() -> None:
    ingest = ingest_with(Recording())

    async def main() -> None:
        ok_before, failing, ok_after = hits("a"), hits("b", "c"), hits("d")
        futures = [ingest.enrich(request(), ok_before), ingest.enrich(request("boom"), failing),
                   ingest.enrich(request(), ok_after)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert results[0] is None
        assert results[2] is None
        assert isinstance(results[1], RuntimeError)
        assert ok_before[0].found is FOUND
        assert ok_after[0].found is FOUND
        assert failing[0].found is None

    asyncio.run(main())


def test_a_cancelled_request_leaves_the_turn_to_the_others() -> None:
    ingest = ingest_with(Recording())
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        gone, staying = hits("a"), hits("b")

        async def wait(mine: list[Enriching]) -> None:
            await ingest.enrich(request(), mine)

        tasks = [asyncio.create_task(wait(gone)), asyncio.create_task(wait(staying))]
        await asyncio.sleep(0)  # both wait for the turn
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert tasks[0].cancelled()
        assert tasks[1].result() is None
        assert staying[0].found is FOUND

    asyncio.run(main())
    assert errors == []


@pytest.mark.parametrize("path", ["/collect", "/batch"])
def test_over_http_a_failing_enrichment_is_a_503_for_that_request_only(
        settings: CollectorSettings, path: str) -> None:
    create_stack(settings, [UA_TID])

    def payload(cid: str) -> str:
        return f"v=1&tid={UA_TID}&cid={cid}&t=pageview&dp=%2Fp"

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=c.url) as http:
            return await asyncio.gather(*(
                http.post(path, content=payload(cid), headers={"user-agent": agent})
                for cid, agent in [("ok-1", "fine"), ("failing", "boom"), ("ok-2", "fine")]))

    with running_collector(settings, Overrides(enricher=Recording())) as c:
        ok_1, failing, ok_2 = asyncio.run(send())
        metrics = httpx.get(f"{c.url}/metrics").text
    assert (ok_1.status_code, failing.status_code, ok_2.status_code) == (200, 503, 200)
    assert failing.headers["retry-after"] == "5"
    assert 'reason="internal_error"' in metrics
    assert {r.client_id for r in read_records(settings) if isinstance(r, Hit)} == {"ok-1", "ok-2"}
