"""``python -m collector``: the collector with settings from the environment."""

from __future__ import annotations

from collector.server import serve
from collector.settings import CollectorSettings
from lambdalytics import logs


def main() -> None:
    settings = CollectorSettings()
    logs.configure(settings.log_level, settings.log_format)
    serve(settings)


if __name__ == "__main__":
    main()
