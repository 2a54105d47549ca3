"""PutRecords' records encoded, and its answer decoded, with orjson instead of botocore's
shape walk.

botocore's JSON serializer walks the model's shape for every record of a call (a structure,
a blob to base64, a string), and its parser walks the answer's shape for every entry again:
with 500 hit records per call that is most of the client's CPU per hit (measured in
docs/benchmarks.md, "PutRecords without botocore's shape walk": 28 µs of client CPU per hit
with botocore's codec, 14 µs with this one). :func:`install` takes both over on one
client through botocore's own event hooks, so endpoint resolution, signing, the HTTP session,
error answers and retries stay botocore's:

- ``before-parameter-build``: the call's records are set aside in the request context and
  the serializer is given an empty list;
- ``before-call``: the body the serializer wrote (stream name or ARN, an empty ``Records``)
  gets the records back — each ``Data`` base64-encoded, every other member as given;
- ``before-parse``: a 200 answer's body is decoded with orjson into the parsed response
  (members sent as null left out, as botocore does), and botocore parses an empty object in
  its place. Any other answer (an error) is parsed by botocore as before.

The empty list is below the model's minimum of one record, so the client must have
parameter validation off (the sink's has: it builds its parameters itself).
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Callable
from typing import Any

import orjson
from botocore.validate import ParamValidationDecorator

log = logging.getLogger(__name__)

_SET_ASIDE = "lambdalytics.put_records"  # the request context's key for the records


def install(client: Any) -> bool:
    """Take over ``client``'s PutRecords encoding and decoding; False (with a warning) when
    its botocore speaks a protocol other than JSON to Kinesis, whose calls then stay as they
    were. Raises ValueError for a client that is not Kinesis or validates its parameters."""
    meta = client.meta
    if meta.service_model.service_name != "kinesis":
        raise ValueError(f"not a Kinesis client: {meta.service_model.service_name}")
    # the client's serializer is the one place that says (its Config does not)
    serializer = getattr(client, "_serializer", None)
    if isinstance(serializer, ParamValidationDecorator):
        raise ValueError("the client validates parameters; create it with validation off")
    protocol = meta.service_model.resolved_protocol
    if protocol != "json" or serializer is None:
        why = (f"botocore speaks {protocol} to Kinesis" if protocol != "json"
               else "this botocore's client keeps its serializer elsewhere")
        log.warning("%s: PutRecords keeps botocore's own codec (slower)", why)
        return False
    for event, handler in _HANDLERS:
        meta.events.register(event, handler, unique_id=f"lambdalytics-{event}")
    return True


def _set_aside(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    records = params.get("Records")
    if records:
        context[_SET_ASIDE] = records
        params["Records"] = []


def _encode(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    records = context.pop(_SET_ASIDE, None)
    if records is None:
        return
    body = orjson.loads(params["body"])
    body["Records"] = [{**record, "Data": _base64(record["Data"])} for record in records]
    params["body"] = orjson.dumps(body)


def _base64(data: bytes | bytearray | str) -> str:
    if isinstance(data, str):  # botocore takes text for a blob too, as its UTF-8
        data = data.encode("utf-8")
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _decode(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
            **_: Any) -> None:
    if response_dict["status_code"] != 200 or not response_dict["body"]:
        return
    answer = orjson.loads(response_dict["body"])
    # botocore leaves out members sent as null: kinesis-mock sends "ErrorCode": null for
    # every entry written, which must not read as a failed one
    records = answer.get("Records")
    if records:
        answer["Records"] = [{k: v for k, v in r.items() if v is not None}
                             if None in r.values() else r for r in records]
    customized_response_dict.update((k, v) for k, v in answer.items() if v is not None)
    response_dict["body"] = b"{}"


_HANDLERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("before-parameter-build.kinesis.PutRecords", _set_aside),
    ("before-call.kinesis.PutRecords", _encode),
    ("before-parse.kinesis.PutRecords", _decode),
)
