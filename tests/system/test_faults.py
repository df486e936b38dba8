"""Fault rows of the reliability matrix not covered elsewhere (docs/reliability.md names them all).

Lock contention across processes, payloads at the size and depth limits, unicode through every
enqueue path, shard counts across processes, private files, SQL built only from constants, and
the CLI's one-line `--function` import errors. Storage faults on one Queue live in
test_storage_faults.py, shard files in test_shard_files.py, bad payloads in test_bad_input.py.
"""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from queue_max import ConfigError, InvalidPayload, JobStatus, Queue, Settings, StorageBusy
from queue_max._payload import MAX_DEPTH
from queue_max.config import ENV_VARS
from queue_max.workers import Worker

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"
FAULT_PROCS = TESTS / "chaos" / "fault_procs.py"


def role(name: str, config: dict[str, Any], **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(FAULT_PROCS), name, json.dumps(config)],
                            stdout=subprocess.PIPE, text=True, **popen)


def result_of(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


# ── SQLITE_BUSY under heavy contention ──
def hammer(tmp_path: Path, busy_timeout: float, processes: int = 6, seconds: float = 2.5) -> list[dict[str, Any]]:
    data = tmp_path / "data"
    Queue(data_dir=data, shards=1, settings=Settings(), rate_limit=0).close()
    config = {"data_dir": str(data), "busy_timeout": busy_timeout, "seconds": seconds, "batch": 10, "claim": 8}
    procs = [role("hammer", {**config, "tag": f"p{n}"}) for n in range(processes)]
    return [result_of(proc) for proc in procs]


def check_nothing_half_applied(tmp_path: Path, outs: list[dict[str, Any]]) -> None:
    returned = {b for out in outs for b in out["returned"]}
    refused = {b for out in outs for b in out["refused"]}
    with Queue(data_dir=tmp_path / "data", settings=Settings(), rate_limit=0) as queue:
        jobs = {job.id: job for job in queue.list_jobs(None, limit=10_000_000)}
    per_batch: dict[str, int] = {}
    for job in jobs.values():
        per_batch[job.payload["batch"]] = per_batch.get(job.payload["batch"], 0) + 1
    # every batch whose call returned is whole; every refused batch left nothing behind
    assert {b: per_batch.get(b) for b in returned if per_batch.get(b) != 10} == {}
    assert {b: per_batch[b] for b in refused if b in per_batch} == {}
    assert set(per_batch) <= returned
    # a completion that returned is recorded; one that raised left its job leased, token unchanged
    assert all(jobs[i].status is JobStatus.COMPLETED for out in outs for i in out["completed"])
    unacked = {job_id: token for out in outs for job_id, token in out["unacked"]}
    assert all(jobs[i].status is JobStatus.PROCESSING and jobs[i].lease_token == t for i, t in unacked.items())
    # and no job is leased that no caller was handed
    assert {i for i, job in jobs.items() if job.status is JobStatus.PROCESSING} == set(unacked)


@pytest.mark.slow
def test_contention_past_a_short_busy_timeout_is_a_typed_busy_error_and_never_half_applied(tmp_path):
    # Given 6 processes x 2 threads enqueueing, claiming and completing on one shard, with a 10 ms busy timeout
    outs = hammer(tmp_path, busy_timeout=0.01)
    # Then some calls gave up, each with StorageBusy (never a raw sqlite3 error) within the bound...
    assert [u for out in outs for u in out["unexpected"]] == []
    errors = {what: sum(out["errors"].get(what, 0) for out in outs) for what in ("enqueue_batch", "claim_jobs",
                                                                                 "complete_jobs")}
    assert sum(errors.values()) > 0, "no call ever waited past the busy timeout: the test did not contend"
    assert max(out["slowest_busy"] for out in outs) < 0.01 + 5.0  # the timeout, plus a loaded machine's scheduling
    # ...and each one changed nothing
    check_nothing_half_applied(tmp_path, outs)


@pytest.mark.slow
def test_contention_within_the_default_busy_timeout_is_retried_inside_sqlite_and_nothing_fails(tmp_path):
    # Given the same load with a busy timeout long enough to wait out the other writers
    outs = hammer(tmp_path, busy_timeout=20.0)
    # Then every call succeeded: SQLite's busy handler retried the lock for us
    assert [u for out in outs for u in out["unexpected"]] == []
    assert [out["errors"] for out in outs if out["errors"]] == []
    assert all(out["returned"] for out in outs)
    check_nothing_half_applied(tmp_path, outs)


def test_a_failure_report_refused_as_busy_can_be_retried_by_job_id(tmp_path):
    queue = Queue(data_dir=tmp_path / "d", shards=1, rate_limit=0, retry_backoff=0, retry_backoff_max=0,
                  settings=Settings().with_(busy_timeout=0.05))
    try:
        job_id = queue.enqueue({"n": 1})["id"]
        assert queue.pop_job("w") is not None
        blocker = sqlite3.connect(tmp_path / "d" / "shard_0.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageBusy):
            queue.fail_job(job_id, error="downstream timed out")
        blocker.execute("ROLLBACK")
        blocker.close()
        # the job is still ours: reporting the failure again must work, not claim the lease was lost
        assert queue.get_job(job_id).status is JobStatus.PROCESSING
        assert queue.fail_job(job_id, error="downstream timed out") is JobStatus.PENDING
    finally:
        queue.close()


# ── payloads at the size limit ──
def blob_payload(size: int, char: str = "x") -> dict[str, str]:
    """A payload whose stored JSON is exactly `size` bytes (`char` must encode to 1 or 6 bytes)."""
    width = len(json.dumps(char))  - 2
    overhead = len('{"blob":""}')
    assert (size - overhead) % width == 0
    return {"blob": char * ((size - overhead) // width)}


def enqueue_each_way(queue: Queue, payload: dict[str, Any]) -> list[int]:
    """The payload through enqueue, the bulk path of enqueue_batch and its general path."""
    return [queue.enqueue(payload)["id"],
            *queue.enqueue_batch([{"payload": payload}, {"payload": {"n": 1}}])["ids"][:1],
            *queue.enqueue_batch([{"payload": payload, "priority": 1}])["ids"]]


def test_a_payload_of_exactly_the_default_limit_is_stored_and_claimed_exactly(make_queue):
    queue = make_queue(shards=2)
    payload = blob_payload(Settings().max_payload_bytes)
    ids = enqueue_each_way(queue, payload)
    assert [queue.get_job(i).payload == payload for i in ids] == [True] * 3
    claimed = queue.claim_jobs("w", 10)
    assert sorted(job.id for job in claimed if job.payload == payload) == sorted(ids)


@pytest.mark.parametrize("char", ["x", "\u00e9"], ids=["ascii", "escaped-non-ascii"])
def test_the_limit_counts_stored_json_bytes_the_same_way_on_every_path(make_queue, char):
    queue = make_queue(shards=2, max_payload_bytes=6011)
    assert len(enqueue_each_way(queue, blob_payload(6011, char))) == 3
    stored = queue.get_stats()["pending"]
    over = {"blob": blob_payload(6011, char)["blob"] + "y"}
    for attempt in (lambda: queue.enqueue(over),
                    lambda: queue.enqueue_batch([{"payload": {"n": 1}}, {"payload": over}]),
                    lambda: queue.enqueue_batch([{"payload": over, "priority": 1}])):
        with pytest.raises(InvalidPayload, match="the limit is 6011 bytes"):
            attempt()
    assert queue.get_stats()["pending"] == stored  # the refused batches wrote nothing, not even their good item


# ── nesting at the depth limit ──
def nested(depth: int) -> dict[str, Any]:
    """A payload `depth` levels deep (the payload itself is level 1), alternating dicts and lists."""
    node: Any = {"leaf": "\u00e9"}
    for level in range(depth - 1, 0, -1):
        node = {"d": node} if level % 2 else [node]
    assert isinstance(node, dict)
    return node


def test_nesting_exactly_at_the_depth_limit_round_trips_through_every_path_and_as_a_result(make_queue):
    queue = make_queue(shards=2)
    payload = nested(MAX_DEPTH)
    ids = enqueue_each_way(queue, payload)
    assert all(queue.get_job(i).payload == payload for i in ids)
    job = queue.claim_jobs("w", 1)[0]
    assert queue.complete_job(job, result=payload) is True
    assert queue.get_job(job.id).result == payload


def test_one_level_past_the_depth_limit_is_refused_everywhere_and_nothing_is_written(make_queue):
    queue = make_queue(shards=2)
    too_deep = nested(MAX_DEPTH + 1)
    for attempt in (lambda: queue.enqueue(too_deep),
                    lambda: queue.enqueue_batch([{"payload": {"n": 1}}, {"payload": too_deep}]),
                    lambda: queue.enqueue_batch([{"payload": too_deep, "priority": 1}])):
        with pytest.raises(InvalidPayload, match=f"deeper than {MAX_DEPTH} levels"):
            attempt()
    assert queue.get_stats()["pending"] == 0
    queue.enqueue({"n": 1})
    job = queue.claim_jobs("w", 1)[0]
    with pytest.raises(InvalidPayload, match="deeper than"):
        queue.complete_job(job, result=too_deep)
    assert queue.get_job(job.id).status is JobStatus.PROCESSING


# ── unicode ──
UNICODE = {
    "separators": "\u2028\u2029", "nul": "a\x00b", "controls": "".join(map(chr, range(32))) + "\x7f",
    "emoji": "\U0001f600", "lone surrogates": "\ud800 \udfff \udcff", "bom": "\ufeff", "combining": "e\u0301",
    "rtl override": "\u202e", "escapes": "\\\"/</script>", "noncharacters": "\uffff\U0010ffff", "": "empty key",
    "k\u00e9y \U0001f600": 1, "big ints": [2**63, -2**63 - 1, 2**80],
    "floats": [-0.0, 5e-324, 1.7976931348623157e308, 1.0],
}


def test_unicode_and_number_edge_cases_are_stored_exactly_by_the_batch_paths_results_and_dead_letters(make_queue):
    queue = make_queue(shards=2, max_retries=0)
    ids = enqueue_each_way(queue, UNICODE)
    assert all(repr(queue.get_job(i).payload) == repr(UNICODE) for i in ids)  # repr: -0.0 and 1.0 kept
    first, second, *_ = queue.claim_jobs("w", 3)
    queue.complete_job(first, result=UNICODE)
    assert repr(queue.get_job(first.id).result) == repr(UNICODE)
    queue.fail_job(second, error=ValueError("\u00e9chec \U0001f600"))
    [entry] = queue.dlq_list()
    assert repr(entry.payload) == repr(UNICODE) and entry.error == "\u00e9chec \U0001f600"


def test_valid_unicode_dedupe_keys_worker_ids_and_errors_are_stored_exactly(make_queue):
    queue = make_queue(shards=3)
    key = "r\u00e9sum\u00e9 \U0001f600 \u202e \x00"
    first = queue.enqueue({"n": 1}, dedupe_key=key)
    assert queue.enqueue({"n": 2}, dedupe_key=key) == first
    job = queue.claim_jobs("w\u00f6rker \U0001f916", 1)[0]
    assert queue.get_job(job.id).worker_id == "w\u00f6rker \U0001f916"


@pytest.mark.parametrize("call", ["dedupe_key", "worker_id"])
def test_lone_surrogates_in_keys_and_worker_ids_are_refused_with_a_typed_error(make_queue, call):
    queue = make_queue(shards=2)
    with pytest.raises((InvalidPayload, ConfigError)):
        if call == "dedupe_key":
            queue.enqueue({"n": 1}, dedupe_key="report-\udcff.csv")
        else:
            queue.claim_jobs("host-\udcff", 1)
    assert queue.get_stats()["pending"] == 0


def test_a_handler_error_naming_an_undecodable_file_is_recorded_and_the_worker_keeps_going(make_queue):
    queue = make_queue(shards=1, max_retries=0, lease_timeout=1.0, heartbeat_interval=0.2, recovery_interval=0.2)
    bad_name = os.fsdecode(b"report-\xff.csv")  # a real file name that is not UTF-8

    def handler(payload: dict[str, Any]) -> None:
        if payload["n"] == 1:
            raise FileNotFoundError("cannot open " + bad_name)

    first = queue.enqueue({"n": 1})["id"]
    second = queue.enqueue({"n": 2})["id"]
    worker = Worker("w", handler, queue, poll_interval=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (queue.get_job(second).status is not JobStatus.COMPLETED
                                               or queue.get_job(first).status is JobStatus.PROCESSING):
            time.sleep(0.02)
        assert worker.is_running
    finally:
        worker.stop(2)
    assert queue.get_job(second).status is JobStatus.COMPLETED
    failed = queue.get_job(first)
    assert failed.status is JobStatus.FAILED
    assert failed.error_type == "FileNotFoundError" and "report-" in (failed.last_error or "")


# ── a second process with a different shard count ──
@pytest.mark.slow
def test_a_second_process_with_another_shard_count_is_refused_and_changes_nothing(tmp_path):
    # Given a 4-shard queue in use by this process
    data = tmp_path / "data"
    queue = Queue(data_dir=data, shards=4, settings=Settings(), rate_limit=0)
    try:
        ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(40)])["ids"]
        before = sorted(p.name for p in data.iterdir())
        # When another process opens the directory asking for 6 shards
        (tmp_path / "go").touch()
        out = result_of(role("open", {"data_dir": str(data), "shards": 6, "go": str(tmp_path / "go")}))
        # Then it gets ShardCountMismatch naming both counts, and no shard file appears or changes
        assert out["error"] == "ShardCountMismatch"
        assert "holds 4 shards" in out["message"] and "6 were asked for" in out["message"]
        assert sorted(p.name for p in data.iterdir()) == before
        # and the first process carries on
        assert len(queue.claim_jobs("w", 40)) == 40 and len(ids) == 40
    finally:
        queue.close()


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_creating_one_directory_with_different_counts_agree_on_one(tmp_path, attempt):
    # Given two processes released at the same instant onto a directory that does not exist yet
    data, go = tmp_path / "data", tmp_path / "go"
    procs = [role("open", {"data_dir": str(data), "shards": n, "go": str(go)}) for n in (2, 5)]
    time.sleep(0.3)  # both are waiting for the go file
    go.touch()
    outs = [result_of(proc) for proc in procs]
    # Then exactly one created it, the other was refused, and the files match the winner's count
    winners = [out["shards"] for out in outs if "shards" in out]
    losers = [out for out in outs if "error" in out]
    assert len(winners) == 1 and [o["error"] for o in losers] == ["ShardCountMismatch"]
    assert sorted(p.name for p in data.glob("shard_*.db")) == [f"shard_{n}.db" for n in range(winners[0])]


def test_the_cli_on_a_directory_with_another_shard_count_prints_one_line(tmp_path):
    data = tmp_path / "data"
    Queue(data_dir=data, shards=4, settings=Settings(), rate_limit=0).close()
    result = run_cli("--data-dir", str(data), "--shards", "6", "stats", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "holds 4 shards" in result.stderr
    assert sorted(p.name for p in data.glob("shard_*.db")) == [f"shard_{n}.db" for n in range(4)]


# ── private files ──
@pytest.mark.slow
def test_the_directory_shard_wal_shm_and_lock_files_are_private_even_under_umask_000(tmp_path):
    data = tmp_path / "data"
    proc = role("hold-open", {"data_dir": str(data)}, stdin=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert {"shard_0.db-wal", "shard_0.db-shm", "shard_1.db-wal", ".queue-max.lock"} <= set(modes)
        assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    finally:
        proc.communicate(input="", timeout=30)


# ── SQL text from constants only ──
STORAGE = SRC / "queue_max" / "storage"
# method -> position of its SQL argument
SQL_CALLS = {"execute": 0, "executemany": 0, "executescript": 0, "read": 0, "read_one": 0, "run": 0,
             "_statement": 0, "_nested": 1, "_per_lease": 1}
# Call sites whose SQL argument is a variable, reviewed by hand: (file, function) -> why it is safe.
REVIEWED = {
    ("sqlite/shard.py", "read"): "the `sql` parameter; every caller passes a Q statement (checked below)",
    ("sqlite/shard.py", "read_one"): "the `sql` parameter; every caller passes a Q statement (checked below)",
    ("sqlite/shard.py", "run"): "the `sql` parameter; every caller passes a Q statement (checked below)",
    ("sqlite/shard.py", "_statement"): "the `sql` parameter of read, read_one and run",
    ("sqlite/shard.py", "_nested"): "the `sql` parameter of _statement",
    ("sqlite/shard.py", "_initialize"): "`statement` iterates SCHEMA, a module constant",
    ("sqlite/shard.py", "_migrate"): "`statement` iterates MIGRATIONS, a module constant; `version` is an int",
    ("sqlite/manager.py", "_per_lease"): "the `sql` parameter; its callers pass Q statements (checked above)",
    ("sqlite/_inspection.py", "dlq_list"): "`sql` from _dlq_filter: Q.dlq_select plus '?' placeholders",
    ("sqlite/_inspection.py", "dlq_requeue"): "`sql` from _dlq_filter: Q.dlq_select plus '?' placeholders",
    ("sqlite/_search.py", "_bounded_read"): "the `sql` parameter; its caller passes _find_sql: Q.find_jobs plus FIND_FILTERS",
    ("sqlite/_search.py", "dlq_count"): "`sql` from dlq_filter: Q.dlq_count plus '?' placeholders",
    ("sqlite/_search.py", "_dlq_prune_matching"): "`sql` from dlq_filter: Q.dlq_select plus '?' placeholders",
    ("sqlite/_rollup.py", "event_metrics"): "`sql` is one of three Q.read_metric_* statements",
    ("postgres/_search.py", "find_jobs"): "`sql` from _find_sql: q.find_jobs plus FIND_FILTERS and q.find_order",
    ("postgres/_search.py", "dlq_count"): "`sql` is q.dlq_count plus a constant '%s' clause",
    ("postgres/_search.py", "_dlq_prune_matching"): "`sql` is q.dlq_select plus constant clauses with %s",
    ("sqlite/_legacy.py", "_convert"): "`statement` iterates SCHEMA; `table` iterates the constant _LAYOUT",
    ("postgres/_conn.py", "migrate"): "`statement` iterates MIGRATIONS, formatted with the quoted, validated schema",
    ("postgres/_inspection.py", "_rows"): "the `sql` parameter; every caller passes a q statement",
    ("postgres/_inspection.py", "_one"): "the `sql` parameter; every caller passes a q statement",
    ("postgres/_inspection.py", "dlq_requeue"): "`sql` from _dlq_filter: q.dlq_select plus %s placeholders",
    ("postgres/backend.py", "_per_lease"): "the `sql` parameter; its callers pass q statements",
    ("postgres/backend.py", "complete_many"): "`sql` is q.complete, q.complete_delete or their *_facts forms",
    ("postgres/_metrics.py", "event_metrics"): "`sql` is one of three q.read_metric_* statements",
    ("postgres/_listen.py", "_listen"): "the channel name is queue_max_ plus the validated schema name",
    ("sqlite/manager.py", "claim"): "`peek` is Q.peek_queue or Q.peek_ready",
    ("sqlite/manager.py", "_claim_rows"): "`sql` is Q.claim_counted, Q.claim_queue_counted or "
                                          "claim_excluding(n, counted=True): ':x<i>' placeholders",
    ("sqlite/manager.py", "_claim_one_row"): "`sql` is Q.claim_one, Q.claim_queue_one or "
                                             "claim_excluding(n): ':x<i>' placeholders",
    ("sqlite/_complete.py", "complete_all"): "`complete_values(size)`: constant text with '?' placeholders, "
                                             "one VALUES row per lease, `size` an int",
}


def _constant_sql(node: ast.expr) -> bool:
    """A string literal, a named statement (`Q.name`, `_L.name`, `F.name`), or a PRAGMA f-string whose
    values are int() conversions, module constants or a choice between two literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("Q", "_L", "F"):
        return True
    # PostgreSQL's `q` / `self.q`: the Q templates formatted once with the validated schema name
    if isinstance(node, ast.Attribute) and ast.unparse(node.value) in ("q", "self.q"):
        return True
    if isinstance(node, ast.IfExp):  # a choice between two named statements
        return _constant_sql(node.body) and _constant_sql(node.orelse)
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(part, ast.Constant) or _constant_value(part.value) for part in node.values
                   if not isinstance(part, ast.Constant))
    return False


def _constant_value(node: ast.expr) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int":
        return True
    if isinstance(node, ast.Name) and node.id.isupper():
        return True  # APPLICATION_ID, SCHEMA_VERSION
    return isinstance(node, ast.IfExp) and all(isinstance(b, ast.Constant) for b in (node.body, node.orelse))


def test_sql_text_is_built_only_from_named_statements_and_constants_never_from_arguments():
    found: list[str] = []
    used_reviews: set[tuple[str, str]] = set()
    for path in sorted(STORAGE.rglob("*.py")):
        where = path.relative_to(STORAGE).as_posix()
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr in SQL_CALLS and len(call.args) > SQL_CALLS[call.func.attr]):
                    continue
                sql = call.args[SQL_CALLS[call.func.attr]]
                if _constant_sql(sql):
                    continue
                variable = isinstance(sql, (ast.Name, ast.BinOp, ast.JoinedStr, ast.Call))
                if variable and (where, function.name) in REVIEWED:
                    used_reviews.add((where, function.name))
                    continue
                found.append(f"{where}:{call.lineno} in {function.name}(): {ast.unparse(sql)}")
    assert found == [], "SQL built from something other than constants; use a Q statement with ? or :name " \
                        "parameters, or review the call and add it to REVIEWED:\n" + "\n".join(found)
    assert used_reviews == set(REVIEWED), f"stale REVIEWED entries: {set(REVIEWED) - used_reviews}"


def test_the_named_statements_interpolate_only_module_constants():
    for path in (STORAGE / "sqlite" / "_sql.py", STORAGE / "sqlite" / "_legacy.py", STORAGE / "sqlite" / "_flow_sql.py"):
        tree = ast.parse(path.read_text())
        constants = {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                     for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                     if isinstance(target, ast.Name)}
        # constants imported from the backend's own modules (`from ._ids import SQL_JOB_ID`)
        constants |= {alias.asname or alias.name for node in tree.body
                      if isinstance(node, ast.ImportFrom) and node.level == 1
                      for alias in node.names if (alias.asname or alias.name).isupper()}
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            names = constants | {t.id for node in cls.body if isinstance(node, ast.Assign)
                                 for t in node.targets if isinstance(t, ast.Name)}
            for node in ast.walk(cls):
                if isinstance(node, ast.FormattedValue):
                    assert isinstance(node.value, ast.Name) and node.value.id in names, \
                        f"{path.name}: {cls.name} interpolates {ast.unparse(node.value)}"


def test_the_dead_letter_filter_adds_only_placeholders():
    from queue_max.storage.sqlite._search import Q, dlq_filter

    sql, params = dlq_filter(Q.dlq_select, {3, 1, 2}, "x'); DROP TABLE fila; --")
    assert sql.endswith("WHERE original_job_id IN (?,?,?) AND "
                        "(error_type = ? OR substr(error_type, -length(?) - 1) = '.' || ?)")
    assert params == (1, 2, 3, *["x'); DROP TABLE fila; --"] * 3)


HOSTILE = "x'); DROP TABLE fila; -- \" ` [ ] ; \\ %s {0} :id ?"


def schema(data: Path) -> list[list[tuple[str]]]:
    found = []
    for path in sorted(data.glob("shard_*.db")):
        conn = sqlite3.connect(path)
        found.append(conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall())
        conn.close()
    return found


def test_hostile_names_and_keys_are_stored_as_data_and_leave_the_schema_alone(make_queue, tmp_path):
    # Given a queue, and a string made of SQL, quoting and placeholder syntax
    queue = make_queue(shards=2, max_retries=0)
    before = schema(tmp_path / "data")
    hostile_error = type("HostileError", (Exception,), {"__qualname__": HOSTILE})
    # When it is used as every name and key the API accepts
    ref = queue.enqueue({HOSTILE: HOSTILE}, dedupe_key=HOSTILE)
    queue.schedule_state(HOSTILE, 1.0)
    assert queue.fire_schedule(HOSTILE, 1.0, 2.0, {"tick": HOSTILE}) is not None
    for job in queue.claim_jobs(HOSTILE, 2):
        assert job.worker_id == HOSTILE
        queue.fail_job(job, error=hostile_error(HOSTILE))
    # Then it is stored and matched as plain data, and no table changed
    stored = queue.get_job(ref["id"])
    assert (stored.payload, stored.dedupe_key, stored.last_error) == ({HOSTILE: HOSTILE}, HOSTILE, HOSTILE)
    assert [s["name"] for s in queue.backend.list_schedules()] == [HOSTILE]
    assert len(queue.dlq_list(error_type=f"{__name__}.{HOSTILE}")) == 2
    assert schema(tmp_path / "data") == before


# ── the CLI's --function import errors ──
def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run([sys.executable, "-m", "queue_max", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout, check=False)


MODULES = {
    "syntax_error": "def handler(:\n    pass\n",
    "missing_dependency": "import not_installed_dependency_xyz\n\ndef handler(payload):\n    pass\n",
    "type_error_at_import": "handler = None + 1\n",
    "exits_at_import": "import sys\nsys.exit('DATABASE_URL is not set')\n",
    "multiline_error": "raise RuntimeError('first line\\nsecond line\\n  third line')\n",
    "lazy_attributes": "def __getattr__(name):\n    raise RuntimeError('lazy import of ' + name + ' failed')\n",
}
CLEAN = [
    pytest.param("syntax_error:handler", "importing 'syntax_error' failed: SyntaxError: invalid syntax (",
                 id="syntax-error"),
    pytest.param("missing_dependency:handler",
                 "importing 'missing_dependency' failed: No module named 'not_installed_dependency_xyz'",
                 id="missing-dependency"),
    pytest.param("type_error_at_import:handler",
                 "importing 'type_error_at_import' failed: TypeError: unsupported operand", id="error-at-import"),
    pytest.param("no_such_module_xyz.sub:handler", "no module named 'no_such_module_xyz'", id="no-such-package"),
]
FIXED = [
    pytest.param("exits_at_import:handler", "importing 'exits_at_import' failed: SystemExit: DATABASE_URL is not set",
                 id="sys-exit-at-import"),
    pytest.param("multiline_error:handler", "importing 'multiline_error' failed: RuntimeError: first line",
                 id="multi-line-message"),
    pytest.param("lazy_attributes:handler",
                 "looking up 'handler' in 'lazy_attributes' failed: RuntimeError: lazy import of handler failed",
                 id="module-getattr-raises"),
]


@pytest.fixture
def handler_modules(tmp_path: Path) -> Path:
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize("spec, message", CLEAN + FIXED)
def test_a_function_that_cannot_be_imported_is_one_clean_line_and_exit_2(handler_modules, spec, message, processes):
    data = handler_modules / "data"
    result = run_cli("--data-dir", str(data), "worker", "--function", spec, "--processes", processes, "--burst",
                     cwd=handler_modules)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"queue-max: error: --function {spec}"), \
        result.stderr
    assert message in result.stderr
    assert result.returncode == 2
    assert not data.exists()  # nothing was created before the handler was known to load
