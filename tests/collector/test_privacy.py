from __future__ import annotations

import pytest

from collector.privacy import truncate_ip


@pytest.mark.parametrize(("address", "expected"), [
    ("203.0.113.77", "203.0.113.0"),
    ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
    ("::ffff:198.51.100.9", "198.51.100.0"),
    (" 10.1.2.3 ", "10.1.2.0"),
    ("not-an-ip", None),
    ("", None),
])
def test_truncation(address: str, expected: str | None) -> None:
    assert truncate_ip(address) == expected
