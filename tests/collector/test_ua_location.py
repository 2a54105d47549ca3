"""The hand-split of ``dl`` into host and path agrees with urllib's urlsplit."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from collector.ua import _from_location_slow, from_location

_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"),
                max_size=30)


@given(scheme=st.sampled_from(["http", "https", "HTTP", "android-app", "", "1x", "a b", " http"]),
       host=st.from_regex(r"[A-Za-z0-9.-]{0,20}", fullmatch=True),
       port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
       tail=_text)
@example(scheme="http", host="", port="", tail="%A")  # found in CI: '%A' is not lowercased
def test_fast_split_matches_urlsplit(scheme: str, host: str, port: str, tail: str) -> None:
    location = f"{scheme}://{host}{port}{tail}"
    fast: dict[str, object] = {"page_location": location}
    slow: dict[str, object] = {"page_location": location}
    from_location(fast)
    _from_location_slow(slow)
    assert fast == slow
