"""Building blocks of the ``events_ga4`` SQL: the export-schema :class:`Field`, quoting, the
source columns (checked against the Hit schema) and the key/value rows of params.

Everything here returns Trino/Athena SQL text; :mod:`lambdalytics.ga4_schema` declares the
export with it and :mod:`lambdalytics.ga4_export` renders the view. Identifiers are always
quoted (no keyword list to keep); literals go through :func:`lit`; nothing a user types is
spliced in.

Params (``event_params``, ``user_properties``, ``items.item_params``) are built in two steps:
one staged ``(key, s, i, n)`` row per param, then the export's value row from it, so each
value is computed once. ``string_value`` is ``s`` unless ``i`` holds it (an id that is an
integer), ``int_value`` is ``i``, or ``n`` when integral and below 2**53 (exact as a double),
``double_value`` is ``n`` otherwise, ``float_value`` is never set (GA's web export leaves it
NULL too). Params whose value is NULL are left out; a map's entries come sorted by key (the
same order on every engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lambdalytics import hit

Kind = Literal["STRING", "INT64", "FLOAT64", "BOOL", "RECORD"]
_TRINO = {"STRING": "varchar", "INT64": "bigint", "FLOAT64": "double", "BOOL": "boolean"}


@dataclass(frozen=True, slots=True)
class Field:
    """One export column or nested field. ``source`` is Trino SQL over the source view (for a
    REPEATED field, the whole array); ``when`` makes a RECORD NULL unless it holds."""

    name: str
    kind: Kind
    fields: tuple[Field, ...] = ()
    repeated: bool = False
    source: str | None = None
    when: str | None = None

    @property
    def filled(self) -> bool:
        return self.source is not None or any(f.filled for f in self.fields)

    def trino_type(self) -> str:
        t = (f"ROW({', '.join(f'{q(f.name)} {f.trino_type()}' for f in self.fields)})"
             if self.kind == "RECORD" else _TRINO[self.kind])
        return f"ARRAY({t})" if self.repeated else t

    def bigquery_type(self) -> str:
        t = (f"STRUCT<{', '.join(f'{f.name} {f.bigquery_type()}' for f in self.fields)}>"
             if self.kind == "RECORD" else self.kind)
        return f"ARRAY<{t}>" if self.repeated else t

    def value(self) -> str:
        """The field's Trino expression: its source, or NULL (an empty array if REPEATED); a
        RECORD is a ROW of its fields' values, NULL if none is filled or ``when`` fails."""
        if self.repeated:
            empty = f"CAST(ARRAY[] AS {self.trino_type()})"
            return f"COALESCE({self.source}, {empty})" if self.source else empty
        if self.kind != "RECORD":
            return self.source or "NULL"
        if not self.filled:
            return "NULL"
        row = "ROW(" + ", ".join(f.value() for f in self.fields) + ")"
        return f"CASE WHEN {self.when} THEN {row} END" if self.when else row


def q(name: str) -> str:
    """A quoted identifier (every one is quoted: no keyword list to keep)."""
    return '"' + name.replace('"', '""') + '"'


# Declarations read like the export's own schema: STRING("event_name", <source>), …
def STRING(name: str, source: str | None = None) -> Field:
    return Field(name, "STRING", source=source)


def INT64(name: str, source: str | None = None) -> Field:
    return Field(name, "INT64", source=source)


def FLOAT64(name: str, source: str | None = None) -> Field:
    return Field(name, "FLOAT64", source=source)


def BOOL(name: str, source: str | None = None) -> Field:
    return Field(name, "BOOL", source=source)


def RECORD(name: str, *fields: Field, when: str | None = None) -> Field:
    return Field(name, "RECORD", fields, when=when)


def REPEATED(name: str, fields: tuple[Field, ...], source: str) -> Field:
    return Field(name, "RECORD", fields, repeated=True, source=source)


def strings(*names: str) -> tuple[Field, ...]:
    return tuple(STRING(n) for n in names)


_SOURCE_COLUMNS = frozenset([c.name for c in hit.columns()] + ["property", "date"])
_ITEM_COLUMNS = frozenset(c.name for c in hit.columns(hit.Item))


def col(name: str) -> str:
    """A quoted column of the source view (checked against the Hit schema)."""
    if name not in _SOURCE_COLUMNS:
        raise ValueError(f"{name!r} is not a column of the events view")
    return q(name)


def it(name: str) -> str:
    """A field of the item ``i`` in the items lambda."""
    if name not in _ITEM_COLUMNS:
        raise ValueError(f"{name!r} is not an Item field")
    return f"i.{q(name)}"


def micros(ts: str, since: str = "TIMESTAMP '1970-01-01 00:00:00'") -> str:
    return f"date_diff('millisecond', {since}, {ts}) * 1000"  # the Hit keeps milliseconds


EVENT_TS = micros(col("event_time"))
_SAFE_INT = "9007199254740992"  # 2**53: every double below it that is integral is exact
_STAGE = 'ROW("key" varchar, "s" varchar, "i" bigint, "n" double)'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def stage_row(key: str, kind: str, v: str) -> str:
    s, i, n = {"string": (v, "NULL", "NULL"), "number": ("NULL", "NULL", v),
               "id": (v, f"try_cast({v} AS bigint)", "NULL")}[kind]  # id: ga_session_id
    return f"CAST(ROW({key}, {s}, {i}, {n}) AS {_STAGE})"


def entries(m: str, kind: str, skip: tuple[str, ...] = ()) -> str:
    """A map's entries as staged rows, by key; keys in ``skip`` left out."""
    keys = f"array_sort(COALESCE(map_keys({m}), CAST(ARRAY[] AS ARRAY(varchar))))"
    if skip:
        keys = f"filter({keys}, k -> k NOT IN ({', '.join(lit(k) for k in skip)}))"
    return f"transform({keys}, k -> {stage_row('k', kind, f'element_at({m}, k)')})"


def finish(rows: str, fields: tuple[Field, ...], extra: str = "") -> str:
    """The export rows (``fields``: key, value) of staged rows; NULL values left out."""
    integral = f"p.n = floor(p.n) AND abs(p.n) < {_SAFE_INT}"
    value = ", ".join(["CASE WHEN p.i IS NULL THEN p.s END",
                       f"COALESCE(p.i, CASE WHEN {integral} THEN CAST(p.n AS bigint) END)", "NULL",
                       f"CASE WHEN {integral} THEN NULL ELSE p.n END"] + ([extra] if extra else []))
    row = Field("", "RECORD", fields).trino_type()
    present = "p -> p.s IS NOT NULL OR p.i IS NOT NULL OR p.n IS NOT NULL"
    return f"transform(filter({rows}, {present}),\n    p -> CAST(ROW(p.key, ROW({value})) AS {row}))"


def flag(v: str, yes: str, no: str) -> str:
    return f"CASE WHEN {v} THEN {yes} WHEN NOT {v} THEN {no} END"


def when(condition: str, v: str) -> str:
    return f"CASE WHEN {condition} THEN {v} END"
