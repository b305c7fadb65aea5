"""Loads that cannot trample each other, can be repeated on purpose, and survive a
dead server (issue 17, item 6): the load locks (a lock node in Neo4j, a file lock
for the local server), ``ingest --reload`` with the load log, and a Neo4j JVM
killed with SIGKILL in the middle of a load. Real server, real ``ringscope``
processes, small generated cities."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.neo4j

REPO = Path(__file__).resolve().parent.parent
RINGSCOPE = [sys.executable, "-m", "ringscope.cli"]
BOOKKEEPING = ("LoadState", "LoadLog", "LoadLock")
_KEY = ("coalesce(n.visit_id, n.line_id, n.capture_id, n.case_id, n.trace_code, n.item_code, "
        "n.physician_id, n.person_id, n.institution_id)")
NODES = ("MATCH (n) WHERE NOT (n:LoadState OR n:LoadLog OR n:LoadLock) "
         "RETURN labels(n) AS labels, properties(n) AS props")
RELS = ("MATCH (a)-[r]->(b) RETURN type(r) AS t, properties(r) AS props, "
        + _KEY.replace("n.", "a.") + " AS a, " + _KEY.replace("n.", "b.") + " AS b")


def snapshot(q) -> Counter:
    """Every node (labels, properties) and relationship (type, properties, end keys)
    of the data, bookkeeping left out: two equal snapshots are the same graph."""
    out: Counter = Counter()
    for r in q.read(NODES):
        out["N " + json.dumps([sorted(r["labels"]), sorted(r["props"].items())], default=str)] += 1
    for r in q.read(RELS):
        out["R " + json.dumps([r["t"], r["a"], r["b"], sorted(r["props"].items())], default=str)] += 1
    return out


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*RINGSCOPE, *args], env=dict(os.environ, **(env or {})), capture_output=True,
                          text=True, timeout=timeout, cwd=str(REPO))


def popen(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*RINGSCOPE, *args], env=dict(os.environ, **(env or {})), cwd=str(REPO),
                            stdout=open(log.with_suffix(".out"), "wb"), stderr=open(log, "wb"))


def result_of(stdout: str) -> dict:
    """The JSON summary ``ringscope ingest`` prints after the dataset summary."""
    return json.loads("{" + stdout.split("\n{", 1)[1])


def err_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def wait_until(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the loader ended first (rc {proc.returncode}):\n"
                                 + (log.read_text()[-2000:] if log else ""))
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("safety") / "city"
    generate(out, persons=200, seed=5)
    return out


@pytest.fixture(scope="module")
def city_ds(city):
    from ringscope.ingest.reader import read_dataset

    return read_dataset(city)


def _lock_holder(q) -> dict | None:
    rows = q.read("MATCH (l:LoadLock {name: 'ingest'}) RETURN l.pid AS pid, l.host AS host, l.owner AS owner")
    return rows[0] if rows else None


# ------------------------------------------------------------------------------ locks
def test_a_second_loader_is_refused_naming_the_holder_or_waits(neo4j_runner, city, city_ds, tmp_path):
    """Local server: file lock + lock node. B (batched) and C (bulk) are refused at
    once with exit 4 naming A; D waits with --wait and then finds everything loaded."""
    from ringscope.store.load import graph_counts

    a_log = tmp_path / "a.err"
    a = popen("ingest", str(city), "--mode", "batched", "--batch-size", "20", log=a_log)
    try:
        wait_until(lambda: (_lock_holder(neo4j_runner) or {}).get("pid") == a.pid, 120,
                   "loader A takes the lock", a, a_log)
        refused = [popen("ingest", str(city), "--mode", mode, log=tmp_path / f"{mode}.err")
                   for mode in ("batched", "bulk")]
        d_log = tmp_path / "d.err"
        d = popen("ingest", str(city), "--mode", "batched", "--wait", "600", log=d_log)
        rcs = [p.wait(timeout=300) for p in refused]
        assert a.poll() is None, "A should still be loading: make its city bigger or its batches smaller"
        for p, rc, mode in zip(refused, rcs, ("batched", "bulk")):
            err = (tmp_path / f"{mode}.err").read_text()
            assert rc == 4, err[-2000:]
            assert "Traceback" not in err
            [line] = err_lines(err)
            assert line.startswith("error: another loader holds the load lock of the local Neo4j"), line
            assert f"pid {a.pid} on {socket.gethostname()}" in line and "ingest (batched)" in line, line
            assert "--wait SECONDS" in line
        assert a.wait(timeout=600) == 0, a_log.read_text()[-2000:]
        assert d.wait(timeout=600) == 0, d_log.read_text()[-2000:]
    finally:
        if a.poll() is None:
            a.kill()
    out = result_of(d_log.with_suffix(".out").read_text())
    assert sum(out["tables"].values()) == 0, "D ran after A and found every table loaded"
    assert graph_counts(neo4j_runner)["Visit"] == len(city_ds.tables["visits"])
    assert _lock_holder(neo4j_runner) is None, "the lock is given back"


def test_two_loaders_started_together_on_a_remote_server_one_runs(neo4j_runner, city, city_ds, tmp_path):
    """NEO4J_URI set: no file lock, only the lock node. Of two loaders started at
    the same moment exactly one loads; the other exits 4 naming it (no race on
    the schema, no traceback)."""
    from ringscope.store.load import graph_counts

    s = neo4j_runner.settings
    env = {"NEO4J_URI": s.uri, "NEO4J_USER": s.user, "NEO4J_PASSWORD": s.password}
    procs = [popen("ingest", str(city), "--mode", "batched", "--batch-size", "250",
                   log=tmp_path / f"p{i}.err", env=env) for i in range(2)]
    rcs = [p.wait(timeout=600) for p in procs]
    errs = [(tmp_path / f"p{i}.err").read_text() for i in range(2)]
    assert sorted(rcs) == [0, 4], errs
    loser = rcs.index(4)
    winner = 1 - loser
    assert "Traceback" not in errs[loser] and "Traceback" not in errs[winner], errs
    [line] = err_lines(errs[loser])
    assert line.startswith(f"error: another loader holds the load lock of {s.uri}: ingest (batched) by "), line
    assert f"pid {procs[winner].pid} on {socket.gethostname()}" in line and "last heartbeat" in line, line
    assert graph_counts(neo4j_runner)["Visit"] == len(city_ds.tables["visits"])
    assert _lock_holder(neo4j_runner) is None


def _plant_lock(q, *, pid: int, host: str, age_s: int, token: str = "old-token", pid_started: float = 0.0):
    from ringscope.store.locks import NodeLock

    NodeLock(q).ensure_schema()
    q.run("MERGE (l:LoadLock {name: 'ingest'}) SET l.token = $token, l.pid = $pid, l.host = $host, "
          "l.owner = 'zhao', l.purpose = 'ingest (batched)', l.pid_started = $ps, "
          "l.started_at = datetime() - duration({seconds: $age}), "
          "l.heartbeat_at = datetime() - duration({seconds: $age})",
          {"token": token, "pid": pid, "host": host, "age": age_s, "ps": pid_started})


def test_stale_locks_are_taken_over_and_live_ones_are_not(neo4j_runner):
    from ringscope.store.locks import LoadLocked, NodeLock

    q = neo4j_runner
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # the holder's process on this host is gone
    _plant_lock(q, pid=gone.pid, host=socket.gethostname(), age_s=5)
    lk = NodeLock(q).acquire()
    assert lk.took_over and f"its process {gone.pid} on this host is gone" in lk.took_over
    assert _lock_holder(q)["pid"] == os.getpid()
    lk.release()
    assert _lock_holder(q) is None
    # this pid, but another process (the pid was reused): stale
    _plant_lock(q, pid=os.getpid(), host=socket.gethostname(), age_s=5, pid_started=1.0)
    with NodeLock(q).acquire() as lk:
        assert "now belongs to another process" in lk.took_over
    # another machine, silent for 20 minutes: stale
    _plant_lock(q, pid=1, host="yb-etl-02.example", age_s=1200)
    with NodeLock(q).acquire() as lk:
        assert "heartbeat is 1200 s old" in lk.took_over
    # another machine, alive: refused at once, and after waiting
    _plant_lock(q, pid=1, host="yb-etl-02.example", age_s=3)
    with pytest.raises(LoadLocked, match=r"ingest \(batched\) by zhao, pid 1 on yb-etl-02.example"):
        NodeLock(q).acquire()
    t0 = time.monotonic()
    with pytest.raises(LoadLocked, match="after waiting 2 s"):
        NodeLock(q).acquire(wait=2)
    assert 1.9 <= time.monotonic() - t0 < 15
    assert _lock_holder(q)["host"] == "yb-etl-02.example", "a live lock is never released by another"
    NodeLock(q).release()                  # a lock we do not hold: untouched
    assert _lock_holder(q)["host"] == "yb-etl-02.example"


def test_two_take_overs_of_one_stale_lock_one_wins(neo4j_runner):
    from ringscope.store.locks import LoadLocked, NodeLock

    q = neo4j_runner
    for _ in range(3):
        _plant_lock(q, pid=1, host="dead.example", age_s=3600)
        barrier = threading.Barrier(4)
        got, refused = [], []

        def go():
            lk = NodeLock(q)
            barrier.wait()
            try:
                got.append(lk.acquire())
            except LoadLocked:
                refused.append(lk)

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(got) == 1 and len(refused) == 3, (len(got), len(refused))
        assert q.read("MATCH (l:LoadLock) RETURN l.token AS t") == [{"t": got[0].token}]
        got[0].release()


def test_the_heartbeat_renews_the_lock_and_notices_a_take_over(neo4j_runner):
    from ringscope.store.locks import LoadLocked, NodeLock

    q = neo4j_runner
    lk = NodeLock(q, heartbeat_s=0.2).acquire()
    try:
        q.run("MATCH (l:LoadLock) SET l.heartbeat_at = datetime() - duration('PT1H')")
        wait_until(lambda: q.scalar("MATCH (l:LoadLock) RETURN duration.inSeconds(l.heartbeat_at, datetime())"
                                    ".seconds") < 60, 10, "the heartbeat renews the lock")
        lk.check()
        q.run("MATCH (l:LoadLock) SET l.token = 'someone-else'")
        wait_until(lambda: lk.lost, 10, "the holder notices its lock was taken")
        with pytest.raises(LoadLocked, match="taken over by another loader"):
            lk.check()
    finally:
        lk.release()
    assert _lock_holder(q) is not None, "the lock of the other holder stays"


# ------------------------------------------------------------------------------ re-load
def _second_version(city: Path, dest: Path) -> None:
    """A corrected export of the same city: visits moved to another institution,
    claim lines to another item, physicians to another institution."""
    shutil.copytree(city, dest)
    inst = pd.read_csv(city / "institutions.csv", dtype=str, keep_default_na=False)["institution_id"].tolist()
    other = {a: inst[(i + 1) % len(inst)] for i, a in enumerate(inst)}
    v = pd.read_csv(dest / "visits.csv", dtype=str, keep_default_na=False)
    moved = v.index[::7]
    v.loc[moved, "institution_id"] = v.loc[moved, "institution_id"].map(other)
    v.loc[v.index[::5], "total_amount"] = (v.loc[v.index[::5], "total_amount"].astype(float) + 1).map("{:.2f}".format)
    v.to_csv(dest / "visits.csv", index=False)
    d = pd.read_csv(dest / "physicians.csv", dtype=str, keep_default_na=False)
    d.loc[d.index[::3], "institution_id"] = d.loc[d.index[::3], "institution_id"].map(other)
    d.to_csv(dest / "physicians.csv", index=False)
    cl = pd.read_csv(dest / "claim_lines.csv", dtype=str, keep_default_na=False)
    cl.loc[cl.index[::11], "quantity"] = (cl.loc[cl.index[::11], "quantity"].astype(float) + 1).map("{:g}".format)
    cl.to_csv(dest / "claim_lines.csv", index=False)


def test_reload_replaces_what_another_version_loaded(neo4j_runner, city, city_ds, tmp_path):
    from ringscope.ingest.reader import read_dataset
    from ringscope.store.load import apply_schema, ingest_dataset, load_log
    from ringscope.store.server import reset_database

    q = neo4j_runner
    _second_version(city, tmp_path / "v2")
    v2 = read_dataset(tmp_path / "v2")
    for t in ("visits", "physicians", "claim_lines"):
        assert len(v2.tables[t]) == len(city_ds.tables[t]), f"{t}: the second version is quarantined"
    ingest_dataset(city_ds, q, batch_size=5_000)
    reference = snapshot(q)
    reset_database(q)
    apply_schema(q)

    ingest_dataset(city_ds, q, batch_size=5_000)
    ingest_dataset(v2, q, batch_size=5_000)
    with_v2 = snapshot(q)
    assert with_v2 != reference
    # the first version again, without --reload: skipped, but not silently
    again = ingest_dataset(city_ds, q, batch_size=5_000)
    assert sum(again["tables"].values()) == 0
    assert set(again["older_versions"]) == {"visits", "physicians", "claim_lines"}
    assert "--reload visits" in again["older_versions"]["visits"]
    assert snapshot(q) == with_v2

    with pytest.raises(ValueError, match="needs a reason"):
        ingest_dataset(city_ds, q, reload="visits")
    # a re-load that dies half-way through the visits is finished by a plain re-run
    half = 500 * (len(city_ds.tables["visits"]) // 1_000)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_dataset(city_ds, q, batch_size=500, reload="all", reason="v2 moved visits by mistake",
                       fail_after_rows={"visits": half})
    done = ingest_dataset(city_ds, q, batch_size=5_000)
    assert done["skipped"]["visits"] == half and {"visits", "claim_lines"} <= set(done["reloaded"])
    assert snapshot(q) == reference, "the re-load replaced every value and relationship of v2"
    # and once more: nothing doubles
    res = ingest_dataset(city_ds, q, batch_size=5_000, reload="visits,claim_lines,physicians,face_captures,"
                                                                   "known_cases", reason="check")
    assert res["reloaded"] == ["physicians", "visits", "claim_lines", "face_captures", "known_cases"]
    assert snapshot(q) == reference

    log = load_log(q, limit=500)
    reloads = [e for e in log if e["action"] == "reload"]
    assert {e["table"] for e in reloads if e["reason"] == "v2 moved visits by mistake"} >= {
        "institutions", "physicians", "visits", "claim_lines"}
    first = next(e for e in reloads if e["table"] == "visits" and e["reason"] == "check")
    assert first["user"] and first["host"] == socket.gethostname() and first["at"]
    assert first["rows"] == len(city_ds.tables["visits"]) and first["dataset"] == str(city)
    assert {e["action"] for e in log} >= {"load", "reload"}


def test_reload_from_the_command_line(neo4j_runner, city, city_ds):
    r = cli("ingest", str(city), "--mode", "batched", "--reload", "visits", timeout=300)
    assert r.returncode == 2 and err_lines(r.stderr) == [
        "error: --reload needs --reason TEXT: why the tables are loaded again goes into the load log"]
    r = cli("ingest", str(city), "--mode", "batched", "--reload", "bills", "--reason", "x", timeout=300)
    assert r.returncode == 2 and "no table 'bills'" in r.stderr
    assert cli("ingest", str(city), "--mode", "batched", timeout=600).returncode == 0
    r = cli("ingest", str(city), "--mode", "batched", "--reload", "visits", "--reason", "稽核复核 2025-03",
            timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = result_of(r.stdout)
    assert counts["reloaded"] == ["visits"] and counts["tables"]["visits"] == len(city_ds.tables["visits"])
    assert counts["tables"]["persons"] == 0
    r = cli("ingest-log", "--table", "visits", "--json")
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stdout)
    assert [e["action"] for e in log] == ["reload", "load"] and log[0]["reason"] == "稽核复核 2025-03"
    assert neo4j_runner.scalar("MATCH (v:Visit) RETURN count(v)") == len(city_ds.tables["visits"])


# ------------------------------------------------------------------------------ a dead server
def test_the_server_killed_mid_load_then_a_rerun_resumes_exactly(local_neo4j_empty, city, city_ds, tmp_path):
    from ringscope.store import server
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import apply_schema, ingest_dataset

    with QueryRunner() as q:
        ingest_dataset(city_ds, q, batch_size=5_000)
        reference = snapshot(q)
        server.reset_database(q)
        apply_schema(q)

    log = tmp_path / "load.err"
    proc = popen("ingest", str(city), "--mode", "batched", "--batch-size", "100", log=log)
    try:
        with QueryRunner() as q:
            wait_until(lambda: (q.scalar("MATCH (v:Visit) RETURN count(v)") or 0) >= 400, 300,
                       "the load reaches the visits", proc, log)
        pid = server._read_pid()
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        rc = proc.wait(timeout=120)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    assert rc == 3, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    [line] = err_lines(err)
    assert line.startswith(f"error: Neo4j at bolt://127.0.0.1:{server._port()} stopped answering during the "
                           "load of "), line
    assert "rows committed): start it again and run the same command" in line
    assert took < 30, f"the loader needed {took:.0f} s to give up"

    server.start(wait=True)
    r = cli("ingest", str(city), "--mode", "batched", "--batch-size", "2000", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "took over a stale load lock" in r.stderr and f"its process {proc.pid} on this host is gone" in r.stderr
    res = result_of(r.stdout)
    assert sum(res["skipped"].values()) > 0, "the re-run resumed instead of starting over"
    with QueryRunner() as q:
        assert snapshot(q) == reference, "the resumed load equals an uninterrupted one"
        assert q.read("MATCH (l:LoadLock) RETURN l") == []
