"""Campaign fields of a hit: utm_* tags and ad click ids from the page URL, merged with the
campaign parameters the hit already carries.

Use::

    fields.update(campaign_fields(fields.get("page_location"), fields))
    referrer = classifier.classify(fields.get("page_referrer"), fields.get("page_hostname"),
                                   campaign_medium=fields.get("campaign_medium"),
                                   paid_click=is_paid_click(fields))

Rules:

- URL tags are read from the page URL's query string (not its fragment: GA reads
  ``#utm_…`` only when a site opts in with allowAnchor). Keys are exact and lower-case,
  as GA's; the first non-empty value of a repeated key wins, as for the hit's own
  parameters. Values are percent-decoded (``+`` is a space).
- Explicit hit fields win over the URL, field by field, as GA's cs/cm/cn/ck/cc/ci and
  gclid/dclid override what it parses from ``dl``: a hit with ``cs`` and a URL with
  ``utm_medium`` gives both.
- Every value is trimmed; one empty after trimming is absent. Text fields are cut to GA's
  limits in UTF-8 bytes (source, name and id 100; medium 50; term and content 500), on a
  character boundary, as :mod:`collector.ua` cuts the explicit ones. Click ids are opaque:
  a URL click id longer than 256 characters or with whitespace or control characters is
  ignored rather than cut (a cut id matches nothing); explicit ids pass through as given.
- Nothing here raises, whatever the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit

__all__ = ["CAMPAIGN_TAGS", "CLICK_IDS", "LIMITS", "PAID_CLICK_IDS", "campaign_fields",
           "is_paid_click"]

# utm tag → Hit field
CAMPAIGN_TAGS: Final = {
    "utm_source": "campaign_source",
    "utm_medium": "campaign_medium",
    "utm_campaign": "campaign_name",
    "utm_term": "campaign_term",
    "utm_content": "campaign_content",
    "utm_id": "campaign_id",
}
# GA's documented maximum lengths, in bytes (Measurement Protocol cs, cm, cn, ck, cc, ci)
LIMITS: Final = {
    "campaign_source": 100, "campaign_medium": 50, "campaign_name": 100,
    "campaign_term": 500, "campaign_content": 500, "campaign_id": 100,
}
# URL parameter = Hit field for each click id
CLICK_IDS: Final = ("gclid", "dclid", "gbraid", "wbraid", "fbclid", "msclkid")
# Ad click ids: their presence means a paid click. fbclid is not one (Facebook adds it to
# organic outbound links too).
PAID_CLICK_IDS: Final = ("gclid", "dclid", "gbraid", "wbraid", "msclkid")
CLICK_ID_MAX: Final = 256
QUERY_MAX: Final = 8192  # characters of a query string looked at
PAIRS_MAX: Final = 256  # query pairs looked at

_WANTED: Final = frozenset((*CAMPAIGN_TAGS, *CLICK_IDS))
_FIELDS: Final = frozenset((*CAMPAIGN_TAGS.values(), *CLICK_IDS))
_PAID: Final = frozenset(PAID_CLICK_IDS)


def campaign_fields(page_location: str | None, explicit: Mapping[str, Any]) -> dict[str, str]:
    """The campaign and click-id Hit fields to set: the hit's own values where it has them,
    else the page URL's tags (see the module docstring for the rules)."""
    tags = _url_tags(page_location)
    if not tags and explicit.keys().isdisjoint(_FIELDS):
        return {}  # the common hit: no tags in the URL, no campaign parameters
    out: dict[str, str] = {}
    for tag, field in CAMPAIGN_TAGS.items():
        value = _text(explicit.get(field))
        if value is None:
            value = _text(tags.get(tag))
        if value is not None:
            value = _cap(value, LIMITS[field])
            if value:
                out[field] = value
    for field in CLICK_IDS:
        value = _text(explicit.get(field))
        if value is None:
            value = _click_id(tags.get(field))
        if value is not None:
            out[field] = value
    return out


def is_paid_click(fields: Mapping[str, Any]) -> bool:
    """The hit carries an ad click id (gclid, dclid, gbraid, wbraid or msclkid)."""
    if fields.keys().isdisjoint(_PAID):
        return False
    return any(_text(fields.get(name)) is not None for name in PAID_CLICK_IDS)


def _url_tags(page_location: str | None) -> dict[str, str]:
    if not isinstance(page_location, str) or "?" not in page_location:
        return {}
    location = page_location.strip()
    if _plain_url(location):
        # what urlsplit(location).query is for this shape, without urlsplit's work
        query = location.partition("#")[0].partition("?")[2]
    else:
        try:
            query = urlsplit(location).query
        except ValueError:
            query = page_location.partition("?")[2].partition("#")[0]
    tags: dict[str, str] = {}
    for pair in query[:QUERY_MAX].split("&", PAIRS_MAX)[:PAIRS_MAX]:
        key, _, raw = pair.partition("=")
        if key not in _WANTED or key in tags:
            continue
        value = unquote_plus(raw, errors="replace").strip()
        if value:
            tags[key] = value
    return tags


def _plain_url(location: str) -> bool:
    """A URL whose query urlsplit takes as the text between its first ``?`` and first ``#``:
    nothing urlsplit removes or strips (tab, CR, LF anywhere; a leading control character or
    space), and a host urlsplit has nothing to check in (ASCII, no brackets). The host is
    looked for where urlsplit finds it: after the first ``//``, up to a ``/``, ``?`` or ``#``
    (a ``//`` later in the path only makes the check stricter)."""
    if not location[:1] > " " or "\t" in location or "\r" in location or "\n" in location:
        return False
    if location.isascii() and "[" not in location and "]" not in location:
        return True
    start = location.find("//")
    if start < 0:
        return True  # no host at all
    start += 2
    end = len(location)
    for sep in "/?#":
        i = location.find(sep, start)
        if 0 <= i < end:
            end = i
    host = location[start:end]
    return host.isascii() and "[" not in host and "]" not in host


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _cap(value: str, max_bytes: int) -> str:
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return value
    return data[:max_bytes].decode("utf-8", "ignore").rstrip()


def _click_id(value: str | None) -> str | None:
    if value is None or len(value) > CLICK_ID_MAX:
        return None
    # a printable character that is whitespace can only be the space (checked over Unicode)
    if not value.isprintable() or " " in value:
        return None
    return value
