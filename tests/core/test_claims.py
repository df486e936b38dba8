"""The claims a Queue remembers until their acknowledgement (`_claims.Claims`)."""

from __future__ import annotations

import pytest

from queue_max import LeaseLost, Queue


def test_a_grouped_ack_forgets_its_claims_but_not_a_newer_claim_of_the_same_job(queue: Queue) -> None:
    # Given two claimed jobs, the second given back and claimed again (a newer lease)
    queue.enqueue_batch([{"payload": {"n": 1}}, {"payload": {"n": 2}}])
    first, second = queue.claim_jobs("w", 2)
    queue.release_job(second)
    (again,) = queue.claim_jobs("w", 1)
    assert again.id == second.id and again.lease_token != second.lease_token
    # When both old claims are acknowledged in one group
    lost = queue.complete_jobs([(first, None), (second, None)])
    # Then the stale one lost its lease, the first is no longer held by id,
    # and the newer claim of the same job is still remembered
    assert lost == [second.id]
    with pytest.raises(LeaseLost):
        queue.complete_job(first.id)
    assert queue.complete_job(again.id) is True


def test_an_empty_claim_remembers_nothing_and_acks_by_id_still_work(queue: Queue) -> None:
    # Given an empty queue, then one job
    assert queue.claim_jobs("w", 4) == []
    job_id = queue.enqueue({"n": 1})["id"]
    # When it is claimed and acknowledged by id
    (job,) = queue.claim_jobs("w", 4)
    # Then the claim was remembered
    assert job.id == job_id and queue.complete_job(job_id) is True
