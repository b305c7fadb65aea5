"""The ``ringscope`` console command.

Each sub-command is a thin shell over one library function, so everything the
command does can also be done from a notebook.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from ringscope.settings import state_dir

# torch_geometric scripts a helper with torch.jit at import; torch deprecates that with a
# FutureWarning that means nothing to a user of the command line
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

__all__ = ["main"]


def _p(path: str) -> Path:
    return Path(path).expanduser().resolve()


# --------------------------------------------------------------------------- neo4j
def cmd_neo4j(a: argparse.Namespace) -> int:
    from ringscope.store import server

    if a.action == "install":
        server.install()
        print(json.dumps(server.installed_versions(), indent=2))
    elif a.action == "start":
        server.start(wait=True)
        print(json.dumps(server.status(), indent=2))
    elif a.action == "stop":
        server.stop()
        print("neo4j stopped")
    elif a.action == "status":
        st = server.status(wait_s=a.wait)
        print(json.dumps(st, indent=2))
        return 0 if st.get("bolt") == "up" else 1
    elif a.action == "reset":
        server.reset_database()
        print("database emptied")
    return 0


# --------------------------------------------------------------------------- data
def cmd_generate(a: argparse.Namespace) -> int:
    from ringscope import progress
    from ringscope.synth.generator import generate

    progress.configure(quiet=a.quiet)
    summary = generate(_p(a.out), persons=a.persons, seed=a.seed, config=a.config or None,
                       fmt=a.format, layout=a.layout)
    print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    return 0


def _reader_options(a: argparse.Namespace) -> dict:
    """The plausibility bounds for ``read_dataset``: the ``reader`` section of models/defaults.yaml,
    then ``--config FILE``'s, then ``--tolerance-days`` and ``--max-money`` (ConfigError: a ValueError)."""
    from ringscope.models.config import reader_options

    return reader_options(_p(a.config) if a.config else None,
                          {"period_tolerance_days": a.tolerance_days, "max_money": a.max_money})


def _add_reader_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--config", help="YAML configuration whose reader section (plausibility bounds) is merged "
                                    "over models/defaults.yaml's; unknown keys are errors")
    s.add_argument("--tolerance-days", type=int,
                   help="how far outside the data period an event date may lie (default: the reader section, 31)")
    s.add_argument("--max-money", type=float,
                   help="the largest plausible absolute money value in yuan (default: the reader section, 1e8)")


def cmd_validate(a: argparse.Namespace) -> int:
    from ringscope import progress
    from ringscope.ingest.reader import ContractError, read_dataset

    progress.configure(quiet=a.quiet)
    try:
        ds = read_dataset(_p(a.dataset), encode_images=not a.no_images,
                          work_dir=_p(a.work_dir) if a.work_dir else None, memory_limit=a.memory_limit,
                          chunk_rows=a.chunk_rows, data_period=a.period, **_reader_options(a))
    except (ContractError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with ds:
        out = _p(a.out) if a.out else None
        if out:
            ds.write_reports(out)
        print(ds.summary())
    return 0


def cmd_ingest(a: argparse.Namespace) -> int:
    """Load a dataset. Exit status: 0 loaded, 2 bad input or arguments, 3 the
    server cannot be reached or died mid-load (a re-run resumes), 4 another
    loader holds the database's load lock (see ``--wait``)."""
    from ringscope.store import bulk
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import ingest_dataset, reload_tables
    from ringscope.store.locks import EXIT_LOCKED, LoadLocked
    from ringscope.ingest.reader import ContractError, read_dataset

    try:
        reload_tables(a.reload)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.reload and not (a.reason or "").strip():
        print("error: --reload needs --reason TEXT: why the tables are loaded again goes into the load log",
              file=sys.stderr)
        return 2
    try:
        ds = read_dataset(_p(a.dataset), **_reader_options(a))
    except (ContractError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.out:
        ds.write_reports(_p(a.out))
    print(ds.summary())
    mode = a.mode
    if mode == "auto":
        mode, why = bulk.choose_mode(ds)
        if a.reload and mode == "bulk":
            mode, why = "batched", "a re-load adds to the graph"
        print(f"[ingest] mode {mode}: {why}", file=sys.stderr)
    if mode == "bulk" and a.reload:
        print("error: --reload replaces tables in a graph that holds them: use --mode batched", file=sys.stderr)
        return 2
    try:
        if mode == "bulk":
            counts = bulk.bulk_ingest(ds, progress=lambda m: print(f"[bulk] {m}", file=sys.stderr),
                                      wait=a.wait, reason=a.reason)
        else:
            with QueryRunner() as q:
                counts = ingest_dataset(ds, q, batch_size=a.batch_size, reload=a.reload, reason=a.reason,
                                        wait=a.wait)
    except bulk.BulkLoadRefused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LoadLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_LOCKED
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if counts.get("lock_taken_over"):
        print(f"[ingest] took over a stale load lock: {counts['lock_taken_over']}", file=sys.stderr)
    for table, why in (counts.get("older_versions") or {}).items():
        print(f"warning: {why}", file=sys.stderr)
    print(json.dumps(counts, indent=2))
    return 0


def cmd_ingest_log(a: argparse.Namespace) -> int:
    """The load log: which table versions were loaded, re-loaded or imported, by whom, when, why."""
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import load_log

    with QueryRunner() as q:
        q.verify()
        rows = load_log(q, table=a.table, limit=a.limit)
    if a.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(f"{(r['at'] or '')[:19]}  {r['table']:<16} {r['action']:<7} {r['rows'] or 0:>10,}  "
              f"{r['user']}@{r['host']}  {r['fingerprint']}" + (f"  -- {r['reason']}" if r.get("reason") else ""))
    return 0


# --------------------------------------------------------------------------- detection
def cmd_detect(a: argparse.Namespace) -> int:
    from ringscope.ingest.reader import ContractError
    from ringscope.models.config import ConfigError
    from ringscope.pipeline import detect

    try:
        spark_kw: dict = {}
        dataset: str | Path = _p(a.dataset)
        if a.engine == "spark":
            from ringscope.graph.spark import is_uri, parse_conf

            try:
                spark_kw = {"spark_master": a.master, "spark_conf": parse_conf(a.conf)}
            except ValueError as e:
                raise ConfigError(str(e)) from e
            if is_uri(a.dataset):
                dataset = a.dataset
        elif a.master or a.conf:
            raise ConfigError("--master and --conf are options of --engine spark")
        summary = detect(dataset, _p(a.out), neo4j=not a.no_neo4j, gnn=False if a.no_gnn else None,
                         config=_p(a.config) if a.config else None, engine=a.engine,
                         labels=_p(a.labels) if a.labels else None, labels_from_store=a.labels_from_store,
                         **spark_kw)
    except (ContractError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_labels(a: argparse.Namespace) -> int:
    """``ringscope labels export``: the investigators' outcomes in Neo4j as a known_cases-shaped CSV."""
    from ringscope.ingest.io import write_csv
    from ringscope.store.db import QueryRunner
    from ringscope.store.feedback import LABEL_COLUMNS, outcome_labels

    with QueryRunner() as r:
        df = outcome_labels(r)
    out = _p(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(df, out, columns=LABEL_COLUMNS)
    counts = df.groupby(["source", "label"]).size().to_dict() if len(df) else {}
    print(json.dumps({"out": str(out), "rows": int(len(df)),
                      "by_source_label": {f"{k[0]}:{k[1]}": int(v) for k, v in counts.items()}}, indent=2))
    return 0


def cmd_config(a: argparse.Namespace) -> int:
    from ringscope.models.config import ConfigError, load_config, show

    try:
        cfg = load_config(_p(a.config) if a.config else None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.action == "show":
        print(show(cfg), end="")
    elif a.action == "detectors":
        from ringscope.models.registry import builtin

        for name, sec in cfg.detectors.items():
            cls = cfg.detector_class(name)
            state = "on " if sec.get("enabled", True) else "off"
            print(f"{state} {name:<24} {cls.kind:<8} {cls.scheme:<22} needs {', '.join(cls.needs) or '-'}"
                  + ("" if name in builtin() else f"  ({sec['class']})"))
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ringscope.models.evaluate import evaluate, format_report

    report = evaluate(_p(a.results), _p(a.truth))
    if a.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_report(report))
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    if a.what == "gnn":
        from ringscope.models.benchmarks import bench_gnn

        res = bench_gnn(a.dataset, seeds=a.seeds, model=a.model)
        for r in res if isinstance(res, list) else [res]:
            print(json.dumps(r))
        return 0
    raise SystemExit(f"unknown benchmark {a.what}")


# --------------------------------------------------------------------------- app
def cmd_app(a: argparse.Namespace) -> int:
    """Serve the app; SIGTERM/SIGINT/SIGHUP to this process stop the Streamlit child too."""
    import signal

    from ringscope.store.db import QueryRunner

    env = dict(os.environ)
    if a.results:
        env["RINGSCOPE_RESULTS"] = str(_p(a.results))
    if getattr(a, "dataset", None):
        env["RINGSCOPE_DATASET"] = str(_p(a.dataset))
    from ringscope.app.serve import app_command

    with QueryRunner() as q:   # a dead server: one sentence now, not a page of errors later
        q.verify()
    proc = subprocess.Popen(app_command(a.port, a.address), env=env)

    def stop(signum, _frame):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()


# --------------------------------------------------------------------------- users, audit
def _password(a: argparse.Namespace) -> str:
    import getpass

    if getattr(a, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    pw = getpass.getpass("password: ")
    if getpass.getpass("again: ") != pw:
        raise SystemExit("error: the passwords differ")
    return pw


def cmd_users(a: argparse.Namespace) -> int:
    from ringscope.store.users import UserError, UserStore

    store = UserStore()
    try:
        if a.action == "add":
            u = store.add(a.name, a.role, a.district or ["*"], _password(a), a.display_name or "")
            print(f"added {u.name} ({u.role}; districts {', '.join(u.districts)})")
        elif a.action == "passwd":
            store.set_password(a.name, _password(a))
            print(f"password of {a.name} changed; their sessions are ended")
        elif a.action == "disable":
            store.disable(a.name)
            print(f"{a.name} disabled; their sessions are ended")
        elif a.action == "enable":
            store.enable(a.name)
            print(f"{a.name} enabled")
        elif a.action == "set":
            u = store.set(a.name, role=a.role, districts=a.district, display_name=a.display_name)
            print(f"{u.name}: {u.role}; districts {', '.join(u.districts)}; their sessions are ended")
        elif a.action == "list":
            rows = [u.public() for u in store.list()]
            if a.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            else:
                for r in rows:
                    print(f"{r['name']:<20} {r['role']:<15} {'active' if r['active'] else 'DISABLED':<9} "
                          f"{','.join(r['districts']):<30} {r['display_name']}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_audit(a: argparse.Namespace) -> int:
    """Verify the access log's keyed hash chain and its head in Neo4j; 0 intact, 1 tampered.
    ``rotate``: verify, close the head in Neo4j and move the file aside (a new log starts)."""
    from ringscope.store.audit import rotate_log, verify_log
    from ringscope.store.db import Neo4jUnavailable, QueryRunner

    path = _p(a.log) if a.log else None
    if a.action == "rotate":
        try:
            with QueryRunner() as runner:
                runner.verify()
                dest = rotate_log(path, runner=runner)
        except (Neo4jUnavailable, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1 if isinstance(e, ValueError) else 2
        print(f"访问日志已轮换，旧日志移至 {dest} / access log rotated; the old log is now {dest}")
        return 0
    runner = None
    if not a.no_db:
        runner = QueryRunner()
        try:
            runner.verify()
        except Neo4jUnavailable as e:
            print(f"warning: {e} The chain head is not checked.", file=sys.stderr)
            runner.close()
            runner = None
    try:
        v = verify_log(path, runner=runner)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if runner is not None:
            runner.close()
    if a.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(v), ensure_ascii=False, indent=2))
    else:
        print(v.summary())
    return 0 if v.ok else 1

# --------------------------------------------------------------------------- random inspections
def _user(a: argparse.Namespace) -> str:
    import getpass

    return a.user or os.environ.get("RINGSCOPE_USER") or getpass.getuser()


def _publish(q, record: dict, out: Path) -> list[Path]:
    """The draw's list as CSV and PDF (Chinese headings) and its record (JSON) under ``out``."""
    from ringscope.app.inspections_pdf import build_inspections_pdf
    from ringscope.store.inspections import list_inspections, publication_csv

    out.mkdir(parents=True, exist_ok=True)
    did = record["draw_id"]
    rows = list_inspections(q, draw_id=did)
    paths = [out / f"{did}.csv", out / f"{did}.pdf", out / f"{did}.record.json"]
    paths[0].write_bytes(publication_csv(rows))
    paths[1].write_bytes(build_inspections_pdf(record, rows))
    paths[2].write_text(json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return paths


def cmd_inspections(a: argparse.Namespace) -> int:
    """Random inspections (双随机、一公开): draw, verify, record results, publish, list. Exit status:
    0 done (verify: the draw checks), 1 verify found a difference, 2 bad input or arguments."""
    from ringscope import progress
    from ringscope.store.db import QueryRunner
    from ringscope.store.inspection_draw import DrawError, canonical_institutions, verify
    from ringscope.store import inspections as ins
    from ringscope.store.supervision import SupervisionConfigError, load_supervision

    progress.configure(quiet=getattr(a, "quiet", False))
    try:
        cfg = load_supervision(_p(a.config) if getattr(a, "config", None) else None)
    except SupervisionConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with QueryRunner() as q:
        q.verify()
        if a.action == "draw":
            try:
                inspectors, bad = None, []
                if a.inspectors:
                    inspectors, bad = ins.parse_inspectors(_p(a.inspectors).read_bytes())
                    for b in bad:
                        print(f"warning: inspectors row {b['row']} not used: {b['reason']}", file=sys.stderr)
                institutions = None
                if a.institutions:
                    with open(_p(a.institutions), encoding="utf-8-sig", newline="") as f:
                        institutions = list(csv.DictReader(f))
                params = ins.draw_params(cfg, n=a.n, rate=a.rate, risk_share=a.risk_share, team_size=a.team_size)
                progress.say("inspections", f"抽取 drawing: {'n=' + str(params.n) if params.n else 'rate=' + str(params.rate)}, "
                                            f"risk share {params.risk_share}, teams of {params.team_size}")
                rec = ins.draw_and_store(q, inspectors=inspectors, institutions=institutions, params=params,
                                         seed=a.seed, kinds=a.kind, districts=a.district, user=_user(a),
                                         role="investigator", title=a.title or "")
            except (DrawError, ValueError, OSError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            rec = ins.draw_record(q, rec["draw_id"]) | {"created": rec["created"]}
            files = [str(x) for x in _publish(q, rec, _p(a.out))] if a.out else []
            progress.say("inspections", f"{rec['draw_id']}: {len(rec['picks'])} institutions, seed {rec['seed']}"
                                        + ("" if rec["created"] else " (this draw was stored before)"))
            print(json.dumps({"draw_id": rec["draw_id"], "created": rec["created"], "seed": rec["seed"],
                              "n": len(rec["picks"]), "institutions_sha256": rec["institutions_sha256"],
                              "inspectors_sha256": rec["inspectors_sha256"], "result_sha256": rec["result_sha256"],
                              "quarantined_inspectors": len(bad), "files": files}, ensure_ascii=False, indent=2))
            return 0
        if a.action == "verify":
            src = Path(a.draw).expanduser()
            current_i = current_x = None
            try:
                if a.inspectors:
                    current_x, bad = ins.parse_inspectors(_p(a.inspectors).read_bytes())
                    for b in bad:   # as the draw did: such rows are not in the list
                        print(f"warning: inspectors row {b['row']} not used: {b['reason']}", file=sys.stderr)
                if a.institutions:
                    with open(_p(a.institutions), encoding="utf-8-sig", newline="") as f:
                        current_i = canonical_institutions(list(csv.DictReader(f)))
            except (DrawError, ValueError, OSError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            if src.suffix == ".json" and src.is_file():
                rep = verify(json.loads(src.read_text(encoding="utf-8")), institutions=current_i, inspectors=current_x)
            else:
                rep = ins.verify_stored(q, a.draw, current_lists=a.current, institutions=current_i,
                                        inspectors=current_x)
            print(rep.summary())
            return 0 if rep.ok else 1
        if a.action == "record":
            try:
                if a.csv:
                    res = ins.import_results(q, _p(a.csv).read_bytes(), user=_user(a), role="investigator")
                    for b in res["quarantine"]:
                        print(f"warning: row {b['row']} not recorded: {b['reason']}", file=sys.stderr)
                    print(json.dumps({"recorded": res["recorded"], "quarantined": len(res["quarantine"])}))
                    return 0 if not res["quarantine"] else 2
                if not (a.draw and a.date and a.outcome):
                    print("error: record INSPECTION_ID --date YYYY-MM-DD --outcome OUTCOME (or --csv FILE)",
                          file=sys.stderr)
                    return 2
                st = ins.record_result(q, a.draw, inspected_on=a.date, outcome=a.outcome, finding=a.finding,
                                       amount=a.amount, user=_user(a), role="investigator")
            except (ValueError, OSError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            if not st:
                print(f"error: no inspection {a.draw}", file=sys.stderr)
                return 2
            print(json.dumps(st, ensure_ascii=False, default=str))
            return 0
        if a.action == "publish":
            rec = ins.draw_record(q, a.draw)
            if rec is None:
                print(f"error: no draw {a.draw}", file=sys.stderr)
                return 2
            for x in _publish(q, rec, _p(a.out or ".")):
                print(x)
            return 0
        if a.action == "list":
            df = ins.list_draws(q, limit=a.limit)
            if a.json:
                print(df.to_json(orient="records", force_ascii=False))
            else:
                for r in df.to_dict("records"):
                    print(f"{r['draw_id']}  {(r['drawn_at'] or '')[:19]}  {r['n']:>4} 家  已检查 {r['n_done']:>4}  "
                          f"seed {r['seed']}  {r['title'] or ''}")
            return 0
    return 2


def cmd_credit(a: argparse.Namespace) -> int:
    """``ringscope credit snapshot``: compute every physician's points and institution's grade from
    the outcomes in Neo4j and record the changes (信用记录沿革); nothing changed, nothing recorded."""
    from ringscope import progress
    from ringscope.store.credit import CREDIT_TYPES, snapshot
    from ringscope.store.db import QueryRunner

    progress.configure(quiet=a.quiet)
    types = tuple(a.type) if a.type else CREDIT_TYPES
    with QueryRunner() as q:
        q.verify()
        progress.say("credit", f"信用记录 credit snapshot: {', '.join(types)}")
        res = snapshot(q, by=_user(a), entity_types=types)
    if a.json:
        print(json.dumps(res, ensure_ascii=False))
        return 0
    label = {"physician": ("医师", "physicians"), "institution": ("机构", "institutions")}
    zh = "；".join(f"{label[t][0]} {res[t]['checked']:,} 个，新增记录 {res[t]['records']:,} 条" for t in types)
    en = "; ".join(f"{res[t]['checked']:,} {label[t][1]}, {res[t]['records']:,} new records" for t in types)
    print(f"信用记录快照：{zh}（{en}）")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """Generated city -> Neo4j -> detection -> the app."""
    from ringscope.store import server
    from ringscope.synth.generator import generate
    from ringscope.models.evaluate import evaluate, format_report
    from ringscope.pipeline import detect

    home = state_dir() / "demo"
    city = home / "city"
    results = home / "results"
    if not (city / "visits.csv").exists() and not (city / "visits.parquet").exists():
        print(f"[demo] generating a city of {a.persons} persons into {city}")
        generate(city, persons=a.persons, seed=a.seed)
    if not os.environ.get("NEO4J_URI"):
        print("[demo] starting the local Neo4j")
        server.start(wait=True)
    print(f"[demo] detecting into {results}")
    detect(city, results, neo4j=True)
    print(format_report(evaluate(results, city / "truth")))
    if a.no_app:
        return 0
    print(f"[demo] the app: http://{a.address}:{a.port}")
    return cmd_app(argparse.Namespace(port=a.port, address=a.address, results=str(results),
                                      dataset=str(city)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ringscope", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("neo4j", help="install, start, stop or check the local Neo4j")
    s.add_argument("action", choices=["install", "start", "stop", "status", "reset"])
    s.add_argument("--wait", type=float, default=0.0, help="status: seconds to wait for Bolt")
    s.set_defaults(fn=cmd_neo4j)

    s = sub.add_parser("generate", help="write a synthetic city with its truth/")
    s.add_argument("out")
    s.add_argument("--persons", type=int, default=5000)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--config", action="append",
                   help="YAML file deep-merged over synth/defaults.yaml; repeat to merge several in order "
                        "(synth/legacy.yaml: the original cities)")
    s.add_argument("--format", choices=["csv", "parquet"], default="csv")
    s.add_argument("--layout", choices=["auto", "file", "dir"], default="auto",
                   help="auto (default): a directory of parts per table (visits.parquet/part-00000.parquet ...) "
                        "when a Parquet city is generated in shards, else one file per table")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_generate)

    s = sub.add_parser("validate", help="check a dataset against the data contract")
    s.add_argument("dataset")
    s.add_argument("--out", help="write load_report.csv and quarantine.csv here")
    s.add_argument("--no-images", action="store_true", help="skip encoding face photos")
    s.add_argument("--work-dir", help="keep the accepted rows here as typed Parquet (default: a temporary "
                                      "directory, removed at the end)")
    s.add_argument("--memory-limit", default="4GB", help="DuckDB's memory for the cross-row checks "
                                                         "(spills to disk beyond it; default 4GB)")
    s.add_argument("--chunk-rows", type=int, default=200_000, help="rows validated at a time (default 200000)")
    s.add_argument("--period", help="the data period START..END (default: observed from the visits, "
                                    "0.5%%-99.5%% of their start days)")
    _add_reader_options(s)
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_validate)

    s = sub.add_parser("ingest", help="load a dataset into Neo4j (idempotent, resumable)")
    s.add_argument("dataset")
    s.add_argument("--out", help="write the load report here")
    s.add_argument("--batch-size", type=int, default=20_000)
    s.add_argument("--mode", choices=["auto", "bulk", "batched"], default="auto",
                   help="bulk: neo4j-admin import into the EMPTY local graph (restarts the server); "
                        "batched: UNWIND batches, adds to what is there; auto (default): bulk when "
                        "the local graph is empty and the dataset is large, else batched")
    s.add_argument("--reload", metavar="TABLE[,TABLE]",
                   help="load these tables' current file versions again although they were loaded before "
                        "(or 'all'), replacing what another version left; needs --reason")
    s.add_argument("--reason", help="why (recorded in the load log with your user name, host and time)")
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="when another loader holds the database's load lock, wait this long for it "
                        "(default 0: stop at once with exit status 4)")
    _add_reader_options(s)
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_ingest)

    s = sub.add_parser("ingest-log", help="the load log: table versions loaded, re-loaded, imported; who, when, why")
    s.add_argument("--table", help="one table only")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_ingest_log)

    s = sub.add_parser("detect", help="rules, faces, graph detectors, models, fusion")
    s.add_argument("dataset")
    s.add_argument("--out", required=True)
    s.add_argument("--no-neo4j", action="store_true", help="do not load or write Neo4j")
    s.add_argument("--no-gnn", action="store_true", help="skip the learned models")
    s.add_argument("--config", help="YAML configuration merged over the defaults (models/defaults.yaml); "
                                    "unknown keys are errors; a results directory's config.yaml reproduces its run")
    s.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="the columnar engine: duckdb (one machine, default) or spark (a cluster; the same SQL, "
                        "transpiled); with spark the dataset may be a Hadoop-compatible URI (hdfs://, s3a://)")
    s.add_argument("--master", help="Spark master URL (local[4], spark://host:7077, yarn, k8s://...); "
                                    "default $RINGSCOPE_SPARK_MASTER or local[*]")
    s.add_argument("--conf", action="append", metavar="KEY=VALUE",
                   help="a Spark setting, repeatable (e.g. --conf spark.executor.memory=8g)")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.add_argument("--labels-from-store", action="store_true",
                   help="learn from the investigators' outcomes in Neo4j too (leads closed confirmed/cleared, "
                        "verified tip-offs), with known_cases; where both judge one entity the later dated wins")
    s.add_argument("--labels", metavar="FILE",
                   help="a labels CSV in the known_cases shape (ringscope labels export) to learn from with "
                        "known_cases; the later dated outcome wins")
    s.set_defaults(fn=cmd_detect)

    s = sub.add_parser("labels", help="outcome labels: the investigators' verdicts in Neo4j as known_cases rows")
    s.add_argument("action", choices=["export"])
    s.add_argument("--out", required=True, help="the CSV to write")
    s.set_defaults(fn=cmd_labels)

    s = sub.add_parser("config", help="the effective detection configuration")
    s.add_argument("action", choices=["show", "detectors"],
                   help="show: the whole configuration as YAML; detectors: one line per detector")
    s.add_argument("--config", help="YAML configuration merged over the defaults")
    s.set_defaults(fn=cmd_config)

    s = sub.add_parser("evaluate", help="score results against a truth/ directory")
    s.add_argument("results")
    s.add_argument("--truth", required=True)
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("bench", help="benchmarks on public data")
    s.add_argument("what", choices=["gnn"])
    s.add_argument("--dataset", choices=["amazon", "reddit", "yelpchi"], required=True)
    s.add_argument("--model", default="all")
    s.add_argument("--seeds", type=int, default=5)
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("app", help="start the Streamlit investigation app")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--address", default="127.0.0.1")
    s.add_argument("--results", help="results directory (default: read Neo4j only)")
    s.add_argument("--dataset", help="dataset directory, so face images by image_path can be shown")
    s.set_defaults(fn=cmd_app)

    s = sub.add_parser("users", help="the app's users: add, disable, enable, passwd, set, list")
    s.add_argument("action", choices=["add", "disable", "enable", "passwd", "set", "list"])
    s.add_argument("name", nargs="?")
    s.add_argument("--role", choices=["investigator", "analyst", "leader", "police_liaison", "admin"])
    s.add_argument("--district", action="append",
                   help="a district the user may see (repeat for several; '*' = the whole city, the default)")
    s.add_argument("--display-name")
    s.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_users)

    s = sub.add_parser("audit", help="verify (or rotate) the tamper-evident access log")
    s.add_argument("action", choices=["verify", "rotate"],
                   help="verify: the chain and its head in Neo4j; rotate: verify, close the head, move the file aside")
    s.add_argument("--log", help="the JSONL log (default $RINGSCOPE_ACCESS_LOG or <state>/app/access_log.jsonl)")
    s.add_argument("--no-db", action="store_true", help="do not compare with the chain head in Neo4j")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_audit)

    s = sub.add_parser("inspections", help="random inspections (双随机、一公开): draw, verify, record, publish, list")
    s.add_argument("action", choices=["draw", "verify", "record", "publish", "list"],
                   help="draw: institutions and inspectors by lot, stored (and published with --out); "
                        "verify DRAW_ID|RECORD.json: re-draw and compare; record INSPECTION_ID: a result "
                        "(or --csv FILE); publish DRAW_ID: CSV, PDF and record; list: the draws")
    s.add_argument("draw", nargs="?", help="verify/publish: a draw id or a record file (*.record.json); record: an inspection id")
    s.add_argument("--inspectors", help="draw: the inspectors list CSV (inspector_id,name,unit,bound; bound: "
                                        "institution ids separated by ';'), stored; default the stored list. "
                                        "verify: compare with this list")
    s.add_argument("--institutions", help="draw: an institutions list CSV (institution_id,name,kind,district,risk) "
                                          "instead of the graph's; verify: compare with this list")
    s.add_argument("--n", type=int, help="draw: how many institutions (default: the configured rate of the list)")
    s.add_argument("--rate", type=float, help="draw: the share of the list to draw")
    s.add_argument("--risk-share", type=float, help="draw: the share weighted by risk (default from configuration)")
    s.add_argument("--team-size", type=int, help="draw: inspectors per inspection (at least 2)")
    s.add_argument("--seed", type=int, help="draw: the seed (default: fresh from the system's entropy; recorded)")
    s.add_argument("--kind", action="append", help="draw: only institutions of this kind (repeatable)")
    s.add_argument("--district", action="append", help="draw: only institutions in this district (repeatable)")
    s.add_argument("--title", help="draw: a title for the draw (e.g. 2024年第三季度)")
    s.add_argument("--out", help="draw/publish: write DRAW.csv, DRAW.pdf and DRAW.record.json here")
    s.add_argument("--current", action="store_true", help="verify: also compare with the lists the store holds now")
    s.add_argument("--date", help="record: the inspection's date YYYY-MM-DD")
    s.add_argument("--outcome", help="record: no_issue, rectify, recover, penalty, agreement or referred")
    s.add_argument("--finding", help="record: what the inspection found")
    s.add_argument("--amount", type=float, default=0.0, help="record: money recovered or fined (CNY)")
    s.add_argument("--csv", help="record: results from a CSV (inspection_id,inspected_on,finding,amount,outcome)")
    s.add_argument("--user", help="who does it (default $RINGSCOPE_USER or the login name)")
    s.add_argument("--config", help="supervision configuration merged over store/supervision.yaml")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_inspections)

    s = sub.add_parser("credit", help="credit history (信用记录): record changes of physicians' points and "
                                      "institutions' grades")
    s.add_argument("action", choices=["snapshot"],
                   help="snapshot: compute every physician and institution from the outcomes (confirmed leads, "
                        "closed fraud cases) and record each change of standing; run after known_cases are "
                        "loaded or detection re-ran, or at the turn of the scoring year")
    s.add_argument("--type", action="append", choices=["physician", "institution"],
                   help="only this entity type (repeatable; default both)")
    s.add_argument("--user", help="who runs it, recorded on each new record (default $RINGSCOPE_USER or the login name)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_credit)

    s = sub.add_parser("screenshots", help="screenshots of every page for every role (headless Chromium)")
    s.add_argument("out")
    s.add_argument("--results", help="results directory of the data in Neo4j")
    s.add_argument("--dataset", help="dataset directory (face images)")
    s.add_argument("--lang", choices=["zh", "en"], default="zh")
    s.set_defaults(fn=cmd_screenshots)

    s = sub.add_parser("demo", help="generated city -> Neo4j -> detection -> app")
    s.add_argument("--persons", type=int, default=5000)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--address", default="127.0.0.1")
    s.add_argument("--no-app", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(fn=cmd_demo)
    return p


def cmd_screenshots(a: argparse.Namespace) -> int:
    from ringscope.app.screens import take_screenshots

    try:
        shots = take_screenshots(_p(a.out), results=_p(a.results) if a.results else None,
                                 dataset=_p(a.dataset) if a.dataset else None, lang=a.lang)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in shots:
        print(s)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command. Files it creates are the owner's alone (umask 0077); a
    database that cannot be reached is one sentence and exit status 3."""
    from ringscope.store.db import Neo4jUnavailable
    from ringscope.store.files import owner_only_umask
    from ringscope.store.server import Neo4jServerError

    owner_only_umask()
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):   # every long command takes --quiet: no progress on stderr
        from ringscope import progress

        progress.configure(quiet=True)
    try:
        return args.fn(args)
    except Neo4jUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except Neo4jServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
