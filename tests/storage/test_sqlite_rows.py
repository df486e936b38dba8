"""SQLite job ids and rows: one id encoding and one row decoder, whatever the path."""

from __future__ import annotations

import json

import pytest

from queue_max.models import ErrorInfo, NewJob
from queue_max.storage.sqlite import MAX_SHARDS, ShardManager

NOW = 1_800_000_000.0


def test_a_claimed_job_reads_the_same_as_the_job_fetched_by_its_id(tmp_path):
    # Given a job that failed once with a stored error and is due again
    backend = ShardManager(tmp_path / "q", 3)
    ref = backend.enqueue_many([NewJob('{"n": 1}', priority=2, shard_key=5, max_attempts=3)], NOW)[0]
    first = backend.claim("w1", 1, 30.0, NOW)[0]
    backend.retry(first.lease, NOW + 1, ErrorInfo("ValueError", "bad"), NOW)
    # When it is claimed again and then fetched by id
    claimed = backend.claim("w2", 1, 30.0, NOW + 1)[0]
    fetched = backend.get(ref.id)
    # Then both paths decode every column the same way (the fetch adds the error history)
    assert fetched is not None
    assert claimed._replace(errors=fetched.errors) == fetched
    assert (claimed.id, claimed.shard_id, claimed.shard_key) == (ref.id, ref.shard_id, 5)
    assert (claimed.tentativas, claimed.worker_id, claimed.last_error) == (2, "w2", "bad")
    assert [e.message for e in fetched.errors] == ["bad"]
    backend.close()


def test_a_batch_claim_reads_each_job_the_same_as_the_job_fetched_by_its_id(tmp_path):
    # Given jobs of two queues, one with every option, one failed once and due again, on one shard
    backend = ShardManager(tmp_path / "q", 1)
    backend.enqueue_many([NewJob('{"n": 1}', priority=2, shard_key=5, max_attempts=3, dedupe_key="k",
                                 queue_name="mail", concurrency_key="c"),
                          NewJob('{"n": 2}'), NewJob('{"n": 3}', priority=1)], NOW)
    first = backend.claim("w0", 3, 30.0, NOW)
    backend.retry(first[1].lease, NOW + 1, ErrorInfo("ValueError", "bad"), NOW)
    backend.release([first[0].lease, first[2].lease], NOW)
    # When a batch claim leases them all, and each is then fetched by id
    claimed = backend.claim("w2", 3, 30.0, NOW + 1)
    fetched = [backend.get(job.id) for job in claimed]
    # Then the batch path decodes every column as the fetch does (which adds the error history)
    assert len(claimed) == 3
    assert [job._replace(errors=row.errors) for job, row in zip(claimed, fetched)] == fetched
    assert {(job.worker_id, job.started_ts, job.lease_expires_ts) for job in claimed} == {("w2", NOW + 1, NOW + 31)}
    assert sorted(job.last_error or "" for job in claimed) == ["", "", "bad"]
    backend.close()


def test_every_path_names_a_job_by_the_same_id(tmp_path):
    # Given jobs written one at a time, as a batch of payloads and with options on a 3-shard queue
    backend = ShardManager(tmp_path / "q", 3)
    single = backend.enqueue_many([NewJob('{"n": 0}')], NOW)[0].id
    batch = backend.enqueue_payloads([{"n": i} for i in range(1, 4)], 4, NOW, 1 << 20)
    grouped = [r.id for r in backend.enqueue_many([NewJob(json.dumps({"n": 9}), priority=1)] * 2, NOW)]
    ids = [single, *batch, *grouped]
    # When each is claimed, and one is buried into the dead letters
    claimed = {job.id: job for job in backend.claim("w", 10, 30.0, NOW)}
    backend.bury(claimed[single].lease, ErrorInfo("E", "dead"), NOW)
    # Then the claim, the fetch, the shard routing and the dead letter agree on each id
    assert sorted(claimed) == sorted(ids)
    for job_id in ids:
        assert job_id % MAX_SHARDS == backend.shard_of(job_id) == claimed[job_id].shard_id
        assert backend.get(job_id).id == job_id  # type: ignore[union-attr]
    assert [d.original_job_id for d in backend.dlq_list(10)] == [single]
    backend.close()


@pytest.mark.parametrize("result_ttl", [3600.0, 0.0])
def test_a_grouped_ack_refuses_only_the_lease_that_was_lost(tmp_path, result_ttl):
    # Given two jobs claimed by w1, and one of them released and claimed by w2 meanwhile
    backend = ShardManager(tmp_path / "q", 1)
    backend.enqueue_many([NewJob(json.dumps({"n": i})) for i in range(2)], NOW)
    kept, given_back = backend.claim("w1", 2, 30.0, NOW)
    backend.release([given_back.lease], NOW)
    [again] = backend.claim("w2", 1, 30.0, NOW)
    # When w1 acknowledges both in one group
    lost = backend.complete_many([(kept.lease, None), (given_back.lease, None)], NOW + 1, result_ttl)
    # Then only the lost lease is refused; the kept job is completed and w2's claim is untouched
    assert lost == [given_back.lease]
    done = backend.get(kept.id)
    assert done is None if result_ttl == 0 else done.status.value == "completed"
    assert backend.get(again.id).worker_id == "w2"  # type: ignore[union-attr]
    backend.close()


def test_a_job_another_process_adds_to_a_shard_found_empty_is_claimed_at_once(tmp_path):
    # Given a worker's backend that just found all three shards empty
    mine, theirs = ShardManager(tmp_path / "q", 3), ShardManager(tmp_path / "q", 3)
    assert mine.claim("w", 4, 30.0, NOW) == []
    # When another process's backend adds a job (without the clock moving on)
    ref = theirs.enqueue_many([NewJob('{"late": 1}', shard_key=2)], NOW)[0]
    # Then the next claim still looks at the shard it found empty, and gets the job
    assert [job.id for job in mine.claim("w", 4, 30.0, NOW)] == [ref.id]
    mine.close()
    theirs.close()


def test_a_busy_shard_is_drained_without_a_look_at_the_empty_ones(tmp_path):
    # Given a thread that met six empty shards, then 40 jobs on one of them, half of them claimed
    backend = ShardManager(tmp_path / "q", 6)
    assert backend.claim("w", 20, 30.0, NOW) == []
    backend.enqueue_many([NewJob(json.dumps({"n": i}), shard_key=4) for i in range(40)], NOW)
    assert len(backend.claim("w", 20, 30.0, NOW)) == 20
    statements: list[str] = []
    for shard in backend.shards:
        shard.conn().set_trace_callback(statements.append)
    # When it pops them one at a time (each at its own instant, within the empty shards' hint)
    popped = [backend.claim("w", 1, 30.0, NOW + 0.001 + 0.0001 * i) for i in range(20)]
    # Then each pop is one statement on the busy shard, whatever empty shards it met before
    assert all(len(jobs) == 1 for jobs in popped)
    # (the tallies trigger that a claim runs reports the claim's text again: not a statement)
    run = [s for k, s in enumerate(statements) if k == 0 or s != statements[k - 1]]
    assert len(run) == 20 and all(s.lstrip().startswith("UPDATE fila SET status = 'processing'") for s in run)
    backend.close()


def test_a_lone_claim_takes_the_best_head_across_named_queues(tmp_path):
    # Given one shard with jobs in three queues, the best of them second in its own queue's order
    backend = ShardManager(tmp_path / "q", 1)
    jobs = [NewJob('{"n": 1}', priority=1, queue_name="alpha"), NewJob('{"n": 2}', priority=3, queue_name="beta"),
            NewJob('{"n": 3}', priority=3, queue_name="alpha", run_at=NOW - 5), NewJob('{"n": 4}', queue_name="gamma")]
    backend.enqueue_many(jobs, NOW)
    # When jobs are claimed one at a time, each alone in its claim
    order = [backend.claim("w", 1, 30.0, NOW)[0].payload["n"] for _ in range(4)]
    # Then they come in priority, then due-time order, whatever queue holds them
    assert order == [3, 2, 1, 4]
    assert backend.claim("w", 1, 30.0, NOW) == []
    backend.close()


def test_a_lone_claim_passes_over_a_queue_whose_jobs_are_all_running(tmp_path):
    # Given a queue whose only job is running and another queue (later in name order) with one waiting
    backend = ShardManager(tmp_path / "q", 1)
    backend.enqueue_many([NewJob('{"n": 1}', priority=9, queue_name="a")], NOW)
    assert len(backend.claim("w", 1, 30.0, NOW)) == 1
    backend.enqueue_many([NewJob('{"n": 2}', queue_name="b")], NOW)
    # When one job is claimed, from every queue and from the waiting job's queue by name
    anywhere = backend.claim("w", 1, 30.0, NOW)
    # Then it is the waiting job, and a second claim finds nothing
    assert [job.payload for job in anywhere] == [{"n": 2}]
    assert backend.claim("w", 1, 30.0, NOW) == [] == backend.claim("w", 1, 30.0, NOW, queue="b")
    backend.close()


def test_a_shard_that_stays_empty_is_looked_at_less_and_less_often(tmp_path):
    # Given a thread popping jobs one at a time from the one busy shard of six, for half a second
    backend = ShardManager(tmp_path / "q", 6)
    backend.enqueue_many([NewJob(json.dumps({"n": i}), shard_key=4) for i in range(500)], NOW)
    statements: list[str] = []
    for shard in backend.shards:
        shard.conn().set_trace_callback(statements.append)
    popped = [backend.claim("w", 1, 30.0, NOW + 0.001 * i) for i in range(500)]
    # Then every pop got a job, and the empty shards were looked at a few times each, not every
    # 5 ms (a look at an empty shard that finds it empty again doubles the wait, up to 0.1 s)
    assert all(len(jobs) == 1 for jobs in popped)
    looks = [s for s in statements if s.startswith("SELECT EXISTS (SELECT 1 FROM fila WHERE ready = 1")]
    assert len(looks) <= 5 * 9
    backend.close()


def test_a_job_this_process_adds_to_a_shard_found_empty_ends_the_wait(tmp_path):
    # Given a thread busy on one shard that found the other one empty (the clock standing still)
    backend = ShardManager(tmp_path / "q", 2)
    backend.enqueue_many([NewJob(json.dumps({"n": i}), shard_key=0) for i in range(40)], NOW)
    while backend._empty_hints(None)[1] is None:
        assert backend.claim("w", 1, 30.0, NOW)
    # When this process adds a job to the empty shard
    ref = backend.enqueue_many([NewJob('{"late": 1}', shard_key=1)], NOW)[0]
    # Then the thread's next pops visit that shard again in their random turn (without the note
    # ending, the busy shard would serve every one of them while the clock stands still)
    ids = [job.id for _ in range(30) for job in backend.claim("w", 1, 30.0, NOW)]
    assert ref.id in ids
    backend.close()
