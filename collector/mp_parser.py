"""The GA4 Measurement Protocol parser's state (:mod:`collector.mp`): Google's validation
codes and message, the parsed request, and the parser that records every problem as it goes
(RELAXED ignores a bad value, ENFORCE_RECOMMENDATIONS drops its event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collector import mp_rules as R
from lambdalytics.hit import utc_ms

MAX_BODY_BYTES = 130_000  # "Post body must be smaller than 130kBs": 130,000 bytes still pass
PROTOCOL = "ga4mp"
VALUE_INVALID, VALUE_REQUIRED, VALUE_OUT_OF_BOUNDS = "VALUE_INVALID", "VALUE_REQUIRED", "VALUE_OUT_OF_BOUNDS"
NAME_INVALID, NAME_RESERVED, EXCEEDED_MAX_ENTITIES = "NAME_INVALID", "NAME_RESERVED", "EXCEEDED_MAX_ENTITIES"
NAME_DUPLICATED = "NAME_DUPLICATED"
PARAMS_PATH, ITEMS_PATH = "events.params", "events.params.items"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ValidationMessage:
    field_path: str
    description: str
    validation_code: str  # VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED, …

    def json(self) -> dict[str, str]:
        return {"fieldPath": self.field_path, "description": self.description,
                "validationCode": self.validation_code}


@dataclass(slots=True)
class MpEvent:
    index: int  # position in events[]
    fields: dict[str, Any]  # Hit fields of this event, ready for the tail


@dataclass(slots=True)
class MpRequest:
    tracking_id: str = ""  # measurement_id or firebase_app_id as sent; "" when neither or both
    api_secret: str = ""
    events: list[MpEvent] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    problem: str | None = None  # the whole request is invalid: a short reason
    messages: list[ValidationMessage] = field(default_factory=list)
    ip_override: str | None = None
    ua_override: str | None = None


@dataclass(frozen=True, slots=True)
class Stamp:
    raw: int | float | None  # as sent, for the hit id; None when absent or not a number
    time: datetime | None  # the event time it gives; None: fall back
    reject: bool = False  # ENFORCE_RECOMMENDATIONS: what takes this stamp is dropped


NO_STAMP = Stamp(None, None)


class Parser:
    def __init__(self, request: MpRequest, received: datetime) -> None:
        self.req = request
        self.received = utc_ms(received.timestamp())
        self.now_us = (received - EPOCH) // timedelta(microseconds=1)
        self.app = False  # a firebase_app_id stream
        self.enforce = False
        self.drop = False  # the event being parsed is to be dropped

    def msg(self, code: str, path: str, description: str) -> None:
        self.req.messages.append(ValidationMessage(path, description, code))

    def fail(self, problem: str, code: str, path: str, description: str) -> None:
        self.msg(code, path, description)
        self.req.problem = self.req.problem or problem

    def malformed(self, code: str, path: str, description: str) -> None:
        self.msg(code, path, description)
        self.drop = True

    def bad(self, code: str, path: str, description: str) -> None:
        """RELAXED ignores the value; ENFORCE_RECOMMENDATIONS drops its event."""
        self.msg(code, path, description)
        self.drop = self.drop or self.enforce

    def stamp(self, value: Any, path: str, subject: str) -> Stamp:
        if value is None:
            return NO_STAMP
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.msg(VALUE_INVALID, path, f"{subject} has invalid timestamp_micros [{R.show(value)}]. "
                     "It must be a number of microseconds since the Unix epoch.")
            return Stamp(None, None, self.enforce)
        us = int(value)
        if us > self.now_us + R.CLOCK_SKEW_US:
            self.msg(VALUE_OUT_OF_BOUNDS, path, f"{subject} has timestamp_micros [{us}] in the future.")
            return Stamp(value, None, self.enforce)
        if us < self.now_us - R.BACKDATE_MAX_US:
            if not self.enforce:
                return Stamp(value, self.received - timedelta(hours=72))
            self.msg(VALUE_OUT_OF_BOUNDS, path,
                     f"{subject} has timestamp_micros [{us}] more than 72 hours in the past.")
            return Stamp(value, None, True)
        return Stamp(value, EPOCH + timedelta(milliseconds=us // 1000))
