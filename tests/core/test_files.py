"""enqueue_from_file: jsonl, json and csv, all-or-nothing, errors that name the line."""

from __future__ import annotations

import json

import pytest

from queue_max import InvalidJobFile, InvalidPayload


def test_jsonl_with_bare_payloads_and_job_specs(make_queue, tmp_path):
    queue = make_queue(shards=1)
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"task": "a"}\n\n{"payload": {"task": "b"}, "priority": 2}\n')
    result = queue.enqueue_from_file(path)
    assert result["total"] == 2
    assert queue.pop_job("w").payload == {"task": "b"}
    assert queue.pop_job("w").payload == {"task": "a"}


def test_json_array_and_jobs_object(queue, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"n": 1}, {"payload": {"n": 2}, "delay": 60}]))
    (tmp_path / "b.json").write_text(json.dumps({"jobs": [{"n": 3}]}))
    assert queue.enqueue_from_file(tmp_path / "a.json", fmt="json")["total"] == 2
    assert queue.enqueue_from_file(tmp_path / "b.json", fmt=None)["total"] == 1
    assert queue.get_stats()["scheduled"] == 1


def test_csv_rows_become_payloads(queue, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,email\nAna,a@x.io\nBo,b@x.io\n")
    assert queue.enqueue_from_file(path, fmt="csv")["total"] == 2
    assert queue.pop_job("w").payload in ({"name": "Ana", "email": "a@x.io"}, {"name": "Bo", "email": "b@x.io"})


def test_csv_with_a_payload_column_and_options(make_queue, tmp_path):
    queue = make_queue(shards=1)
    path = tmp_path / "jobs.csv"
    path.write_text('payload,priority\n"{""n"": 1}",0\n"{""n"": 2}",2\n')
    assert queue.enqueue_from_file(path, fmt="csv")["total"] == 2
    assert queue.pop_job("w").payload == {"n": 2}


@pytest.mark.parametrize("name, content, fmt, where", [
    ("bad.jsonl", '{"ok": 1}\n{"ok": 2}\n{not json}\n', "jsonl", "line 3"),
    ("nan.jsonl", '{"ok": 1}\n{"x": NaN}\n', "jsonl", "line 2"),
    ("list.jsonl", '{"ok": 1}\n[1, 2]\n', "jsonl", "line 2"),
    ("prio.jsonl", '{"ok": 1}\n{"payload": {"a": 1}, "priority": 500}\n', "jsonl", "line 2"),
    ("bad.json", '{"x": 1}', "json", "array of jobs"),
    ("bad.csv", 'payload,priority\n"{}",1\n"{]",1\n', "csv", "line 3"),
    ("extra.csv", 'payload,colour\n"{}",red\n', "csv", "unknown column"),
])
def test_a_bad_record_names_its_line_and_nothing_is_written(queue, tmp_path, name, content, fmt, where):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidJobFile, match=where):
        queue.enqueue_from_file(path, fmt=fmt)
    assert queue.get_stats()["pending"] == 0


def test_unknown_format_and_missing_file(queue, tmp_path):
    with pytest.raises(InvalidPayload, match="fmt must be one of jsonl, json, csv"):
        queue.enqueue_from_file(tmp_path / "x.txt", fmt="xml")
    with pytest.raises(InvalidJobFile, match="does not exist"):
        queue.enqueue_from_file(tmp_path / "missing.jsonl")


def test_a_non_utf8_file_is_refused(queue, tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"name": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InvalidJobFile, match="UTF-8"):
        queue.enqueue_from_file(path)


def test_a_typo_in_a_job_option_is_an_error_not_a_payload(queue, tmp_path):
    path = tmp_path / "typo.jsonl"
    path.write_text('{"payload": {"n": 1}, "priorty": 2}\n')
    with pytest.raises(InvalidJobFile, match=r"line 1: unknown job option\(s\) \['priorty'\]"):
        queue.enqueue_from_file(path)
    assert queue.get_stats()["pending"] == 0


def test_run_at_in_files_must_carry_an_offset(queue, tmp_path, clock):
    from datetime import datetime, timezone

    later = datetime.fromtimestamp(clock.time() + 60, timezone.utc).isoformat()
    (tmp_path / "ok.jsonl").write_text(json.dumps({"payload": {"n": 1}, "run_at": later}) + "\n")
    assert queue.enqueue_from_file(tmp_path / "ok.jsonl")["total"] == 1
    assert queue.get_stats()["scheduled"] == 1
    (tmp_path / "naive.jsonl").write_text('{"payload": {"n": 1}, "run_at": "2030-01-01T00:00:00"}\n')
    with pytest.raises(InvalidJobFile, match="no UTC offset"):
        queue.enqueue_from_file(tmp_path / "naive.jsonl")
