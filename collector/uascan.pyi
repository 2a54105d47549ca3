from typing import Any

def init(params: dict[str, tuple[str, str, int]], control: list[str],
         max_queue_ms: int) -> None: ...
def scan(payload: bytes) -> tuple[dict[str, Any], str | None, str, str, str | None, int,
                                  str | None, str | None, bool,
                                  list[tuple[str, str]] | None] | None: ...
