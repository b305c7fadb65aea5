"""The project's own local Neo4j 5.26 Community server.

No Docker, no tarball: the server's jars are resolved from Maven Central with
the pom shipped in ``ringscope/store/poms/`` (``org.neo4j:neo4j``) and the JVM
is started directly on the server's main class,
``org.neo4j.server.CommunityEntryPoint``. No plugins: nothing in ringscope
calls APOC or Graph Data Science (the graph algorithms run in Python on the
projections; the app's neighbourhood and path queries are plain Cypher), so
they are not installed -- a component nothing uses is weight.

Layout under ``<state>/neo4j`` (``<state>`` = ``$RINGSCOPE_HOME`` or ``.state``)::

    home/lib/*.jar        server jars
    home/conf/neo4j.conf  written on every start from the settings below
    data/ logs/ run/      database files, logs, pid file
    password              generated on first start, mode 0600

Settings (environment): ``RINGSCOPE_BOLT_PORT`` (7687),
``RINGSCOPE_NEO4J_HEAP`` (``4g``), ``RINGSCOPE_NEO4J_PAGECACHE`` (``2g``).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ringscope.settings import Neo4jSettings, state_dir
from ringscope.store.files import OWNER_ONLY_UMASK, private_dir

__all__ = ["install", "installed_versions", "start", "stop", "status", "is_running",
           "reset_database", "local_settings", "admin", "import_dir"]

POM_DIR = Path(__file__).resolve().with_name("poms")
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"   # neo4j-admin
JVM_FLAGS = [
    "-XX:+UseG1GC", "-XX:-OmitStackTraceInFastThrow", "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields", "-XX:+DisableExplicitGC", "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true", "-Dfile.encoding=UTF-8",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED", "--enable-native-access=ALL-UNNAMED",
]


class Neo4jServerError(RuntimeError):
    pass


# --------------------------------------------------------------------------- paths
def _root() -> Path:
    return state_dir() / "neo4j"


def _home() -> Path:
    return _root() / "home"


def _port() -> int:
    return int(os.environ.get("RINGSCOPE_BOLT_PORT", "7687"))


def _pid_file() -> Path:
    return _root() / "run" / "neo4j.pid"


def _password_file() -> Path:
    return _root() / "password"


def _pom_version(pom: Path, prop: str) -> str:
    import re

    m = re.search(rf"<{prop}>([^<]+)</{prop}>", pom.read_text())
    return m.group(1) if m else "?"


# --------------------------------------------------------------------------- install
def _resolve(pom: Path) -> list[tuple[str, Path]]:
    """(group:artifact, jar path) of every runtime dependency of a pom."""
    out = _root() / f".deps-{pom.stem}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:list",
           "-DoutputAbsoluteArtifactFilename=true", "-DincludeScope=runtime",
           f"-DoutputFile={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Neo4jServerError(f"maven could not resolve {pom.name}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    deps = []
    for line in out.read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 6 and parts[-1].endswith(".jar"):
            deps.append((f"{parts[0]}:{parts[1]}", Path(parts[-1])))
    return deps


def _install_marker() -> Path:
    return _home() / "installed.json"


def install(force: bool = False) -> dict:
    """Resolve the server and plugin jars from Maven Central (idempotent)."""
    marker = _install_marker()
    import hashlib

    poms = [POM_DIR / "server.pom.xml"]
    want = {
        "neo4j": _pom_version(poms[0], "neo4j.version"),
        "poms_sha256": hashlib.sha256(b"".join(p.read_bytes() for p in poms)).hexdigest()[:16],
    }
    if marker.exists() and not force and json.loads(marker.read_text()) == want:
        return want
    home = _home()
    lib = home / "lib"
    for d in (lib, home / "plugins"):
        shutil.rmtree(d, ignore_errors=True)
    lib.mkdir(parents=True)
    (home / "plugins").mkdir()
    for _, jar in _resolve(POM_DIR / "server.pom.xml"):
        shutil.copy2(jar, lib / jar.name)
    marker.write_text(json.dumps(want))
    return want


def installed_versions() -> dict:
    m = _install_marker()
    return json.loads(m.read_text()) if m.exists() else {}


# --------------------------------------------------------------------------- config
def _write_conf() -> Path:
    root, home = _root(), _home()
    conf_dir = home / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    for d in ("data", "logs", "run", "import"):
        (root / d).mkdir(parents=True, exist_ok=True)
    pagecache = os.environ.get("RINGSCOPE_NEO4J_PAGECACHE", "2g")
    heap = os.environ.get("RINGSCOPE_NEO4J_HEAP", "4g")
    lines = [
        "# written by ringscope (store/server.py) on every start; edit the env instead",
        "server.default_listen_address=127.0.0.1",
        f"server.bolt.listen_address=127.0.0.1:{_port()}",
        "server.bolt.tls_level=DISABLED",
        "server.http.enabled=false",
        "server.https.enabled=false",
        f"server.directories.data={root / 'data'}",
        f"server.directories.logs={root / 'logs'}",
        f"server.directories.run={root / 'run'}",
        f"server.directories.import={root / 'import'}",
        f"server.directories.plugins={home / 'plugins'}",
        f"server.memory.pagecache.size={pagecache}",
        f"server.memory.heap.max_size={heap}",
        "dbms.security.auth_enabled=true",
        "db.tx_log.rotation.retention_policy=2 files",
        "db.transaction.timeout=30m",
        "dbms.usage_report.enabled=false",
        "server.logs.gc.enabled=false",
    ]
    conf = conf_dir / "neo4j.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf_dir


# --------------------------------------------------------------------------- process
def _read_pid() -> int | None:
    try:
        pid = int(_pid_file().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # a zombie or a recycled pid is not our server
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmdline and MAIN_CLASS.encode() not in cmdline:
            return None
        st = Path(f"/proc/{pid}/stat").read_text().split()
        if len(st) > 2 and st[2] == "Z":
            return None
    except OSError:
        pass
    return pid


def is_running() -> bool:
    return _read_pid() is not None


def _bolt_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def local_settings() -> Neo4jSettings:
    pw = _password_file().read_text().strip() if _password_file().exists() else ""
    return Neo4jSettings(uri=f"bolt://127.0.0.1:{_port()}", user="neo4j", password=pw)


def _ensure_password() -> None:
    """First start: replace the expired default password by a generated one,
    kept in a file only its owner can read."""
    import neo4j
    import neo4j.exceptions as ne

    pw_file = _password_file()
    uri = f"bolt://127.0.0.1:{_port()}"
    if pw_file.exists():
        return
    new = secrets.token_urlsafe(24)
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", "neo4j")) as d:
        try:
            with d.session(database="system") as s:
                s.run("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                      old="neo4j", new=new).consume()
        except ne.AuthError as e:
            raise Neo4jServerError(
                "the local Neo4j has a password that ringscope does not know "
                f"(no {pw_file}); run `ringscope neo4j reset --hard` or delete "
                f"{_root() / 'data'}") from e
    pw_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(new + "\n")
    os.chmod(pw_file, 0o600)


def _wait_bolt(timeout: float, pid: int | None) -> None:
    port = _port()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _bolt_open(port):
            return
        if pid is not None and _read_pid() is None:
            raise Neo4jServerError(f"Neo4j exited while starting; see {_root() / 'logs'}\n" + _log_tail())
        time.sleep(0.5)
    raise Neo4jServerError(f"Bolt did not open on 127.0.0.1:{port} within {timeout:.0f}s\n" + _log_tail())


def _log_tail(n: int = 40) -> str:
    out = []
    for name in ("console.log", "neo4j.log", "debug.log"):
        p = _root() / "logs" / name
        if p.exists():
            lines = p.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {p}\n" + "\n".join(lines))
    return "\n".join(out)


def _tighten(root: Path) -> None:
    """Make the Neo4j home the owner's alone (folders 0700, files 0600; jars and
    scripts keep their execute bit for the owner). Files an older version
    created world-readable are fixed here too."""
    private_dir(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                os.chmod(p, 0o700)
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink():
                continue
            mode = p.stat().st_mode
            os.chmod(p, 0o700 if mode & 0o100 else 0o600)


def start(wait: bool = True, timeout: float = 180.0) -> dict:
    """Install if needed, then start the server in the background (idempotent)."""
    if os.environ.get("NEO4J_URI"):
        raise Neo4jServerError("NEO4J_URI is set: ringscope uses that server, not a local one")
    install()
    pid = _read_pid()
    if pid is None:
        if _bolt_open(_port()):
            raise Neo4jServerError(f"port {_port()} is taken by another process; set RINGSCOPE_BOLT_PORT")
        _tighten(_root())
        conf_dir = _write_conf()
        home = _home()
        heap = os.environ.get("RINGSCOPE_NEO4J_HEAP", "4g")
        cp = [f"{conf_dir}/*", f"{home / 'lib'}/*"]
        java = shutil.which("java") or "java"
        cmd = [java, "-Xms512m", f"-Xmx{heap}", *JVM_FLAGS,
               "-cp", ":".join(cp), MAIN_CLASS, f"--home-dir={home}", f"--config-dir={conf_dir}"]
        log = open(_root() / "logs" / "console.log", "ab")
        # umask 0077: store files, transaction logs and logs are the owner's alone
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(home), umask=OWNER_ONLY_UMASK)
        _pid_file().write_text(str(proc.pid))
        pid = proc.pid
    if wait:
        _wait_bolt(timeout, pid)
        _ensure_password()
        _wait_ready(timeout)
    return {"pid": pid, "uri": f"bolt://127.0.0.1:{_port()}"}


def _wait_ready(timeout: float) -> None:
    """Bolt accepts connections a little before the default database is online."""
    import neo4j
    import neo4j.exceptions as ne

    s = local_settings()
    deadline = time.time() + timeout
    last: Exception | None = None
    with neo4j.GraphDatabase.driver(s.uri, auth=(s.user, s.password)) as d:
        while time.time() < deadline:
            try:
                d.execute_query("RETURN 1", database_="neo4j")
                return
            except (ne.ServiceUnavailable, ne.TransientError, ne.DatabaseUnavailable, ne.SessionExpired) as e:
                last = e
                time.sleep(0.5)
    raise Neo4jServerError(f"Neo4j did not become ready: {last}")


def stop(timeout: float = 90.0) -> bool:
    """Shut the server down cleanly (SIGTERM, then wait); True if it was running."""
    pid = _read_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _read_pid() is None:
            break
        time.sleep(0.3)
    else:
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)
    _pid_file().unlink(missing_ok=True)
    return True


def status(wait_s: float = 0.0) -> dict:
    """Where the server stands: uri, pid, installed versions, and the server's components (name,
    version, edition) when up. No plugins are installed (APOC and GDS were removed)."""
    from ringscope.settings import neo4j_settings

    settings = neo4j_settings()
    out: dict = {"uri": settings.uri, "local": settings.local}
    if settings.local:
        out["pid"] = _read_pid()
        out["installed"] = installed_versions()
        out["state_dir"] = str(_root())
    deadline = time.time() + wait_s
    import neo4j

    from ringscope.store.db import cypher

    while True:
        try:
            with neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password),
                                            connection_timeout=5.0, max_transaction_retry_time=2.0) as d:
                recs, _, _ = d.execute_query(cypher("admin/components"), database_="system")
                out["bolt"] = "up"
                out["server"] = {r["name"]: f"{r['version']} {r['edition']}" for r in recs}
            return out
        except Exception as e:  # noqa: BLE001
            out["bolt"] = "down"
            out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            if time.time() >= deadline:
                return out
            time.sleep(1.0)


def import_dir() -> Path:
    """``server.directories.import`` of the local server (scratch space for imports)."""
    return _root() / "import"


def admin(args: list[str], *, heap: str | None = None, timeout: float | None = None,
          jvm_flags: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``neo4j-admin <args>`` against the local installation (same jars and
    ``neo4j.conf`` as the server, no plugins); returns the finished process
    (stdout/stderr as text). Commands that write a database need the server stopped."""
    install()
    conf_dir = _write_conf()
    home = _home()
    java = shutil.which("java") or "java"
    heap = heap or os.environ.get("RINGSCOPE_NEO4J_HEAP", "4g")
    cmd = [java, f"-Xmx{heap}", *(jvm_flags or []), *JVM_FLAGS, "-cp", f"{conf_dir}/*:{home / 'lib'}/*",
           ADMIN_CLASS, *args]
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf_dir)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(home),
                          stdin=subprocess.DEVNULL, timeout=timeout)


def reset_database(runner=None) -> None:
    """Empty the default database (all nodes, relationships; keeps schema)."""
    from ringscope.store.db import QueryRunner

    own = runner is None
    q = runner or QueryRunner()
    try:
        q.run_auto("admin/reset_relationships")
        q.run_auto("admin/reset_nodes")
    finally:
        if own:
            q.close()
