"""The queue-max CLI: stats, enqueue, list, inspect, cancel, global options, errors and the entry point."""

from __future__ import annotations

import json
import time

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue, run_module  # noqa: F401 - fixtures

from queue_max import Permanent
from queue_max._clock import FakeClock
from queue_max.cli import main


# ── stats ──
def test_stats_counts_jobs_per_status_and_shard(cli, make_cli_queue):
    # Given a 2-shard queue with two pending jobs, one completed and one dead-lettered
    queue = make_cli_queue(shards=2)
    for n in range(4):
        queue.enqueue({"n": n})
    first, second = queue.claim_jobs("w", 2)
    queue.complete_job(first, result="ok")
    queue.fail_job(second, error=Permanent("no"))
    # When stats is asked for JSON
    result = cli("stats", "--json")
    # Then the totals and each shard's counts are there
    assert result.code == 0, result.err
    stats = result.json()
    assert (stats["pending"], stats["completed"], stats["failed"], stats["dead_letter"]) == (2, 1, 1, 1)
    assert stats["num_shards"] == 2 and len(stats["shards"]) == 2
    assert sum(shard["pending"] for shard in stats["shards"]) == 2
    assert stats["total_jobs_processed"] == 1 and stats["total_jobs_failed"] == 1
    assert stats["ready"] == 2 and stats["oldest_ready_age_seconds"] >= 0


def test_stats_of_one_shard_in_json_has_the_shard_keys(cli, make_cli_queue):
    make_cli_queue(shards=3).enqueue({"x": 1}, shard_key=1)
    result = cli("stats", "--json", "--shard", "1")
    assert result.code == 0
    shard = result.json()
    assert shard["shard_id"] == 1 and shard["pending"] == 1
    assert set(shard) >= {"path", "scheduled", "processing", "dead_letter", "total_jobs_processed", "version"}


def test_stats_for_people_is_an_aligned_table_with_a_total_row(cli, make_cli_queue):
    make_cli_queue(shards=2).enqueue({"x": 1})
    lines = cli("stats").out.splitlines()
    header = next(line for line in lines if line.startswith("shard"))
    total = next(line for line in lines if line.startswith("total"))
    # the count columns line up: each header ends where its numbers end
    assert header.index("pending") + len("pending") == total.index("1") + 1
    assert "ready now: 1" in cli("stats").out


def test_global_options_work_before_and_after_the_command(cli, data_dir, make_cli_queue):
    make_cli_queue().enqueue({"x": 1})
    assert cli("--json", "--data-dir", str(data_dir), "stats", where=None).json()["pending"] == 1
    assert cli("stats", "--json").json()["pending"] == 1


def test_a_shard_outside_the_queue_is_a_usage_error(cli, make_cli_queue):
    make_cli_queue(shards=2)
    result = cli("stats", "--shard", "5")
    assert result.code == 2 and "shard_id must be an int from 0 to 1" in result.err


# ── a directory that is not a queue ──
@pytest.mark.parametrize("command", [["stats"], ["list"], ["inspect", "1024"], ["cancel", "1024"], ["health"],
                                     ["metrics"], ["retry"], ["purge"], ["recover"], ["dlq", "list"]])
def test_read_and_manage_commands_say_no_queue_and_create_nothing(cli, data_dir, command):
    # Given a data dir that does not exist
    # When a command that needs an existing queue runs there
    result = cli(*command)
    # Then it says so in one line, exits 1, and creates nothing
    assert result.code == 1
    assert result.err.strip() == result.err.strip().splitlines()[0]
    assert result.err.startswith(f"queue-max: error: no queue at {data_dir}")
    assert not data_dir.exists()


def test_an_empty_directory_is_not_a_queue_either(cli, data_dir):
    data_dir.mkdir()
    result = cli("stats")
    assert result.code == 1 and "has no shard files" in result.err
    assert list(data_dir.iterdir()) == []


def test_a_foreign_sqlite_file_is_refused_with_the_storage_error(cli, data_dir):
    import sqlite3

    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "shard_0.db")
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    result = cli("stats")
    assert result.code == 1
    assert result.err.startswith("queue-max: error: ") and "Traceback" not in result.err
    assert "shard_0.db" in result.err


def test_a_shard_count_that_differs_from_the_directory_is_a_usage_error(cli, make_cli_queue):
    make_cli_queue(shards=2).close()
    result = cli("--shards", "3", "stats")
    assert result.code == 2 and "holds 2 shards" in result.err


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "stats")
    assert result.code == 1 and "Traceback" in result.err and "no queue at" in result.err


# ── enqueue ──
def test_enqueue_prints_the_job_and_creates_the_queue(cli, data_dir):
    result = cli("enqueue", "--payload", '{"task": "test"}', "--priority", "2", "--json")
    assert result.code == 0, result.err
    ref = result.json()
    assert set(ref) == {"id", "shard_id"}
    job = cli("inspect", str(ref["id"]), "--json").json()
    assert job["payload"] == {"task": "test"} and job["priority"] == 2 and job["status"] == "pending"
    assert (data_dir / "shard_0.db").exists()


def test_enqueue_for_people_names_the_job_and_shard(cli):
    result = cli("enqueue", "--payload", "{}")
    assert result.code == 0 and result.out.startswith("enqueued job ") and " in shard " in result.out


def test_enqueue_options_reach_the_job(cli):
    ref = cli("enqueue", "--payload", '{"a": 1}', "--max-retries", "0", "--delay", "1h",
              "--dedupe-key", "k1", "--json").json()
    job = cli("inspect", str(ref["id"]), "--json").json()
    assert job["max_attempts"] == 1 and job["dedupe_key"] == "k1"
    assert cli("list", "--json").json()[0]["run_at"] > job["created_at"]
    assert "scheduled" in cli("list").out


@pytest.mark.parametrize("payload, message", [
    ('{"task": ', "--payload is not valid JSON"),
    ("[1, 2]", "--payload must be a JSON object"),
    ('{"x": NaN}', "--payload is not valid JSON"),
])
def test_a_bad_payload_is_one_line_and_exit_2_and_nothing_is_written(cli, data_dir, payload, message):
    result = cli("enqueue", "--payload", payload)
    assert result.code == 2
    assert result.err.startswith(f"queue-max: error: {message}") and result.err.count("\n") == 1
    assert not data_dir.exists()


def test_a_priority_out_of_range_is_refused_by_the_queue(cli):
    result = cli("enqueue", "--payload", "{}", "--priority", "1000")
    assert result.code == 2 and "priority" in result.err


def test_enqueue_needs_a_payload_or_a_file(cli):
    result = cli("enqueue")
    assert result.code == 2 and "one of the arguments --payload --file is required" in result.err


# ── enqueue --file ──
def test_enqueue_file_stores_every_job_and_reports_one_line(cli, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"n": 1}\n{"payload": {"n": 2}, "priority": 2}\n\n{"n": 3}\n')
    result = cli("enqueue", "--file", str(jobs))
    assert result.code == 0, result.err
    assert result.out.startswith("enqueued 3 jobs from ") and result.err == ""
    assert cli("stats", "--json").json()["pending"] == 3


def test_enqueue_file_is_all_or_nothing_and_names_the_bad_line(cli, data_dir, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"n": 1}\n{"n": 2}\n{"payload": {"n": 3}, "priority": 500}\n')
    result = cli("enqueue", "--file", str(jobs))
    assert result.code == 2
    assert "jobs.jsonl line 3" in result.err and "nothing was enqueued" in result.err
    assert cli("stats", "--json").json()["pending"] == 0


def test_enqueue_file_with_broken_json_names_the_line(cli, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"n": 1}\n{"n": \n')
    result = cli("enqueue", "--file", str(jobs))
    assert result.code == 2 and "jobs.jsonl line 2, column 1: not valid JSON" in result.err


def test_enqueue_file_reads_csv_and_json_by_format(cli, tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text("user,action\n1,signup\n2,login\n")
    result = cli("enqueue", "--file", str(rows), "--format", "csv", "--json")
    assert result.code == 0 and result.json()["total"] == 2
    array = tmp_path / "jobs.json"
    array.write_text('[{"a": 1}]')
    assert cli("enqueue", "--file", str(array), "--json").json()["total"] == 1
    listed = cli("list", "--json").json()
    assert {"user": "1", "action": "signup"} in [job["payload"] for job in listed]


def test_job_options_with_a_file_are_refused(cli, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("{}\n")
    result = cli("enqueue", "--file", str(jobs), "--priority", "2")
    assert result.code == 2 and "--priority apply to --payload" in result.err


def test_a_missing_jobs_file_is_one_line(cli, tmp_path):
    result = cli("enqueue", "--file", str(tmp_path / "nope.jsonl"))
    assert result.code == 2 and "does not exist" in result.err


def test_the_progress_bar_draws_only_on_a_terminal(cli, tmp_path, monkeypatch):
    import io

    from queue_max.cli._output import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = Progress("reading", 4, stream)
        bar.advance(2)
        bar.close()
    assert "[###############---------------]  50% 2/4" in terminal.getvalue()
    assert pipe.getvalue() == ""


# ── list ──
def test_list_filters_by_status_and_limits(cli, make_cli_queue):
    queue = make_cli_queue()
    for n in range(5):
        queue.enqueue({"n": n})
    job = queue.claim_jobs("w", 1)[0]
    queue.fail_job(job, error=Permanent("bad"))
    failed = cli("list", "--status", "failed", "--limit", "20", "--json").json()
    assert [j["id"] for j in failed] == [job.id] and failed[0]["last_error"] == "bad"
    assert len(cli("list", "--status", "pending", "--limit", "2", "--json").json()) == 2
    table = cli("list", "--status", "failed").out.splitlines()
    assert table[0].split() == ["id", "shard", "status", "priority", "attempts", "created", "worker",
                                "last_error", "payload"]
    assert "Permanent: bad" in table[1]


def test_list_of_nothing_says_so(cli, make_cli_queue):
    make_cli_queue()
    assert cli("list", "--status", "processing").out == "no processing jobs\n"


def test_list_refuses_an_unknown_status(cli, make_cli_queue):
    make_cli_queue()
    result = cli("list", "--status", "lost")
    assert result.code == 2 and "invalid choice: 'lost'" in result.err


# ── inspect ──
def test_inspect_shows_attempts_with_their_errors_the_lease_and_the_result(cli, make_cli_queue):
    # Given a job that failed once, then ran again and completed with a result
    queue = make_cli_queue()
    ref = queue.enqueue({"to": "a@b.c"})
    job = queue.claim_jobs("w-1", 1)[0]
    queue.fail_job(job, error=TimeoutError("slow server"), retry_delay=0)
    job = queue.claim_jobs("w-2", 1)[0]
    queue.complete_job(job, result={"sent": True})
    # When it is inspected
    data = cli("inspect", str(ref["id"]), "--json").json()
    text = cli("inspect", str(ref["id"])).out
    # Then the payload, status, attempts, errors and result are there
    assert data["status"] == "completed" and data["attempts"] == 2 and data["result"] == {"sent": True}
    assert data["errors"][0]["type"] == "TimeoutError" and data["errors"][0]["message"] == "slow server"
    assert "TimeoutError" in data["errors"][0]["traceback"]
    assert "errors (1, oldest first)" in text and '{"sent": true}' in text and "2 of 4" in text


def test_inspect_names_the_lease_owner_of_a_running_job(cli, make_cli_queue):
    queue = make_cli_queue()
    ref = queue.enqueue({})
    queue.claim_jobs("host-7", 1)
    assert "held by host-7, expires in" in cli("inspect", str(ref["id"])).out
    assert cli("inspect", str(ref["id"]), "--json").json()["worker_id"] == "host-7"


def test_inspect_of_an_unknown_job_exits_1(cli, make_cli_queue):
    make_cli_queue()
    result = cli("inspect", "999999")
    assert result.code == 1 and "no job with id 999999" in result.err


def test_inspect_needs_a_numeric_id(cli, make_cli_queue):
    make_cli_queue()
    result = cli("inspect", "abc")
    assert result.code == 2 and "a job id" in result.err


# ── cancel ──
def test_cancel_cancels_a_pending_job(cli, make_cli_queue):
    ref = make_cli_queue().enqueue({})
    result = cli("cancel", str(ref["id"]), "--json")
    assert result.code == 0 and result.json() == {"id": ref["id"], "cancelled": True, "status": "cancelled",
                                                  "outcome": "cancelled"}


def test_cancel_of_a_running_job_marks_it_and_says_so(cli, make_cli_queue):
    # Given a job a worker holds
    queue = make_cli_queue()
    ref = queue.enqueue({})
    queue.claim_jobs("w", 1)
    # When it is cancelled from the CLI
    text = cli("cancel", str(ref["id"]))
    data = cli("cancel", str(ref["id"]), "--json")
    # Then the job keeps running, marked, and the output says the cancel was only requested
    assert text.code == 0 and f"job {ref['id']} is running: cancel requested" in text.out
    assert data.json() == {"id": ref["id"], "cancelled": False, "status": "processing", "outcome": "requested"}
    assert queue.get_job(ref["id"]).is_processing and queue.cancel_requested(ref["id"])


def test_cancel_of_a_finished_job_changes_nothing_and_exits_1(cli, make_cli_queue):
    queue = make_cli_queue()
    ref = queue.enqueue({})
    queue.complete_job(queue.claim_jobs("w", 1)[0])
    result = cli("cancel", str(ref["id"]))
    assert result.code == 1 and f"job {ref['id']} is completed; only pending or running jobs" in result.err
    assert queue.get_job(ref["id"]).status.value == "completed"


# ── the entry point ──
def test_python_dash_m_runs_the_same_cli(data_dir):
    # Given a queue made through the real entry point
    made = run_module("--data-dir", str(data_dir), "enqueue", "--payload", '{"task": "x"}', "--json")
    assert made.returncode == 0, made.stderr
    job_id = json.loads(made.stdout)["id"]
    # When it is read back through the real entry point
    shown = run_module("--data-dir", str(data_dir), "inspect", str(job_id), "--json")
    # Then the job is there, and errors are one line with the documented exit code
    assert json.loads(shown.stdout)["payload"] == {"task": "x"}
    missing = run_module("--data-dir", str(data_dir / "nope"), "stats")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    usage = run_module("stats", "--frobnicate")
    assert usage.returncode == 2 and "unrecognized arguments: --frobnicate" in usage.stderr


def test_help_and_version_exit_0(cli, capsys):
    assert main(["--version"]) == 0
    assert main(["stats", "--help"]) == 0
    assert "--shard N" in capsys.readouterr().out


def test_no_command_is_a_usage_error(cli):
    result = cli()
    assert result.code == 2 and "required: COMMAND" in result.err


def test_a_bad_environment_variable_is_a_usage_error(cli, monkeypatch, make_cli_queue):
    make_cli_queue()
    monkeypatch.setenv("NUM_SHARDS", "many")
    result = cli("stats")
    assert result.code == 2 and "NUM_SHARDS must be an integer" in result.err


def test_data_dir_defaults_to_the_DATA_DIR_variable(cli, data_dir, monkeypatch, make_cli_queue):
    make_cli_queue().enqueue({})
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    assert cli("stats", "--json", where=None).json()["pending"] == 1


def test_old_completed_jobs_show_their_age(cli, make_cli_queue):
    clock = FakeClock(time.time() - 120)
    queue = make_cli_queue(clock=clock)
    queue.enqueue({})
    assert "oldest ready job waiting: 2m" in cli("stats").out


def test_cancel_and_inspect_say_the_same_about_an_id_no_shard_holds(cli, make_cli_queue):
    # Given a 4-shard queue, and an id that names shard 306
    make_cli_queue(shards=4)
    # Then cancel and inspect both say there is no such job, the same way
    cancel, inspect = cli("cancel", "424242"), cli("inspect", "424242")
    assert cancel.code == inspect.code == 1
    assert "no job with id 424242" in cancel.err and "no job with id 424242" in inspect.err
    assert "shard" not in cancel.err


def test_a_listing_never_shows_an_empty_error_history_for_a_failed_job(cli, make_cli_queue):
    # Given a job that failed for good
    queue = make_cli_queue()
    queue.enqueue({"n": 1}, max_retries=0)
    queue.fail_job(queue.pop_job("w"), error=TimeoutError("slow server"))
    # When jobs are listed as JSON
    (listed,) = cli("list", "--status", "failed", "--json").json()
    # Then the listing shows the last error, and no errors list that would read as "none"
    assert listed["last_error"] == "slow server" and listed["error_type"] == "TimeoutError"
    assert "errors" not in listed


def test_plural_counts_read_as_english():
    from queue_max.cli._output import plural

    assert [plural(n, "task") for n in (0, 1, 2)] == ["0 tasks", "1 task", "2 tasks"]


def test_a_negative_duration_is_named_not_taken_for_a_flag(cli, make_cli_queue):
    make_cli_queue()
    result = cli("dlq", "prune", "--older-than", "-1h")
    assert result.code == 2 and "got '-1h'" in result.err and "expected one argument" not in result.err


def test_a_bad_jsonl_record_is_named_by_one_line_number(cli, make_cli_queue, tmp_path):
    queue = make_cli_queue()
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"a": 1}\n{"a": tru}\n')
    result = cli("enqueue", "--file", str(path))
    assert result.code != 0 and "jobs.jsonl line 2, column 7: not valid JSON (Expecting value)" in result.err
    assert "line 1" not in result.err and queue.get_stats()["pending"] == 0
