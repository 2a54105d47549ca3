"""The rollups table: writes cut items, reads minutes back (a thin adapter over DynamoDB).

Items come from :func:`archiver.rollup.to_item`, one per cut per property-minute, so writes
are plain overwrites (BatchWriteItem): a replayed cut rewrites identical items. Reads Query
each minute's partition and :func:`archiver.rollup.merge` what they find.

Errors: :class:`RollupsUnavailable` (retryable: throttled, unreachable, or items still
unprocessed when the time budget ran out; it is a ``TimeoutError``, so callers that retry on
``OSError`` retry it) and :class:`RollupsRefused` (terminal: the table is missing, access
denied, an item invalid).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from archiver.rollup import TOP_N, MinuteView, item_size, merge

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "BATCH_SIZE", "ItemCost", "RollupStore", "RollupStoreError", "RollupsRefused",
    "RollupsUnavailable", "item_cost", "minute_range",
]

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 25  # BatchWriteItem's limit
MAX_MINUTES: Final = 24 * 60  # one read covers at most a day of minutes
_MINUTE_FORMAT: Final = "%Y-%m-%dT%H:%M"
_RETRYABLE_CODES: Final = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
})


class RollupStoreError(Exception):
    """Base of the errors this module raises."""

    retryable: bool = False


class RollupsUnavailable(RollupStoreError, TimeoutError):
    """Not written (or not read) now; trying again later can succeed."""

    retryable = True


class RollupsRefused(RollupStoreError):
    """DynamoDB refused the request for good (missing table, access, validation)."""


def _translate(exc: ClientError | BotoCoreError, what: str) -> RollupStoreError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in _RETRYABLE_CODES:
            return RollupsRefused(f"{what}: {code}: {exc}")
    return RollupsUnavailable(f"{what}: {exc}")


@dataclass(frozen=True, slots=True)
class ItemCost:
    size_bytes: int
    write_units: int  # standard writes: 1 WCU per started KB


def item_cost(item: Mapping[str, Any]) -> ItemCost:
    """What writing ``item`` costs: its billed size and write capacity units."""
    size = item_size(item)
    return ItemCost(size, max(1, -(-size // 1024)))


class RollupStore:
    """Writes and reads rollup items in ``table_name`` through an aiobotocore client.

    ``budget_s`` bounds how long :meth:`put` keeps re-sending unprocessed items (full-jitter
    exponential backoff from ``base_delay_s`` up to ``max_delay_s``); ``page_size`` sets the
    Query ``Limit`` (None: DynamoDB's 1 MB pages).
    """

    def __init__(self, client: DynamoDBClient, table_name: str, *, budget_s: float = 20.0,
                 base_delay_s: float = 0.05, max_delay_s: float = 2.0, concurrency: int = 4,
                 page_size: int | None = None, top_n: int = TOP_N,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._client = client
        self._table = table_name
        self._budget_s = budget_s
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._concurrency = concurrency
        self._page_size = page_size
        self._top_n = top_n
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()  # jitter, not secrets

    # --- writes ---------------------------------------------------------------------------

    async def put(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Write every item (overwriting same keys), 25 to a BatchWriteItem call.

        Items DynamoDB leaves unprocessed are re-sent, only they, after a full-jitter
        backoff; when the budget runs out first, raises :class:`RollupsUnavailable` (some
        items may be written then; writing all of them again is harmless).
        """
        unique: dict[tuple[str, str], Mapping[str, Any]] = {}
        for item in items:  # the same key twice in one batch is a ValidationException
            unique[(item["pk"]["S"], item["sk"]["S"])] = item
        batch = list(unique.values())
        if not batch:
            return
        deadline = self._clock() + self._budget_s
        chunks = [batch[i:i + BATCH_SIZE] for i in range(0, len(batch), BATCH_SIZE)]
        if len(chunks) == 1:
            await self._put_chunk(chunks[0], deadline)
            return
        gate = asyncio.Semaphore(self._concurrency)

        async def one(chunk: list[Mapping[str, Any]]) -> None:
            async with gate:
                await self._put_chunk(chunk, deadline)

        try:
            async with asyncio.TaskGroup() as group:
                for chunk in chunks:
                    group.create_task(one(chunk))
        except ExceptionGroup as eg:
            errors = eg.exceptions
            first = next((e for e in errors if isinstance(e, RollupsRefused)), errors[0])
            raise first from eg

    async def _put_chunk(self, chunk: list[Mapping[str, Any]], deadline: float) -> None:
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in chunk]
        attempt = 0
        while True:
            try:
                resp = await self._client.batch_write_item(RequestItems={self._table: requests})
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc, f"BatchWriteItem on {self._table}") from exc
            requests = list(resp.get("UnprocessedItems", {}).get(self._table, ()))
            if not requests:
                return
            attempt += 1
            delay = self._rng.uniform(
                0, min(self._max_delay_s, self._base_delay_s * 2 ** (attempt - 1)))
            if self._clock() + delay > deadline:
                raise RollupsUnavailable(
                    f"{len(requests)} rollup items still unprocessed after {attempt} "
                    f"BatchWriteItem calls on {self._table} ({self._budget_s}s budget)")
            log.info("%d rollup items unprocessed; re-sending in %.3fs", len(requests), delay)
            await asyncio.sleep(delay)

    async def put_early(self, items: Sequence[Mapping[str, Any]]) -> int:
        """Write early items (archiver.early), each only over an early item or none, never
        over a cut's own item; returns how many a cut's item kept out. One PutItem per item
        (BatchWriteItem takes no condition), ``concurrency`` at a time, no retries: the
        cut's items follow anyway, so a failed early write only delays realtime."""
        gate = asyncio.Semaphore(self._concurrency)
        kept_out = 0

        async def one(item: Mapping[str, Any]) -> None:
            nonlocal kept_out
            async with gate:
                try:
                    await self._client.put_item(
                        TableName=self._table, Item=item,
                        ConditionExpression="attribute_not_exists(pk) OR attribute_exists(early)")
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                        kept_out += 1
                        return
                    raise _translate(exc, f"PutItem on {self._table}") from exc
                except BotoCoreError as exc:
                    raise _translate(exc, f"PutItem on {self._table}") from exc

        try:
            async with asyncio.TaskGroup() as group:
                for item in items:
                    group.create_task(one(item))
        except ExceptionGroup as eg:
            raise eg.exceptions[0] from eg
        return kept_out

    # --- reads ----------------------------------------------------------------------------

    async def items(self, property_id: str, minute: str, *, now: float | None = None,
                    ) -> list[dict[str, Any]]:
        """Every unexpired item of one property-minute (all Query pages). Expired items are
        left out here: DynamoDB's TTL deletes them only eventually."""
        now_s = int(self._wall_clock() if now is None else now)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "expires_at > :now",
            "ExpressionAttributeValues": {":pk": {"S": f"{property_id}#{minute}"},
                                          ":now": {"N": str(now_s)}},
        }
        if self._page_size is not None:
            kwargs["Limit"] = self._page_size
        out: list[dict[str, Any]] = []
        while True:
            try:
                resp = await self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc, f"Query on {self._table}") from exc
            out.extend(resp.get("Items", ()))
            last = resp.get("LastEvaluatedKey")
            if not last:
                return out
            kwargs["ExclusiveStartKey"] = last

    async def minute(self, property_id: str, minute: str, *, now: float | None = None,
                     ) -> MinuteView:
        """One property's minute ("YYYY-MM-DDTHH:MM", UTC), merged across cuts."""
        return merge(await self.items(property_id, _check_minute(minute), now=now),
                     top_n=self._top_n)

    async def minutes(self, property_id: str, start_minute: str, end_minute: str, *,
                      now: float | None = None) -> MinuteView:
        """The minutes from ``start_minute`` to ``end_minute`` inclusive, merged (for
        instance the last 30 minutes for a realtime view). One Query per minute."""
        minutes = list(minute_range(start_minute, end_minute))
        gate = asyncio.Semaphore(self._concurrency)

        async def one(minute: str) -> list[dict[str, Any]]:
            async with gate:
                return await self.items(property_id, minute, now=now)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(m)) for m in minutes]
        except ExceptionGroup as eg:
            raise eg.exceptions[0] from eg
        return merge(_chain(t.result() for t in tasks), top_n=self._top_n)


def _chain(lists: Iterable[list[dict[str, Any]]]) -> Iterable[dict[str, Any]]:
    for items in lists:
        yield from items


def _parse_minute(minute: str) -> datetime:
    try:
        return datetime.strptime(minute, _MINUTE_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"minute {minute!r} is not YYYY-MM-DDTHH:MM") from exc


def _check_minute(minute: str) -> str:
    return _parse_minute(minute).strftime(_MINUTE_FORMAT)


def minute_range(start_minute: str, end_minute: str) -> Iterable[str]:
    """The minutes from start to end, both included (at most :data:`MAX_MINUTES`)."""
    start, end = _parse_minute(start_minute), _parse_minute(end_minute)
    count = int((end - start).total_seconds()) // 60 + 1
    if count < 1:
        raise ValueError(f"minute range ends before it starts: {start_minute}..{end_minute}")
    if count > MAX_MINUTES:
        raise ValueError(f"minute range of {count} minutes is over {MAX_MINUTES}")
    return [(start + timedelta(minutes=i)).strftime(_MINUTE_FORMAT) for i in range(count)]
