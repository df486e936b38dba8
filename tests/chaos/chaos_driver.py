"""The chaos test's driver: worker and producer processes on one data directory, faults injected.

    PYTHONPATH=src python tests/chaos/chaos_driver.py --seed 7 [--keep]

One seeded run (`run_chaos`): K worker processes (chaos_worker.py) and P regular producers plus
one victim producer (chaos_producer.py) share a fresh data directory. While producers enqueue,
the driver SIGKILLs a random worker every second or so and restarts it, SIGSTOPs a worker that is
running a slow job for several lease lengths and then SIGCONTs it, kills the victim producer
mid-batch, and restarts workers that poison jobs killed. Then it lets the workers drain the queue,
stops them with SIGTERM, samples the WAL files throughout, and hands everything to chaos_check.

Every random choice comes from `random.Random(seed)`, so a failing seed replays the same plan;
process timing still varies from run to run, which is the point of running many seeds.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE)]

from chaos_check import Evidence, Verdict, check  # noqa: E402
from chaos_log import read_records  # noqa: E402
from chaos_producer import JOB_RETRIES, POISON_RETRIES  # noqa: E402

from queue_max import Queue, Settings  # noqa: E402
from queue_max.storage.sqlite import ShardOptions  # noqa: E402
from queue_max.storage.sqlite import MAX_SHARDS  # noqa: E402

__all__ = ["ChaosConfig", "ChaosRun", "run_chaos", "wal_bound"]



def _wait_stopped(pid: int, deadline: float) -> bool:
    """Whether process `pid` reached the stopped state ('T' in /proc/PID/stat) by `deadline`."""
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] in ("T", "t"):
            return True
        time.sleep(0.0005)
    return False

@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    workers: int = 3
    producers: int = 2  # regular producers; one victim producer runs beside them
    shards: int = 3
    rounds: int = 14  # rounds per regular producer (~0.4 s each)
    fault_seconds: float = 8.0  # how long faults are injected
    kill_every: tuple[float, float] = (0.6, 1.4)  # seconds between worker SIGKILLs
    lease: float = 1.0
    heartbeat: float = 0.2
    recovery: float = 0.25
    stop_seconds: float = 3.5  # a SIGSTOP lasts this long: lease + recovery, with room to spare
    drain_timeout: float = 45.0
    poison: int = 3  # poison jobs, spread over the regular producers
    sabotage: str | None = None  # "no-fencing": break the queue on purpose (the checker's own test)
    database_url: str | None = None  # run on PostgreSQL (in `database_schema`) instead of SQLite shards
    database_schema: str | None = None

    def storage(self) -> dict[str, Any]:
        """The Settings fields every process of the run uses to reach the same storage."""
        if self.database_url is None:
            return {}
        return {"database_url": self.database_url, "database_schema": self.database_schema or "queue_max"}


def wal_bound() -> int:
    """The most a shard's -wal file may reach: SQLite checkpoints itself once the WAL holds
    `wal_autocheckpoint` pages, and the workers checkpoint every recovery interval before that,
    so the WAL is reset long before; the bound allows one automatic-checkpoint span of frames
    (page plus 24-byte frame header), the 32-byte WAL header, and the largest transaction this
    test writes (a victim batch, well under 2 MiB): SQLite checkpoints after a commit, so a
    commit can carry the WAL past the span by its own size."""
    o = ShardOptions()
    return 32 + o.wal_autocheckpoint * (o.page_size + 24) + LARGEST_TRANSACTION


LARGEST_TRANSACTION = 2 * 1024 * 1024


@dataclass
class _Proc:
    role: str
    slot: int
    popen: subprocess.Popen[bytes]
    stderr: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


class _WalSampler(threading.Thread):
    """Samples the size of every shard's -wal file every 20 ms; remembers the largest."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(name="wal sampler", daemon=True)
        self.data_dir = data_dir
        self.max = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            for path in self.data_dir.glob("shard_*.db-wal"):
                try:
                    self.max = max(self.max, path.stat().st_size)
                except FileNotFoundError:
                    pass
            self.samples += 1


@dataclass
class ChaosRun:
    config: ChaosConfig
    run_dir: Path
    verdict: Verdict
    timeline: list[dict[str, Any]]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.verdict.violations

    def report(self) -> str:
        """The seed, how to replay it, the violations, the summary and the event timeline."""
        seed = self.config.seed
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"chaos seed {seed}: {verdict} in {self.seconds:.1f}s (run directory {self.run_dir})",
                 f"replay: PYTHONPATH=src python tests/chaos/chaos_driver.py --seed {seed} --keep"]
        if self.verdict.violations:
            lines.append(f"{len(self.verdict.violations)} violations:")
            lines += [f"  - {text}" for text in self.verdict.violations[:40]]
        lines.append("summary: " + json.dumps(self.verdict.summary, sort_keys=True))
        if not self.ok:
            t0 = self.timeline[0]["t"] if self.timeline else 0.0
            lines.append("timeline:")
            for ev in self.timeline:
                rest = {k: v for k, v in ev.items() if k not in ("t", "ev")}
                lines.append(f"  {ev['t'] - t0:7.3f} {ev['ev']:<8} {json.dumps(rest, sort_keys=True)}")
        return "\n".join(lines)


class _Driver:
    def __init__(self, config: ChaosConfig, run_dir: Path) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.run_dir = run_dir
        self.data_dir = run_dir / "data"
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.timeline: list[dict[str, Any]] = []
        self._timeline_file = (run_dir / "timeline.jsonl").open("a")
        self._event_lock = threading.Lock()
        self.workers: dict[int, _Proc | None] = {}
        self.restart_at: dict[int, float] = {}
        self.producers: list[_Proc] = []
        self.spawned = 0
        queue_options = {"rate_limit": 0, "lease_timeout": config.lease, "heartbeat_interval": config.heartbeat,
                         "recovery_interval": config.recovery, "circuit_breaker_threshold": 1_000_000,
                         "retry_backoff": 0.05, "retry_backoff_max": 0.2, "max_retries": JOB_RETRIES}
        self.queue_options = queue_options
        self.settings = Settings().with_(**config.storage())

    # ── events ──
    def event(self, ev: str, **fields: Any) -> None:
        with self._event_lock:
            record = {"t": time.time(), "ev": ev, **fields}
            self.timeline.append(record)
            self._timeline_file.write(json.dumps(record) + "\n")
            self._timeline_file.flush()

    # ── processes ──
    def _spawn(self, role: str, slot: int, script: str, config: dict[str, Any]) -> _Proc:
        self.spawned += 1
        stderr = self.log_dir / f"stderr-{role}-{slot}-{self.spawned}.txt"
        with stderr.open("wb") as err:
            popen = subprocess.Popen([sys.executable, str(HERE / script), json.dumps(config)],
                                     stdout=subprocess.DEVNULL, stderr=err)
        proc = _Proc(role, slot, popen, stderr)
        self.event("spawn", role=role, slot=slot, pid=proc.pid)
        return proc

    def spawn_worker(self, slot: int) -> None:
        config = {"data_dir": str(self.data_dir), "log_dir": str(self.log_dir), "slot": slot,
                  "storage": self.c.storage(), "queue": self.queue_options, "concurrency": 2, "prefetch": 4, "poll_interval": 0.05,
                  "shutdown_timeout": 5.0, "sabotage": self.c.sabotage}
        self.workers[slot] = self._spawn("worker", slot, "chaos_worker.py", config)
        self.restart_at.pop(slot, None)

    def spawn_producer(self, slot: int, role: str, poison: dict[int, str]) -> None:
        config = {"data_dir": str(self.data_dir), "log_dir": str(self.log_dir), "name": f"{role[0]}{slot}",
                  "storage": self.c.storage(),
                  "seed": self.rng.randrange(2**32), "role": role, "rounds": self.c.rounds,
                  "poison": {str(k): how for k, how in poison.items()},
                  "queue": {"rate_limit": 0, "max_retries": JOB_RETRIES}}
        self.producers.append(self._spawn("producer", slot, "chaos_producer.py", config))

    def live_workers(self) -> list[_Proc]:
        return [p for p in self.workers.values() if p is not None and p.popen.poll() is None]

    def reap(self, restart: bool, *, final: bool = False) -> None:
        """Note exited workers; schedule their restart (a supervisor would do the same)."""
        for slot, proc in list(self.workers.items()):
            if proc is None:
                continue
            code = proc.popen.poll()
            if code is None:
                continue
            self.event("exit", role="worker", slot=slot, pid=proc.pid, code=code, stderr=str(proc.stderr),
                       final=final)
            self.workers[slot] = None
            if restart:
                self.restart_at[slot] = time.monotonic() + self.rng.uniform(0.0, 0.3)
        now = time.monotonic()
        for slot, when in list(self.restart_at.items()):
            if now >= when:
                self.spawn_worker(slot)

    def kill(self, proc: _Proc, why: str, **fields: Any) -> None:
        try:
            proc.popen.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            return
        self.event("kill", role=proc.role, slot=proc.slot, pid=proc.pid, why=why, **fields)

    def kill_mid_batch(self, victim: _Proc, patience: float = 10.0) -> None:
        """SIGKILL the victim producer while an enqueue call is in flight: its last record is a
        `begin` without its `ok`.

        Reading the log and then killing would race the call's end (a batch takes a few ms), so the
        victim is frozen first (SIGSTOP, and wait until /proc says it stopped), its log read, and
        killed only if a call is open; otherwise it is thawed and caught again a moment later.
        After `patience` seconds it is killed anyway, and the run reports no interrupted batch."""
        path = self.log_dir / f"producer-v{victim.slot}.jsonl"
        give_up = time.monotonic() + patience
        jitter = random.Random(self.c.seed)  # this thread's own: self.rng belongs to the fault loop
        while victim.popen.poll() is None and time.monotonic() < give_up:
            try:
                victim.popen.send_signal(signal.SIGSTOP)
            except ProcessLookupError:
                return
            if not _wait_stopped(victim.pid, time.monotonic() + 1.0):
                break
            lines = path.read_bytes().splitlines() if path.exists() else []
            last = json.loads(lines[-1]) if lines else None
            if last is not None and last["ev"] == "begin":
                self.kill(victim, "producer mid-batch", batch=last["batch"], size=len(last["uids"]))
                return
            victim.popen.send_signal(signal.SIGCONT)
            time.sleep(jitter.uniform(0.001, 0.01))
        self.kill(victim, "producer (no batch caught in flight)")

    # ── the SIGSTOP of a worker running a slow job ──
    def open_slow_run(self, pid: int) -> dict[str, Any] | None:
        """A slow run of worker `pid` that started and has not ended, from its own records."""
        path = self.log_dir / f"worker-{pid}.jsonl"
        if not path.exists():
            return None
        open_runs: dict[tuple[str, int], dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            key = (r.get("uid"), r.get("tok"))
            if r["ev"] == "start" and r.get("sleep", 0) >= 0.3:
                open_runs[key] = r  # type: ignore[index]
            elif r["ev"] == "end":
                open_runs.pop(key, None)  # type: ignore[arg-type]
        return next(iter(open_runs.values()), None)

    def try_stop(self) -> _Proc | None:
        candidates = [p for p in self.live_workers() if self.open_slow_run(p.pid)]
        if not candidates:
            return None
        proc = self.rng.choice(candidates)
        sent = time.time()
        proc.popen.send_signal(signal.SIGSTOP)
        time.sleep(0.05)  # a stop takes effect when each thread next leaves the kernel
        run = self.open_slow_run(proc.pid)  # still running now that the process is frozen?
        if run is None:
            proc.popen.send_signal(signal.SIGCONT)
            self.event("stop-miss", pid=proc.pid, sent=sent)
            return None
        self.event("stop", role="worker", slot=proc.slot, pid=proc.pid, uid=run["uid"], tok=run["tok"], sent=sent)
        return proc

    # ── the run ──
    def run(self) -> tuple[bool, int]:
        c = self.c
        shards = None if c.database_url else c.shards
        Queue(data_dir=self.data_dir, shards=shards, settings=self.settings, rate_limit=0).close()
        sampler = _WalSampler(self.data_dir)
        sampler.start()
        monitor = Queue(data_dir=self.data_dir, settings=self.settings, rate_limit=0)
        try:
            self._inject_faults()
            drained = self._drain(monitor)
            self._stop_all()
        finally:
            sampler.halt.set()
            sampler.join()
            for proc in [*self.live_workers(), *self.producers]:
                if proc.popen.poll() is None:
                    proc.popen.send_signal(signal.SIGCONT)
                    proc.popen.kill()
                    proc.popen.wait()
            monitor.close()
            self._timeline_file.close()
        return drained, sampler.max

    def _poison_plan(self) -> list[dict[int, str]]:
        plans: list[dict[int, str]] = [{} for _ in range(self.c.producers)]
        rounds = list(range(1, max(2, self.c.rounds // 2)))
        for n in range(self.c.poison):
            plan = plans[n % self.c.producers]
            free = [r for r in rounds if r not in plan] or rounds
            plan[self.rng.choice(free)] = "sigkill" if n % 2 else "exit"
        return plans

    def _inject_faults(self) -> None:
        c, rng = self.c, self.rng
        for slot in range(c.workers):
            self.spawn_worker(slot)
        for slot, poison in enumerate(self._poison_plan()):
            self.spawn_producer(slot, "regular", poison)
        self.spawn_producer(c.producers, "victim", {})
        victim = self.producers[-1]
        start = time.monotonic()
        next_kill = start + rng.uniform(*c.kill_every)
        stop_from = start + rng.uniform(1.5, 3.0)
        victim_kill = start + rng.uniform(0.8, 2.5)
        stopped: _Proc | None = None
        cont_at = quiet_until = 0.0
        spared: int | None = None
        stop_done = False
        aim: threading.Thread | None = None
        regular = self.producers[:-1]
        while True:
            now = time.monotonic()
            if now - start >= c.fault_seconds and stopped is None and all(p.popen.poll() is not None for p in regular):
                break
            if now - start > c.fault_seconds + 60:
                raise RuntimeError("the regular producers did not finish within a minute of the fault phase")
            self.reap(restart=True)
            if aim is None and now >= victim_kill:
                (self.log_dir / "victim.go").touch()
                aim = threading.Thread(target=self.kill_mid_batch, args=(victim,), name="victim killer")
                aim.start()
            if stopped is not None and now >= cont_at:
                sent = time.time()  # the thawed process may write records before the event below
                stopped.popen.send_signal(signal.SIGCONT)
                self.event("cont", role="worker", slot=stopped.slot, pid=stopped.pid, sent=sent)
                spared, stopped = stopped.pid, None
                quiet_until = now + 1.0  # let the thawed worker try its stale completions
            elif stopped is None and not stop_done and now >= stop_from and now - start < c.fault_seconds:
                stopped = self.try_stop()
                if stopped is not None:
                    stop_done = True
                    cont_at = now + c.stop_seconds
            if stopped is None and now >= quiet_until and now >= next_kill and now - start < c.fault_seconds:
                victims = [p for p in self.live_workers() if p.pid != spared]
                if victims:
                    self.kill(rng.choice(victims), "chaos")
                next_kill = now + rng.uniform(*c.kill_every)
            time.sleep(0.02)
        if aim is not None:
            aim.join()
        for proc in self.producers:
            if proc is victim and proc.popen.poll() is None:
                self.kill(victim, "producer (the fault phase ended first)")
            code = proc.popen.wait()
            self.event("exit", role="producer", slot=proc.slot, pid=proc.pid, code=code, stderr=str(proc.stderr),
                       final=proc is not victim)

    def _drain(self, monitor: Queue) -> bool:
        deadline = time.monotonic() + self.c.drain_timeout
        for slot in self.restart_at:
            self.restart_at[slot] = 0.0
        while time.monotonic() < deadline:
            self.reap(restart=True)  # poison jobs still kill workers while the queue drains
            if monitor.backend.count_live() == 0:
                self.event("drained")
                return True
            time.sleep(0.05)
        self.event("drain-timeout", live=monitor.backend.count_live())
        return False

    def booted(self, proc: _Proc) -> bool:
        path = self.log_dir / f"worker-{proc.pid}.jsonl"
        return path.exists() and b'"ev":"boot"' in path.read_bytes()

    def _stop_all(self) -> None:
        self.reap(restart=False)
        # a worker still starting has no SIGTERM handler yet, and would die of the signal
        deadline = time.monotonic() + 15.0
        while not all(self.booted(p) for p in self.live_workers()) and time.monotonic() < deadline:
            time.sleep(0.02)
        for proc in self.live_workers():
            proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15.0
        while self.live_workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        for proc in self.live_workers():
            self.kill(proc, "did not stop within 15s of SIGTERM")
            proc.popen.wait()
        self.reap(restart=False, final=True)

    # ── what the run left behind ──
    def evidence(self, drained: bool, wal_max: int) -> Evidence:
        workers, bad_w = read_records(self.log_dir, "worker-")
        producers, bad_p = read_records(self.log_dir, "producer-")
        with Queue(data_dir=self.data_dir, settings=self.settings, rate_limit=0) as queue:
            jobs = queue.list_jobs(None, limit=10_000_000)
            dead = queue.dlq_list(limit=10_000_000)
            shards = queue.num_shards
        return Evidence(
            worker_records=workers, producer_records=producers, timeline=self.timeline, jobs=jobs,
            dead_letters=dead, poison_attempts=POISON_RETRIES + 1,
            expiries=_pg_expiries(self.c) if self.c.database_url else _expiries(self.data_dir, shards),
            wal_max=wal_max, wal_bound=wal_bound(), drained=drained, unreadable_lines=bad_w + bad_p,
        )


def _expiries(data_dir: Path, shards: int) -> dict[int, list[tuple[int, str | None]]]:
    """(attempt, worker id) of every LeaseExpired error, per job id, read straight from the files:
    the public Job.errors does not say which worker held the lease that expired."""
    found: dict[int, list[tuple[int, str | None]]] = {}
    for shard_id in range(shards):
        uri = f"file:{data_dir / f'shard_{shard_id}.db'}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute("SELECT job_rowid, attempt, worker_id FROM job_errors "
                                "WHERE error_type = 'LeaseExpired' ORDER BY job_rowid, attempt").fetchall()
        finally:
            conn.close()
        for rowid, attempt, worker_id in rows:
            found.setdefault(rowid * MAX_SHARDS + shard_id, []).append((attempt, worker_id))
    return found


def _pg_expiries(config: ChaosConfig) -> dict[int, list[tuple[int, str | None]]]:
    """`_expiries` of a PostgreSQL run: its one shard's LeaseExpired errors."""
    import psycopg

    assert config.database_url is not None
    found: dict[int, list[tuple[int, str | None]]] = {}
    with psycopg.connect(config.database_url) as conn:
        rows = conn.execute(f'SELECT job_rowid, attempt, worker_id FROM "{config.database_schema}".job_errors '
                            "WHERE error_type = 'LeaseExpired' ORDER BY job_rowid, attempt").fetchall()
    for rowid, attempt, worker_id in rows:
        found.setdefault(rowid * MAX_SHARDS, []).append((attempt, worker_id))
    return found


def run_chaos(config: ChaosConfig, run_dir: Path) -> ChaosRun:
    """One seeded chaos run in `run_dir` (which must be empty or new)."""
    started = time.monotonic()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config)))
    driver = _Driver(config, run_dir)
    drained, wal_max = driver.run()
    verdict = check(driver.evidence(drained, wal_max))
    return ChaosRun(config, run_dir, verdict, driver.timeline, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", required=True, help="repeat for several seeds")
    parser.add_argument("--run-dir", type=Path, help="where to keep the runs (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run directories of passing seeds too (failing ones are always kept)")
    parser.add_argument("--workers", type=int, default=ChaosConfig.workers)
    parser.add_argument("--fault-seconds", type=float, default=ChaosConfig.fault_seconds)
    args = parser.parse_args(argv)
    base = args.run_dir or Path(tempfile.mkdtemp(prefix="queue-max-chaos-"))
    failed = 0
    for seed in args.seed:
        run = run_chaos(ChaosConfig(seed=seed, workers=args.workers, fault_seconds=args.fault_seconds),
                        base / f"seed-{seed}")
        print(run.report(), flush=True)
        failed += not run.ok
        if run.ok and not args.keep:
            shutil.rmtree(run.run_dir, ignore_errors=True)
    print(f"{len(args.seed) - failed} of {len(args.seed)} seeds passed; runs in {base}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
