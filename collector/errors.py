"""The collector's error tree, split retryable / terminal (STYLE.md §9)."""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""


class Unavailable(CollectorError):
    """The hit could not be made durable now; the client should retry later (503)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """The sink's queue is full (or closing): refuse instead of growing memory."""


class SinkUnavailable(Unavailable):
    """Kinesis did not take the record within the retry budget, or refused it for good."""


class PropertiesUnavailable(Unavailable):
    """The properties table could not be read and nothing is cached for this id."""


class WriteError(CollectorError):
    """Raised by a batch writer for a whole failed call."""

    retryable: bool = True


class RetryableWriteError(WriteError):
    retryable = True


class TerminalWriteError(WriteError):
    retryable = False
