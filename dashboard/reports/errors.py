"""The reports' error: a request that cannot be answered as asked (a ValueError, so that the
API answers 422 and the CLI prints it). Engine failures are ``dashboard.engine.QueryError``."""

from __future__ import annotations


class ReportError(ValueError):
    """An unknown report, dimension or operator, an invalid range, limit or value."""
