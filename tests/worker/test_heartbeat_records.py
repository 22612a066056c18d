"""Liveness and record plumbing in process: the heartbeat that keeps an attempt alive, the retry that lets
a job's final write outlive a short Redis outage, restore of records from the store, and the set of
active jobs that the per-caller limit counts."""
from __future__ import annotations

import time

import pytest
import redis

from worker import layout, lifecycle
from worker.heartbeat import Heartbeat
from worker.records import when_redis_answers
from worker.spec import JobSpec
from worker.status import JobKind, JobStatus
from tests.service.helpers import dense_spec


def test_heartbeat_keeps_the_attempt_alive_and_stops_when_superseded(ctx):
    job = lifecycle.submit(ctx.records, ctx.conn, ctx.settings, "public", JobKind.TRAIN,
                           JobSpec.model_validate(dense_spec("ds_0000000000000000")), None)["id"]
    beat = Heartbeat(ctx.records, job, 1, interval=0.05, ttl=0.3).start()
    time.sleep(0.5)
    assert ctx.records.is_alive(job) and ctx.conn.get(layout.alive_key(job)) == b"1"
    ctx.conn.hset(layout.job_key(job), "attempt", "2")
    time.sleep(0.2)
    assert not beat._thread.is_alive()
    time.sleep(0.35)
    assert not ctx.records.is_alive(job)
    beat.stop()


def test_final_writes_wait_for_redis_and_give_up_after_their_timeout():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise redis.ConnectionError("restarting")
        return "written"

    assert when_redis_answers(flaky, timeout=5, first_wait=0.01) == "written" and len(calls) == 3
    with pytest.raises(redis.ConnectionError):
        when_redis_answers(lambda: (_ for _ in ()).throw(redis.ConnectionError("gone")), timeout=0.05,
                           first_wait=0.01)


def test_records_come_back_from_the_store_after_redis_loses_them(ctx):
    spec = JobSpec.model_validate(dense_spec("ds_0000000000000000"))
    queued = lifecycle.submit(ctx.records, ctx.conn, ctx.settings, "public", JobKind.TRAIN, spec, "q")["id"]
    done = lifecycle.submit(ctx.records, ctx.conn, ctx.settings, "public", JobKind.TRAIN, spec, "d")["id"]
    ctx.records.transition(done, [JobStatus.QUEUED], JobStatus.CANCELED)
    ctx.conn.flushall()
    assert ctx.records.get(done)["status"] == JobStatus.CANCELED  # read from the store's snapshot meanwhile
    assert sorted(lifecycle.restore_from_store(ctx.records, ctx.conn, ctx.settings)) == sorted([queued, done])
    assert ctx.records.fields(queued, "status", "attempt") == {"status": "queued", "attempt": 2}
    assert ctx.records.fields(done, "status")["status"] == "canceled"
    assert ctx.records.ids("public") == [done, queued]
    assert lifecycle.active_jobs(ctx.records, "public") == [queued]
    assert lifecycle.restore_from_store(ctx.records, ctx.conn, ctx.settings) == []


def test_active_jobs_follow_status_changes_and_are_indexed_once_where_missing(ctx):
    spec = JobSpec.model_validate(dense_spec("ds_0000000000000000"))

    def submit(tenant):
        return lifecycle.submit(ctx.records, ctx.conn, ctx.settings, tenant, JobKind.TRAIN, spec, None)["id"]

    first, second, other = submit("public"), submit("public"), submit("other")
    assert lifecycle.active_jobs(ctx.records, "public") == [second, first]
    assert ctx.records.transition(first, [JobStatus.QUEUED], JobStatus.RUNNING, expect_attempt=1)
    assert lifecycle.active_jobs(ctx.records, "public") == [second, first]
    assert ctx.records.transition(first, [JobStatus.RUNNING], JobStatus.QUEUED, attempt=2)  # requeued
    assert ctx.records.transition(first, [JobStatus.QUEUED], JobStatus.RUNNING)
    assert ctx.records.transition(first, [JobStatus.RUNNING], JobStatus.SUCCEEDED)
    lifecycle.cancel(ctx.records, ctx.conn, other)
    assert lifecycle.active_jobs(ctx.records, "public") == [second]
    assert ctx.records.active_count("public") == 1 and ctx.records.active_count("other") == 0

    # A Redis written before the sets existed: reconcile builds them once from the records.
    ctx.conn.delete(layout.active_key("public"), layout.ACTIVE_INDEXED)
    ctx.conn.set(layout.INSTANCE, "kept")
    assert ctx.records.active_count("public") == 0
    lifecycle.reconcile(ctx.records, ctx.conn, ctx.settings)
    assert lifecycle.active_jobs(ctx.records, "public") == [second]
    assert ctx.records.index_active() == 0  # built already
