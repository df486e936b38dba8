"""`--queue-name` on inspect, dlq (list, requeue, prune, retry), purge, health and metrics, and
`enqueue --dedupe-window`: each command sees or changes one named queue's jobs only."""

from __future__ import annotations

import json
import time

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue, run_module  # noqa: F401 - fixtures

from queue_max import Permanent
from queue_max._clock import FakeClock

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover - the dev extra installs it
    text_string_to_metric_families = None

RULE = "queue_name must be 1 to 64 characters"


@pytest.fixture
def two_queues(make_cli_queue):
    """2 shards; queue 'mail': 2 dead letters and 1 pending job; queue 'reports': 1 dead letter and
    2 pending jobs. Returns the queue and the ids of the dead-lettered jobs by queue name."""
    queue = make_cli_queue(shards=2)
    dead_by_queue: dict[str, set[int]] = {}
    for name, dead, pending in (("mail", 2, 1), ("reports", 1, 2)):
        queue.enqueue_batch([{"payload": {"q": name, "n": n}, "queue_name": name, "shard_key": n}
                             for n in range(dead + pending)])
        jobs = queue.claim_jobs("w", dead, queues=[name])
        for job in jobs:
            queue.fail_job(job, error=Permanent("no"))
        dead_by_queue[name] = {job.id for job in jobs}
    return queue, dead_by_queue


def dead_ids(cli, *extra: str) -> set[int]:
    return {entry["original_job_id"] for entry in cli("dlq", "list", "--json", *extra).json()}


# ── inspect ──
def test_inspect_shows_a_job_of_the_named_queue_and_its_queue(cli, two_queues):
    _queue, ids = two_queues
    job_id = min(ids["mail"])
    shown = cli("inspect", str(job_id), "--queue-name", "mail")
    assert shown.code == 0 and "queue       mail" in shown.out
    assert cli("inspect", str(job_id), "--queue-name", "mail", "--json").json()["queue_name"] == "mail"


def test_inspect_refuses_a_job_of_another_queue_like_an_unknown_id(cli, two_queues):
    _queue, ids = two_queues
    (job_id,) = ids["reports"]
    result = cli("inspect", str(job_id), "--queue-name", "mail")
    assert result.code == 1 and result.out == ""
    assert result.err.strip() == (f"queue-max: error: no job with id {job_id} in queue 'mail' "
                                  "(it is in queue 'reports')")
    assert cli("inspect", "999999", "--queue-name", "mail").err.strip() == "queue-max: error: no job with id 999999"


# ── dlq ──
def test_dlq_list_keeps_the_dead_letters_of_the_named_queue(cli, two_queues):
    _queue, ids = two_queues
    assert dead_ids(cli, "--queue-name", "mail") == ids["mail"]
    assert dead_ids(cli, "--queue-name", "reports") == ids["reports"]
    assert dead_ids(cli) == ids["mail"] | ids["reports"]
    # a name no job has used is an empty queue, not an error (queues are implicit)
    empty = cli("dlq", "list", "--queue-name", "never-used")
    assert empty.code == 0 and empty.out.strip() == "no dead letters match"


def test_dlq_list_shows_the_queue_of_each_dead_letter_in_the_table_and_the_json(cli, two_queues):
    # Given dead letters in the queues "mail" and "reports"
    _queue, ids = two_queues
    # When they are listed as JSON, then each entry names its job's queue
    listed = {e["original_job_id"]: e["queue_name"] for e in cli("dlq", "list", "--json").json()}
    assert listed == {**{i: "mail" for i in ids["mail"]}, **{i: "reports" for i in ids["reports"]}}
    # And the table has a queue column, filled per row, filtered or not
    header, *rows = cli("dlq", "list").out.splitlines()
    assert header.split()[:4] == ["job_id", "shard", "queue", "attempts"]
    assert {int(row.split()[0]): row.split()[2] for row in rows} == listed
    (only,) = cli("dlq", "list", "--queue-name", "reports").out.splitlines()[1:]
    assert only.split()[2] == "reports"


def test_dlq_requeue_by_queue_moves_only_that_queues_dead_letters(cli, two_queues):
    queue, ids = two_queues
    # A dry run counts the named queue's dead letters and changes nothing
    dry = cli("dlq", "requeue", "--queue-name", "mail", "--dry-run", "--json").json()
    assert dry == {"command": "dlq requeue", "dry_run": True, "count": 2, "queue_name": "mail"}
    assert len(dead_ids(cli)) == 3
    # The queue name narrows the requeue, like --shard, so it needs no --all
    result = cli("dlq", "requeue", "--queue-name", "mail")
    assert result.code == 0 and result.out.strip() == "requeued 2 jobs of queue 'mail'"
    assert dead_ids(cli) == ids["reports"]
    assert queue.counts(queue_name="mail")["pending"] == 3


def test_dlq_requeue_of_an_id_in_another_queue_exits_1_and_changes_nothing(cli, two_queues):
    _queue, ids = two_queues
    (other,) = ids["reports"]
    result = cli("dlq", "requeue", "--queue-name", "mail", "--job-id", str(other))
    assert result.code == 1
    assert f"not in the dead-letter queue (with these filters): job {other}" in result.err
    assert other in dead_ids(cli)


def test_retry_takes_a_queue_name_too(cli, two_queues):
    _queue, ids = two_queues
    assert cli("retry", "--queue-name", "reports").out.strip() == "requeued 1 job of queue 'reports'"
    assert dead_ids(cli) == ids["mail"]


def test_dlq_prune_by_queue_still_needs_an_age_or_all(cli, two_queues):
    _queue, ids = two_queues
    refused = cli("dlq", "prune", "--queue-name", "mail")
    assert refused.code == 2 and "--older-than DURATION, or --all" in refused.err
    assert len(dead_ids(cli)) == 3
    assert cli("dlq", "prune", "--queue-name", "mail", "--all", "--dry-run", "--json").json()["count"] == 2
    assert cli("dlq", "prune", "--queue-name", "mail", "--older-than", "1h").out.strip() == \
        "deleted 0 jobs of queue 'mail'"
    assert cli("dlq", "prune", "--queue-name", "mail", "--all").out.strip() == "deleted 2 jobs of queue 'mail'"
    assert dead_ids(cli) == ids["reports"]


# ── purge ──
def test_purge_by_status_and_queue_deletes_only_that_queues_jobs(cli, two_queues):
    queue, _ids = two_queues
    refused = cli("purge", "--status", "pending", "--queue-name", "reports")
    assert refused.code == 2 and "deletes every pending job of queue 'reports'; add --yes" in refused.err
    assert cli("purge", "--status", "pending", "--queue-name", "reports", "--dry-run").out.strip() == \
        "would delete 2 jobs of queue 'reports' (dry run: nothing was changed)"
    done = cli("purge", "--status", "pending", "--queue-name", "reports", "--yes", "--json").json()
    assert done == {"command": "purge", "dry_run": False, "count": 2, "queue_name": "reports"}
    assert queue.counts(queue_name="reports")["pending"] == 0
    assert queue.counts(queue_name="mail")["pending"] == 1


def test_purging_failed_jobs_of_a_queue_takes_their_dead_letters_only(cli, two_queues):
    _queue, ids = two_queues
    assert cli("purge", "--status", "failed", "--queue-name", "mail", "--yes").out.strip() == \
        "deleted 2 jobs of queue 'mail'"
    assert dead_ids(cli) == ids["reports"]


def test_purge_by_age_and_queue_deletes_only_that_queues_finished_jobs(cli, make_cli_queue):
    # Given finished jobs in two queues, completed two days ago
    queue = make_cli_queue(clock=FakeClock(time.time() - 2 * 86400))
    for name in ("mail", "reports"):
        queue.enqueue_batch([{"payload": {"n": n}, "queue_name": name} for n in range(2)])
        for job in queue.claim_jobs("w", 2, queues=[name]):
            queue.complete_job(job)
    assert cli("purge", "--days", "1", "--queue-name", "mail", "--dry-run", "--json").json()["count"] == 2
    assert cli("purge", "--days", "1", "--queue-name", "mail").out.strip() == "deleted 2 jobs of queue 'mail'"
    assert queue.counts(queue_name="mail")["completed"] == 0
    assert queue.counts(queue_name="reports")["completed"] == 2


# ── health ──
def test_health_of_one_queue_checks_its_backlog_only(cli, two_queues):
    over = cli("health", "--queue-name", "reports", "--max-backlog", "1", "--json")
    assert over.code == 3
    report = over.json()
    assert report["queue_name"] == "reports" and report["problems"] == ["backlog"]
    assert report["checks"]["backlog"]["detail"] == "2 ready jobs in queue 'reports' (max 1)"
    assert cli("health", "--queue-name", "mail", "--max-backlog", "1").code == 0
    assert cli("health", "--max-backlog", "1").code == 3  # 3 ready jobs in all
    text = cli("health", "--queue-name", "mail").out
    assert text.startswith("healthy: queue 'mail' at ")


def test_health_of_one_queue_sees_its_expired_leases_and_its_age(cli, make_cli_queue):
    # Given a mail job whose worker died ten minutes ago, and a report due now
    queue = make_cli_queue(clock=FakeClock(time.time() - 600))
    queue.enqueue({"n": 1}, queue_name="mail")
    queue.enqueue({"n": 2}, queue_name="reports", delay=600)
    queue.claim_jobs("dead-worker", 1, queues=["mail"])
    mail = cli("health", "--queue-name", "mail", "--max-age", "1m", "--json").json()
    assert mail["problems"] == ["expired_leases"] and mail["checks"]["expired_leases"]["count"] == 1
    reports = cli("health", "--queue-name", "reports", "--max-age", "1m", "--json").json()
    assert reports["healthy"] is True and reports["checks"]["expired_leases"]["count"] == 0


def test_liveness_of_one_queue_is_the_liveness_of_the_host(cli, two_queues):
    result = cli("health", "--liveness", "--queue-name", "reports", "--max-backlog", "1", "--json")
    assert result.code == 0 and set(result.json()["checks"]) == {"storage", "workers"}


# ── metrics ──
def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    assert text_string_to_metric_families is not None
    return {(sample.name, tuple(sorted(sample.labels.items())), sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.mark.skipif(text_string_to_metric_families is None, reason="prometheus_client is not installed")
def test_metrics_of_one_queue_are_its_series_of_the_full_exposition(cli, two_queues):
    queue, _ids = two_queues
    (job,) = queue.claim_jobs("w", 1, queues=["reports"])
    queue.complete_job(job)
    queue.close()  # the producer flushes its event rollup
    full = series(cli("metrics").out)
    reports = cli("metrics", "--queue-name", "reports")
    assert reports.code == 0
    mine = series(reports.out)
    # Then every series is labelled with that queue, and is exactly the full exposition's line
    # (but for the backlog's age, which grows between the two reads)
    assert mine and all(dict(labels).get("queue") == "reports" for _name, labels, _value in mine)
    aging = "queue_max_queue_oldest_ready_job_age_seconds"
    assert {s for s in mine if s[0] != aging} == {s for s in full if dict(s[1]).get("queue") == "reports"
                                                  and s[0] != aging}
    assert [s[0] for s in mine if s[0] == aging] == [aging]
    # And the per-queue figures are there
    values = {(name, dict(labels).get("status") or dict(labels).get("outcome")): value
              for name, labels, value in mine}
    assert values[("queue_max_queue_ready_jobs", None)] == 1
    assert values[("queue_max_queue_dead_letter_jobs", None)] == 1
    assert values[("queue_max_queue_jobs", "completed")] == 1
    assert values[("queue_max_job_attempts_total", "completed")] == 1
    assert values[("queue_max_job_attempts_total", "dead_letter")] == 1
    assert not any(dict(labels).get("queue") == "mail" for _name, labels, _value in mine)
    assert any(dict(labels).get("queue") == "mail" for _name, labels, _value in full)


@pytest.mark.skipif(text_string_to_metric_families is None, reason="prometheus_client is not installed")
def test_metrics_of_a_queue_never_used_is_an_empty_valid_exposition(cli, two_queues):
    result = cli("metrics", "--queue-name", "never-used")
    assert result.code == 0 and series(result.out) == set()
    assert "# TYPE queue_max_queue_jobs gauge" in result.out


# ── bad names ──
@pytest.mark.parametrize("command", [
    ["inspect", "1024"], ["dlq", "list"], ["dlq", "requeue", "--all"], ["dlq", "prune", "--all"], ["retry"],
    ["purge", "--status", "pending", "--yes"], ["purge", "--days", "0"], ["health"], ["metrics"],
])
def test_a_bad_queue_name_is_a_usage_error_and_changes_nothing(cli, two_queues, command):
    queue, _ids = two_queues
    before = queue.counts()
    result = cli(*command, "--queue-name", "no spaces")
    assert result.code == 2 and RULE in result.err and "'no spaces'" in result.err
    assert result.out == ""
    assert queue.counts() == before


def test_dlq_requeue_by_queue_in_a_real_process(data_dir, two_queues):
    _queue, ids = two_queues
    done = run_module("--data-dir", str(data_dir), "dlq", "requeue", "--queue-name", "reports", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"command": "dlq requeue", "dry_run": False, "count": 1, "queue_name": "reports"}
    bad = run_module("--data-dir", str(data_dir), "purge", "--status", "failed", "--yes", "--queue-name", "a/b")
    assert bad.returncode == 2 and RULE in bad.stderr
    listed = run_module("--data-dir", str(data_dir), "dlq", "list", "--json")
    assert {e["original_job_id"]: e["queue_name"] for e in json.loads(listed.stdout)} == \
        {job_id: "mail" for job_id in ids["mail"]}


# ── enqueue --dedupe-window ──
def test_a_dedupe_window_keeps_a_retried_producer_from_running_a_job_twice(cli, make_cli_queue):
    queue = make_cli_queue()
    args = ("enqueue", "--payload", '{"order": 7}', "--dedupe-key", "order-7", "--dedupe-window", "10m")
    first = cli(*args, "--json").json()
    assert first["created"] is True
    (job,) = queue.claim_jobs("w", 1)
    queue.complete_job(job)
    # When the producer retries after the job completed, within the window
    again = cli(*args)
    # Then no second job is stored, and the output says which job holds the key
    assert again.code == 0
    assert again.out.strip() == (f"not enqueued: job {first['id']} (shard {first['shard_id']}) already holds "
                                 "dedupe key 'order-7', live or completed within the window")
    assert cli(*args, "--json").json() == {**first, "created": False}
    assert queue.counts()["completed"] == 1 and queue.counts()["pending"] == 0
    # Without the window, the completed job no longer holds the key (the live-only meaning)
    assert cli("enqueue", "--payload", '{"order": 7}', "--dedupe-key", "order-7", "--json").json()["id"] != first["id"]


@pytest.mark.parametrize("extra, message", [
    (["--dedupe-window", "5m"], "--dedupe-window needs --dedupe-key"),
    (["--dedupe-key", "k", "--dedupe-window", "0"], "dedupe_window must be a finite number of seconds > 0"),
    (["--dedupe-key", "k", "--dedupe-window", "soon"], "expected a duration like 30"),
])
def test_a_bad_dedupe_window_is_a_usage_error_and_stores_nothing(cli, make_cli_queue, extra, message):
    queue = make_cli_queue()
    result = cli("enqueue", "--payload", "{}", *extra)
    assert result.code == 2 and message in result.err
    assert queue.counts()["pending"] == 0


def test_jobs_file_records_take_a_queue_name_a_dedupe_window_and_a_concurrency_key(cli, make_cli_queue, tmp_path):
    queue = make_cli_queue()
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"payload": {"n": 1}, "queue_name": "mail", "dedupe_key": "k",
                               "dedupe_window": 60, "concurrency_key": "c"}) + "\n")
    assert cli("enqueue", "--file", str(path)).code == 0
    (job,) = queue.list_jobs(queue_name="mail")
    assert (job.dedupe_key, job.concurrency_key) == ("k", "c")
    csv_path = tmp_path / "jobs.csv"
    csv_path.write_text('payload,queue_name,dedupe_key,dedupe_window\n"{""n"": 2}",reports,k2,30\n')
    assert cli("enqueue", "--file", str(csv_path)).code == 0
    assert [j.payload for j in queue.list_jobs(queue_name="reports")] == [{"n": 2}]
    # A bad window in a record names its line, and nothing is stored
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"payload": {}, "dedupe_key": "x", "dedupe_window": -1}) + "\n")
    result = cli("enqueue", "--file", str(bad))
    assert result.code == 2 and "bad.jsonl line 1" in result.err and "dedupe_window" in result.err
    assert queue.counts()["pending"] == 2


def test_dedupe_window_applies_to_payload_not_file(cli, make_cli_queue, tmp_path):
    make_cli_queue()
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"n": 1}\n')
    result = cli("enqueue", "--file", str(path), "--dedupe-window", "1m")
    assert result.code == 2 and "--dedupe-window apply to --payload" in result.err


def test_stats_of_a_queue_with_no_jobs_shows_zero_counts(cli, make_cli_queue):
    make_cli_queue().enqueue({"n": 1})
    figures = cli("stats", "--queue-name", "never-used", "--json").json()
    assert figures["queue_name"] == "never-used"
    assert (figures["pending"], figures["failed"], figures["paused"]) == (0, 0, False)
