"""`lambdalytics local` as users run it, under load: every hit it acknowledged is archived
once, counted by a reader that uses none of the project's code (bench/local_check.py; its
full runs, a million hits among them, are in docs/reliability.md).

The earlier e2e tests sent one hit, or thirty one at a time, and read them back with the
project's own decoder: no load ever made two PutRecords calls meet in moto, and nothing
counted the archive against the acknowledgements under load. Faults (archivers killed,
collectors stopped and killed, AWS errors) are the soak's: tests/e2e/test_soak.py."""

from __future__ import annotations

from bench import local_check


def test_every_acknowledged_hit_is_archived_once_at_32_and_1024_connections() -> None:
    result = local_check.run([(32, 20_000), (1024, 20_000)], batch_share=0.1)
    print(result.table())
    for phase in result.phases:
        assert dict(phase.statuses) == {"200": phase.hits}, result.table()
    assert result.archived == 40_000, result.table()
    assert (result.lost, result.duplicated, result.extra) == (0, 0, 0), result.table()
    assert result.exit_status == 0
