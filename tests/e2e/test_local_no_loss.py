"""`lambdalytics local` as users run it, under load: every hit it acknowledged is archived
once, counted by a reader that uses none of the project's code (bench/local_check.py; its
full runs, a million hits among them, are in docs/reliability.md).

The earlier e2e tests sent one hit, or thirty one at a time, and read them back with the
project's own decoder: no load ever made two PutRecords calls meet in moto, and nothing
counted the archive against the acknowledgements under load."""

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


def test_nothing_acknowledged_is_lost_while_an_archiver_is_killed_and_a_collector_restarts(
        ) -> None:
    # 20 s at 1,000 hits/s: about six kills, at any point of the extra worker's cycle
    result = local_check.run([(64, 20_000, 1000.0)], batch_share=0.1, kill_archiver=3,
                             restart_collector=True)
    print(result.table())
    assert result.archiver_kills >= 4, result.table()
    assert result.collector_restarts == 1, result.table()
    acked = len(result.phases[0].acked)
    assert acked >= 18_000, result.table()
    assert result.archived == acked, result.table()
    assert (result.lost, result.duplicated) == (0, 0), result.table()
    assert result.exit_status == 0
