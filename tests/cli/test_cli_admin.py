"""The queue-max CLI's management commands: dlq list/requeue/prune, retry, purge, recover, with --dry-run."""

from __future__ import annotations

import time

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures

from queue_max import Permanent
from queue_max._clock import FakeClock


class Crash(Exception):
    """A job error with its own type name, for --error-type filters."""


@pytest.fixture
def dead(make_cli_queue):
    """A 2-shard queue with 3 dead letters: two ValueErrors (one a day old), one Crash; and 1 pending job."""
    clock = FakeClock(time.time() - 86400)
    queue = make_cli_queue(shards=2, clock=clock)
    refs = [queue.enqueue({"n": n}, shard_key=n % 2) for n in range(4)]
    jobs = {job.payload["n"]: job for job in queue.claim_jobs("w", 4)}
    queue.release_job(jobs[3])
    queue.fail_job(jobs[0], error=Permanent("old"))  # failed a day ago
    clock.set_wall(time.time())
    queue.fail_job(jobs[1], error=ValueError("recent"), permanent=True)
    queue.fail_job(jobs[2], error=Crash("boom"), permanent=True)
    return queue, [ref["id"] for ref in refs]


# ── dlq list ──
def test_dlq_list_shows_dead_letters_newest_first(cli, dead):
    _queue, ids = dead
    entries = cli("dlq", "list", "--json").json()
    assert [e["original_job_id"] for e in entries] == [ids[2], ids[1], ids[0]]
    assert set(entries[0]) >= {"id", "original_job_id", "payload", "error", "error_type", "failed_at",
                               "shard_id", "attempts", "queue_name"}
    text = cli("dlq", "list").out.splitlines()
    assert text[0].split() == ["job_id", "shard", "queue", "attempts", "failed_at", "error_type", "error", "payload"]
    assert len(text) == 4


def test_dlq_list_filters_by_error_type_shard_job_and_age(cli, dead):
    _queue, ids = dead
    crash = _queue.get_job(ids[2]).error_type  # the exception's qualified name
    assert [e["original_job_id"] for e in cli("dlq", "list", "--error-type", crash, "--json").json()] == [ids[2]]
    assert {e["shard_id"] for e in cli("dlq", "list", "--shard", "1", "--json").json()} == {1}
    assert [e["original_job_id"] for e in cli("dlq", "list", "--job-id", str(ids[1]), "--json").json()] == [ids[1]]
    assert [e["original_job_id"] for e in cli("dlq", "list", "--older-than", "12h", "--json").json()] == [ids[0]]
    assert len(cli("dlq", "list", "--limit", "1", "--json").json()) == 1


def test_an_empty_dead_letter_queue_says_so(cli, make_cli_queue):
    make_cli_queue()
    assert cli("dlq", "list").out == "the dead-letter queue is empty\n"


# ── dlq requeue / retry ──
def test_dlq_requeue_dry_run_counts_and_changes_nothing(cli, dead):
    queue, _ids = dead
    result = cli("dlq", "requeue", "--error-type", "ValueError", "--dry-run", "--json")
    assert result.code == 0 and result.json() == {"command": "dlq requeue", "dry_run": True, "count": 1}
    assert queue.get_stats()["dead_letter"] == 3
    assert cli("dlq", "requeue", "--dry-run").out == "would requeue 3 jobs (dry run: nothing was changed)\n"


def test_dlq_requeue_by_age_moves_only_the_old_job(cli, dead):
    queue, ids = dead
    result = cli("dlq", "requeue", "--older-than", "1h")
    assert result.code == 0 and result.out == "requeued 1 job\n"
    assert queue.get_job(ids[0]).is_pending and queue.get_stats()["dead_letter"] == 2


def test_dlq_requeue_without_a_filter_asks_for_all_like_prune(cli, dead):
    # Given three dead letters
    queue, _ids = dead
    # When `dlq requeue` is given no filter, nothing moves and it says how to ask for everything
    refused = cli("dlq", "requeue")
    assert refused.code == 2 and "--all to requeue every one" in refused.err
    assert queue.get_stats()["dead_letter"] == 3
    # Then --all requeues every one
    assert cli("dlq", "requeue", "--all").out == "requeued 3 jobs\n"
    assert queue.get_stats()["dead_letter"] == 0


def test_dlq_filters_find_our_own_errors_by_their_short_name(cli, dead):
    # Given a dead letter stored under our qualified error name
    queue, ids = dead
    assert queue.get_job(ids[0]).error_type == "queue_max.retry.Permanent"
    # Then the short name and the qualified one both find it
    for name in ("Permanent", "queue_max.retry.Permanent"):
        entries = cli("dlq", "list", "--error-type", name, "--json").json()
        assert [e["original_job_id"] for e in entries] == [ids[0]]


def test_retry_without_filters_requeues_every_dead_letter(cli, dead):
    queue, _ids = dead
    assert cli("retry", "--json").json() == {"command": "retry", "dry_run": False, "count": 3}
    assert queue.get_stats()["dead_letter"] == 0 and queue.get_stats()["pending"] == 4


def test_retry_one_job_by_shard_and_id(cli, dead):
    queue, ids = dead
    shard = queue.shard_of(ids[2])
    result = cli("retry", "--shard", str(shard), "--job-id", str(ids[2]))
    assert result.code == 0 and result.out == "requeued 1 job\n"
    job = queue.get_job(ids[2])
    assert job.is_pending and job.attempts == 0


def test_retry_of_a_job_that_is_not_dead_exits_1_naming_it(cli, dead):
    _queue, ids = dead
    result = cli("retry", "--job-id", str(ids[3]))
    assert result.code == 1 and f"not in the dead-letter queue: job {ids[3]}" in result.err


# ── dlq prune ──
def test_dlq_prune_needs_an_age_or_all(cli, dead):
    result = cli("dlq", "prune")
    assert result.code == 2 and "--older-than DURATION, or --all" in result.err


def test_dlq_prune_by_age_with_a_dry_run_first(cli, dead):
    queue, ids = dead
    assert cli("dlq", "prune", "--older-than", "1h", "--dry-run", "--json").json()["count"] == 1
    assert queue.get_stats()["dead_letter"] == 3
    assert cli("dlq", "prune", "--older-than", "1h", "--json").json() == {
        "command": "dlq prune", "dry_run": False, "count": 1}
    assert queue.get_job(ids[0]) is None and queue.get_stats()["dead_letter"] == 2


def test_dlq_prune_all_of_one_shard(cli, dead):
    queue, _ids = dead
    before = [e for e in queue.dlq_list() if e.shard_id == 0]
    assert cli("dlq", "prune", "--all", "--shard", "0").out == f"deleted {len(before)} job{'s' if len(before) != 1 else ''}\n"
    assert all(e.shard_id == 1 for e in queue.dlq_list())


def test_dlq_prune_has_no_error_type_filter(cli, dead):
    result = cli("dlq", "prune", "--all", "--error-type", "Crash")
    assert result.code == 2 and "unrecognized arguments" in result.err


# ── purge ──
@pytest.fixture
def finished(make_cli_queue):
    """Two jobs completed 10 days ago, one completed now, one cancelled 10 days ago, one pending."""
    clock = FakeClock(time.time() - 10 * 86400)
    queue = make_cli_queue(clock=clock)  # results kept 1 day: the old ones have expired too
    for n in range(5):
        queue.enqueue({"n": n})
    old = queue.claim_jobs("w", 2)
    queue.complete_jobs([(job, None) for job in old])
    pending = queue.list_jobs("pending", 10)
    queue.cancel(pending[0].id)
    clock.set_wall(time.time())
    queue.complete_job(queue.claim_jobs("w", 1)[0])
    return queue


def test_purge_dry_run_counts_old_finished_jobs(cli, finished):
    assert cli("purge", "--days", "7", "--dry-run", "--json").json() == {
        "command": "purge", "dry_run": True, "count": 3}
    assert finished.get_stats()["completed"] == 3


def test_purge_deletes_finished_jobs_older_than_the_days(cli, finished):
    result = cli("purge", "--days", "7")
    assert result.code == 0 and result.out == "deleted 3 jobs\n"
    stats = finished.get_stats()
    assert (stats["completed"], stats["cancelled"], stats["pending"]) == (1, 0, 1)


def test_purge_takes_days_as_a_duration_too(cli, finished):
    assert cli("purge", "--days", "12h", "--dry-run", "--json").json()["count"] == 3


def test_purge_also_drops_completed_jobs_whose_result_expired_and_the_dry_run_agrees(cli, finished):
    # the two jobs completed 10 days ago kept their results for 1 day: they go even with --days 11
    assert cli("purge", "--days", "11", "--dry-run", "--json").json()["count"] == 2
    assert cli("purge", "--days", "11", "--json").json()["count"] == 2


def test_purge_by_status_needs_yes(cli, finished):
    refused = cli("purge", "--status", "pending")
    assert refused.code == 2 and "add --yes" in refused.err
    assert cli("purge", "--status", "pending", "--dry-run", "--json").json()["count"] == 1
    assert cli("purge", "--status", "pending", "--yes", "--json").json()["count"] == 1
    assert finished.get_stats()["pending"] == 0


def test_purge_refuses_days_and_status_together(cli, finished):
    result = cli("purge", "--days", "1", "--status", "failed")
    assert result.code == 2 and "not allowed with argument" in result.err


# ── recover ──
def test_recover_requeues_jobs_whose_lease_expired(cli, make_cli_queue):
    # Given a job claimed an hour ago by a worker that died (its 30 s lease ran out)
    clock = FakeClock(time.time() - 3600)
    queue = make_cli_queue(clock=clock)
    ref = queue.enqueue({"x": 1})
    queue.claim_jobs("dead-worker", 1)
    # When recover runs, after a dry run
    assert cli("recover", "--dry-run", "--json").json() == {"command": "recover", "dry_run": True, "count": 1}
    assert queue.get_job(ref["id"]).is_processing
    result = cli("recover")
    # Then the job is pending again and the lost attempt is on record
    assert result.code == 0 and result.out == "recovered 1 job\n"
    job = queue.get_job(ref["id"])
    assert job.is_pending and job.errors[-1].type == "LeaseExpired"


def test_recover_leaves_live_leases_alone(cli, make_cli_queue):
    queue = make_cli_queue()
    queue.enqueue({})
    queue.claim_jobs("alive", 1)
    assert cli("recover", "--json").json()["count"] == 0
