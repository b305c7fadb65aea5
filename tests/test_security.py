"""Nothing leaked, nothing rewritten: the app's users (bcrypt, signed session
tokens), the tamper-evident access log (keyed hash chain, head in Neo4j,
``ringscope audit verify``), files only the owner can read, and failure
handling (a dead server is one sentence within seconds; stopping ``ringscope
app`` stops Streamlit). Against real files, the real Neo4j and real
subprocesses of the ``ringscope`` command."""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RINGSCOPE = [sys.executable, "-m", "ringscope.cli"]


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def cli(*args: str, env: dict | None = None, stdin: str | None = None, timeout: float = 300):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([*RINGSCOPE, *args], env=e, input=stdin, capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO))


@pytest.fixture()
def private_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RINGSCOPE_USERS", str(tmp_path / "app" / "users.json"))
    monkeypatch.setenv("RINGSCOPE_ACCESS_LOG", str(tmp_path / "app" / "access_log.jsonl"))
    monkeypatch.setenv("RINGSCOPE_AUDIT_KEY", str(tmp_path / "keys" / "audit.key"))
    monkeypatch.setenv("RINGSCOPE_BCRYPT_ROUNDS", "4")
    return tmp_path


# ------------------------------------------------------------------------------ users
def test_users_are_hashed_with_bcrypt_and_tokens_are_signed(private_env):
    from ringscope.store.users import UserError, UserStore, caller_from_token, issue_token

    store = UserStore()
    u = store.add("wang.jh", "investigator", ["小店区"], "s3cret-pass", "王建华")
    raw = store.path.read_text(encoding="utf-8")
    assert "s3cret-pass" not in raw and u.password_hash.startswith("$2b$04$")
    assert mode(store.path) == 0o600 and mode(store.path.parent) == 0o700
    assert store.authenticate("wang.jh", "s3cret-pass").name == "wang.jh"
    assert store.authenticate("wang.jh", "wrong-pass") is None and store.authenticate("nobody", "x" * 8) is None
    with pytest.raises(UserError):
        store.add("wang.jh", "analyst", ["*"], "another-pass")
    with pytest.raises(UserError):
        store.add("li", "root", ["*"], "another-pass")
    with pytest.raises(UserError):
        store.add("li", "analyst", ["*"], "short")

    tok = issue_token(u)
    caller, _ = caller_from_token(tok)
    assert (caller.user, caller.role, caller.districts) == ("wang.jh", "investigator", ("小店区",))
    assert caller_from_token(tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")) is None   # forged
    assert caller_from_token("not-a-token") is None
    # the role is the users file's, never the token's: a change ends the session
    store.set("wang.jh", role="analyst")
    assert caller_from_token(tok) is None
    tok2 = issue_token(store.get("wang.jh"))
    assert caller_from_token(tok2)[0].role == "analyst"
    store.disable("wang.jh")
    assert caller_from_token(tok2) is None and store.authenticate("wang.jh", "s3cret-pass") is None
    store.enable("wang.jh")
    tok3 = issue_token(store.get("wang.jh"))
    time.sleep(1.1)
    assert caller_from_token(tok3, max_age=0) is None   # expired
    assert caller_from_token(tok3) is not None


def test_users_command(private_env):
    r = cli("users", "add", "li.fx", "--role", "analyst", "--district", "迎泽区", "--district", "小店区",
            "--display-name", "李分析", "--password-stdin", stdin="pass-word-1\n")
    assert r.returncode == 0, r.stderr
    r = cli("users", "add", "li.fx", "--role", "analyst", "--password-stdin", stdin="pass-word-1\n")
    assert r.returncode == 2 and "exists" in r.stderr
    r = cli("users", "disable", "li.fx")
    assert r.returncode == 0
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert listed == [{**listed[0], "name": "li.fx", "role": "analyst", "districts": ["小店区", "迎泽区"],
                       "active": False, "display_name": "李分析"}]
    assert "password_hash" not in listed[0]
    assert mode(Path(os.environ["RINGSCOPE_USERS"])) == 0o600


# ------------------------------------------------------------------------------ the access log
def _write(n: int, runner=None):
    from ringscope.store.audit import AccessEvent, AccessLogger

    logger = AccessLogger(runner)
    for i in range(n):
        logger.log(AccessEvent(user=f"u{i}", role="analyst", page="leads", entity=f"lead:{i}", fields=["name"],
                               masked=True))
    return logger.path


def _lines(p: Path) -> list[str]:
    return p.read_text(encoding="utf-8").splitlines()


def _put(p: Path, lines: list[str]) -> None:
    p.write_text("".join(x + "\n" for x in lines), encoding="utf-8")


@pytest.mark.neo4j
def test_the_access_log_detects_edit_delete_truncate_reorder_recompute(private_env, neo4j_server):
    from ringscope.store.audit import entry_mac, load_key, verify_log
    from ringscope.store.db import QueryRunner

    with QueryRunner(neo4j_server) as runner:
        path = _write(6, runner)
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
        assert mode(Path(os.environ["RINGSCOPE_AUDIT_KEY"])) == 0o600
        v = verify_log(path, runner=runner)
        assert v.ok and v.n_entries == 6 and v.head_checked and v.head_seq == 6, v.summary()
        good = _lines(path)

        def check(lines, line, words):
            _put(path, lines)
            v = verify_log(path, runner=runner)
            assert not v.ok, f"not detected: {words}"
            assert v.first_bad_line == line, (words, v)
            assert any(w in v.problem for w in words.split("|")), (words, v.problem)
            return v

        edited = list(good)
        rec = json.loads(edited[2])
        rec["user"] = "someone_else"
        edited[2] = json.dumps(rec, ensure_ascii=False, sort_keys=True)
        check(edited, 3, "keyed hash")
        check(good[:2] + good[3:], 3, "deleted")
        check([good[0], good[2], good[1], *good[3:]], 2, "reordered")
        check(good[:4], None, "cut off")                                    # truncation: the head knows better
        check(good[:3] + ["{not json"] + good[3:], 4, "malformed")           # reported, no crash
        check(good[:3] + ["[1, 2]"] + good[3:], 4, "malformed")
        # recomputed without the key: the first line already fails
        forged, prev = [], ""
        for line in good:
            r = json.loads(line)
            r["user"] = "x"
            r["mac"] = entry_mac(b"guessed key", prev, r)
            prev = r["mac"]
            forged.append(json.dumps(r, ensure_ascii=False, sort_keys=True))
        check(forged, 1, "keyed hash")
        # recomputed WITH the key (an intruder who stole it): the chain is whole, the head in Neo4j is not
        key, forged, prev = load_key(), [], ""
        for i, line in enumerate(good):
            r = json.loads(line)
            if i == 1:
                r["user"] = "x"
            r["mac"] = entry_mac(key, prev, r)
            prev = r["mac"]
            forged.append(json.dumps(r, ensure_ascii=False, sort_keys=True))
        check(forged, 6, "recomputed")
        _put(path, good)
        assert verify_log(path, runner=runner).ok

        # the command: 0 intact, 1 tampered, naming the first bad line
        r = cli("audit", "verify")
        assert r.returncode == 0 and "intact: 6 entries" in r.stdout, r.stdout + r.stderr
        _put(path, good[:2] + good[3:])
        r = cli("audit", "verify")
        assert r.returncode == 1 and "line 3" in r.stdout, r.stdout
        _put(path, good[:3] + ["garbage"] + good[3:])
        r = cli("audit", "verify", "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["first_bad_line"] == 4


@pytest.mark.neo4j
def test_the_access_log_detects_a_deleted_emptied_or_replaced_file(private_env, neo4j_server):
    """The head in Neo4j is found by the file's path, not only by the file's own
    log_id: deleting or emptying the file, or recomputing the chain with the key
    under a new log_id, is tampering; a rotation (``ringscope audit rotate``)
    closes the head and is not."""
    import uuid

    from ringscope.store.audit import entry_mac, load_key, verify_log
    from ringscope.store.db import QueryRunner

    with QueryRunner(neo4j_server) as runner:
        path = _write(4, runner)
        good = _lines(path)
        assert verify_log(path, runner=runner).ok

        path.unlink()                                                         # deleted
        v = verify_log(path, runner=runner)
        assert not v.ok and v.head_seq == 4 and "删除" in v.problem and "missing" in v.problem, v.summary()
        r = cli("audit", "verify")
        assert r.returncode == 1 and "TAMPERED" in r.stdout and "deleted" in r.stdout, r.stdout + r.stderr

        _put(path, [])                                                        # emptied
        v = verify_log(path, runner=runner)
        assert not v.ok and "清空" in v.problem and "empty" in v.problem, v.summary()
        assert cli("audit", "verify").returncode == 1

        # recomputed WITH the key under a new log_id: a whole chain, but not the head's log
        key, forged, prev, new_id = load_key(), [], "", uuid.uuid4().hex
        for line in good:
            r = json.loads(line)
            r["user"], r["log_id"] = "x", new_id
            r["mac"] = entry_mac(key, prev, r)
            prev = r["mac"]
            forged.append(json.dumps(r, ensure_ascii=False, sort_keys=True))
        _put(path, forged)
        v = verify_log(path, runner=runner)
        assert not v.ok and v.first_bad_line == 1 and "日志编号" in v.problem and "new log_id" in v.problem, v
        r = cli("audit", "verify", "--json")
        assert r.returncode == 1 and "new log_id" in json.loads(r.stdout)["problem"]
        # ... even after the forger wrote a new entry with the database up (a head of its own)
        from ringscope.store.audit import AccessEvent, AccessLogger

        AccessLogger(runner).log(AccessEvent("x", "analyst", "leads", "lead:x", ["name"], True))
        assert not verify_log(path, runner=runner).ok


@pytest.mark.neo4j
def test_a_rotated_access_log_is_told_apart_from_a_deleted_one(private_env, neo4j_server):
    from ringscope.store.audit import rotate_log, verify_log
    from ringscope.store.db import QueryRunner

    with QueryRunner(neo4j_server) as runner:
        path = _write(3, runner)
        good = _lines(path)
        _put(path, good[:1] + good[2:])
        with pytest.raises(ValueError, match="篡改"):                        # a tampered log is never rotated
            rotate_log(path, runner=runner)
        _put(path, good)
        r = cli("audit", "rotate")
        assert r.returncode == 0 and "轮换" in r.stdout, r.stdout + r.stderr
        old_id = json.loads(good[0])["log_id"]
        archive = path.with_name(f"access_log.{old_id}.jsonl")
        assert not path.exists() and _lines(archive) == good and mode(archive) == 0o600
        v = verify_log(path, runner=runner)                                   # no log yet, and that is fine
        assert v.ok and v.n_entries == 0, v.summary()
        new = _write(2, runner)                                               # a new log at the old path
        assert new == path and json.loads(_lines(path)[0])["log_id"] != old_id
        v = verify_log(path, runner=runner)
        assert v.ok and v.n_entries == 2 and v.head_seq == 2, v.summary()
        v = verify_log(archive, runner=runner)                                # the old log, against its own head
        assert v.ok and v.head_seq == 3, v.summary()
        assert cli("audit", "verify").returncode == 0
        # after the rotation, deleting the new log is still caught
        path.unlink()
        assert not verify_log(path, runner=runner).ok


def test_concurrent_writers_keep_one_chain(private_env):
    """Several processes appending at once: the flock keeps one unbroken chain."""
    from ringscope.store.audit import verify_log

    code = ("from ringscope.store.audit import AccessEvent, AccessLogger\n"
            "l = AccessLogger(None)\n"
            "for i in range(40): l.log(AccessEvent('w', 'analyst', 'p', f'e{i}', ['name'], True))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ)) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    v = verify_log(Path(os.environ["RINGSCOPE_ACCESS_LOG"]))
    assert v.ok and v.n_entries == 160, v.summary()


# ------------------------------------------------------------------------------ file modes
def test_results_and_datasets_written_by_the_command_are_the_owners_alone(tmp_path):
    city, res = tmp_path / "city", tmp_path / "res"
    assert cli("generate", str(city), "--persons", "200", "--seed", "3").returncode == 0
    r = cli("detect", str(city), "--out", str(res), "--no-neo4j", "--no-gnn", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for root in (city, res):
        for p in [root, *root.rglob("*")]:
            want = 0o700 if p.is_dir() else 0o600
            assert mode(p) & 0o077 == 0, f"{p} is {oct(mode(p))}, want {oct(want)}"
    assert (res / "leads.csv").exists()


@pytest.mark.neo4j
def test_the_neo4j_home_is_the_owners_alone(neo4j_server):
    if os.environ.get("NEO4J_URI"):
        pytest.skip("another server")
    from ringscope.settings import state_dir

    root = state_dir() / "neo4j"
    assert mode(root) == 0o700
    loose = [p for p in (root / "data").rglob("*") if not p.is_symlink() and mode(p) & 0o077]
    assert not loose, loose[:5]
    assert mode(root / "password") == 0o600


# ------------------------------------------------------------------------------ failures
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_server_is_one_sentence_within_seconds(tmp_path):
    from ringscope.store.db import Neo4jUnavailable, QueryRunner
    from ringscope.settings import Neo4jSettings

    dead = f"bolt://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(Neo4jUnavailable, match="cannot be reached"):
        with QueryRunner(Neo4jSettings(dead, "neo4j", "x", local=False)) as q:
            q.run("RETURN 1")
    assert time.monotonic() - t0 < 20
    env = {"NEO4J_URI": dead, "NEO4J_PASSWORD": "x"}
    city = tmp_path / "city"
    assert cli("generate", str(city), "--persons", "200", "--seed", "3").returncode == 0
    r = cli("ingest", str(city), env=env, timeout=120)
    assert r.returncode == 3 and r.stderr.strip().splitlines()[-1].startswith("error: Neo4j at"), r.stderr[-1500:]
    assert "Traceback" not in r.stderr
    for args in (["app", "--port", str(_free_port())], ["neo4j", "status"], ["ingest", str(city)],
                 ["screenshots", str(tmp_path / "shots")]):
        t0 = time.monotonic()
        r = cli(*args, env=env, timeout=60)
        took = time.monotonic() - t0
        assert r.returncode != 0, args
        assert "Traceback" not in r.stderr, r.stderr[-1500:]
        assert took < 30, f"{args} took {took:.0f}s"
    for args in (["app", "--port", str(_free_port())], ["screenshots", str(tmp_path / "shots")]):
        r = cli(*args, env=env, timeout=60)
        assert r.returncode == 3, args
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert lines == [f"error: Neo4j at {dead} cannot be reached: check NEO4J_URI and that the server is running."]


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


@pytest.mark.neo4j
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_app_command_stops_streamlit(neo4j_server, tmp_path, sig):
    import urllib.request

    port = _free_port()
    proc = subprocess.Popen([*RINGSCOPE, "app", "--port", str(port)], cwd=str(REPO),
                            stdout=open(tmp_path / "app.log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError((tmp_path / "app.log").read_text()[-2000:])
        kids = _children(proc.pid)
        assert kids, "streamlit runs as a child"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        import psutil

        deadline = time.time() + 15
        while time.time() < deadline and any(psutil.pid_exists(k) and psutil.Process(k).status() != "zombie"
                                             for k in kids):
            time.sleep(0.3)
        alive = [k for k in kids if psutil.pid_exists(k) and psutil.Process(k).status() != "zombie"]
        assert not alive, f"streamlit still serving after {sig!r}"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"
    finally:
        if proc.poll() is None:
            proc.kill()
