"""``ringscope detect``: the whole detection run, from a dataset directory to a results directory.

Stages (each timed and logged; the manifest records them):

1. **validate** -- :func:`ringscope.ingest.reader.read_dataset`; writes
   ``load_report.csv`` and ``quarantine.csv``;
2. **ingest** -- into Neo4j through the store (``neo4j=True``);
3. the **detectors** of the configuration, stage by stage in the order of their
   declared ``kind`` (:data:`ringscope.ingest.vocab.DETECTOR_KINDS`): ``face``
   (verification and face identities, before the rules so the identity rules
   can use them), ``rule`` (the rule library), ``graph``, ``warning``, then
   ``learned`` (only where they help: trained on part of the closed cases and
   kept only when they lift the average precision on the held-out rest,
   :mod:`ringscope.pipeline.learned`); within a stage, in the configuration's
   order. A detector is skipped, and the manifest says why, when it is
   disabled, a table it ``needs`` is absent, or (learned) it did not earn its place;
4. **fusion** -- :func:`ringscope.models.fusion.fuse` (entity scores, leads,
   evidence), with the previous run's leads (``leads.csv`` already in
   ``out_dir``, else the ``Lead`` nodes in Neo4j) so lead ids carry over;
5. **explain** -- the learned models explain what an investigator opens first;
6. **write** -- the contract's result files (contract columns first, extras
   after: ``rule_hits.csv``, ``entity_scores.csv``, ``leads.csv``, ``warnings.csv``),
   ``indicators.parquet`` (every judged monthly indicator with its peer band: the trends an
   app draws), ``lead_evidence.jsonl``, ``model_explanations.jsonl``,
   ``face_matches.csv``, ``face_identities.csv``, ``config.yaml`` (the
   effective configuration: pass it back with ``--config`` to reproduce the
   run) and ``manifest.json``;
7. **findings** -- into Neo4j through the store.

A detector that raises is recorded in the manifest's ``errors`` (with its
traceback's last line) and the run goes on without it;
``pipeline.strict: true`` makes it fatal instead.
"""
from __future__ import annotations

import gc
import json
import logging
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope import progress as _progress
from ringscope.ingest.vocab import DETECTOR_KINDS
from ringscope.models.base import BaseDetector, Context
from ringscope.models.config import RunConfig, fitted_files, load_config, source_commit, to_yaml

__all__ = ["detect", "RESULT_FILES", "explanation_targets", "previous_leads"]

log = logging.getLogger("ringscope.detect")

RESULT_FILES = ("load_report.csv", "quarantine.csv", "rule_hits.csv", "entity_scores.csv", "leads.csv", "lead_candidates.csv",
                "review_queue.csv", "labels_used.csv", "rule_catalog.csv", "warnings.csv", "indicators.parquet", "lead_evidence.jsonl", "model_explanations.jsonl",
                "face_matches.csv", "face_identities.csv", "config.yaml", "manifest.json")


_STAGE_ZH = {"validate": "校验", "spark": "Spark 读取", "spark_graph": "Spark 图计算", "fetch": "取回", "ingest": "入库", "faces": "人脸核验",
             "rules": "规则", "graph": "图分析", "warning": "动态预警", "learned": "学习模型", "fusion": "线索融合",
             "explain": "模型解释", "write": "写出结果", "findings": "写入图库"}


class _Clock:
    """Stage timings and peak memory, each stage announced on stderr as it starts and ends."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        label = f"{_STAGE_ZH.get(name, name)} ({name})"
        _progress.say("detect", f"{label}: 开始 started")
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.timings[name] = self.timings.get(name, 0.0) + dt
            self.rss[name] = _progress.peak_rss_mb()
            log.info("stage %s: %.2fs (peak RSS %.0f MB)", name, dt, self.rss[name])
            _progress.say("detect", f"{label}: 完成 done in {_progress.hms(dt)}, "
                                   f"峰值内存 peak RSS {self.rss[name] / 1024:.1f} GB, "
                                   f"当前 now {_progress.rss_mb() / 1024:.1f} GB")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    import importlib.metadata as md

    for p in ("ringscope", "pandas", "numpy", "scipy", "scikit-learn", "igraph", "leidenalg", "torch",
              "torch-geometric", "xgboost-cpu", "xgboost", "neo4j", "faiss-cpu", "face-recognition-models",
              "duckdb", "pyarrow", "pydantic", "pyspark", "sqlglot"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


def _write_csv(df: pd.DataFrame, path: Path, contract: list[str]) -> None:
    from ringscope.ingest.io import write_csv

    cols = contract + [c for c in df.columns if c not in contract]
    write_csv(df, path, columns=cols)


def _n_labels(tables: dict[str, pd.DataFrame]) -> tuple[int, int]:
    kc = tables.get("known_cases")
    if kc is None or kc.empty:
        return 0, 0
    lab = kc["label"].astype(str).str.lower()
    return int((lab == "fraud").sum()), int((lab == "cleared").sum())


def _fit_safely(det: BaseDetector, ctx: Context, errors: list[dict[str, str]], strict: bool,
                y: pd.DataFrame | None = None) -> bool:
    try:
        det.fit(ctx) if y is None else det.fit(ctx, y)
        return True
    except Exception as e:  # noqa: BLE001 - one failing detector must not lose the run
        if strict:
            raise
        last = traceback.format_exc().strip().splitlines()[-1]
        log.error("detector %s failed: %s", det.name, last)
        errors.append({"detector": det.name, "error": last, "type": type(e).__name__})
        return False


def plan(cfg: RunConfig, ctx: Context) -> tuple[list[BaseDetector], dict[str, str], str]:
    """The detectors to run, in run order; why the others are skipped; the learned mode."""
    skipped: dict[str, str] = {}
    by_kind: dict[str, list[BaseDetector]] = {k: [] for k in DETECTOR_KINDS}
    for name in cfg.detectors:
        if not cfg.detectors[name].get("enabled", True):
            skipped[name] = "disabled in the configuration"
            continue
        cls = cfg.detector_class(name)
        missing = [t for t in cls.needs if not ctx.has(t)]
        if missing:
            skipped[name] = f"needs {', '.join(missing)} (absent or empty)"
            continue
        by_kind[cls.kind].append(cfg.make(name))
    n_fraud, n_cleared = _n_labels(ctx.tables)
    if not cfg.pipeline["gnn"]:
        for d in by_kind["learned"]:
            skipped[d.name] = "learned models off (pipeline.gnn: false)"
        by_kind["learned"], mode = [], "off"
    else:
        mode = (f"held-out check ({n_fraud} fraud, {n_cleared} cleared closed cases; "
                f"{cfg.pipeline['min_labels']} of each needed)")
    return [d for k in DETECTOR_KINDS for d in by_kind[k]], skipped, mode


def explanation_targets(leads: pd.DataFrame, entity_scores: pd.DataFrame, *, n_leads: int = 30,
                        per_type: int = 20, cap: int = 200) -> list[tuple[str, str]]:
    """The entities an investigator opens first, in that order, without repeats: the
    members of the ``n_leads`` best-ranked leads, then the ``per_type`` highest fused
    scores of each entity type; at most ``cap``.

    >>> leads = pd.DataFrame({"rank": [2, 1], "members": ["person:B;institution:H", "person:A"]})
    >>> es = pd.DataFrame({"entity_type": ["person", "person", "physician"], "entity_id": ["A", "C", "D"],
    ...                    "score": [0.9, 0.8, 0.1]})
    >>> explanation_targets(leads, es, per_type=1)
    [('person', 'A'), ('person', 'B'), ('institution', 'H'), ('physician', 'D')]
    """
    want: list[tuple[str, str]] = []
    if leads is not None and len(leads):
        ranked = leads.sort_values("rank") if "rank" in leads.columns else leads
        for members in ranked.head(n_leads)["members"].astype(str):
            for m in members.split(";"):
                t, _, i = m.partition(":")
                if t and i:
                    want.append((t, i))
    if entity_scores is not None and len(entity_scores):
        es = entity_scores.sort_values(["score", "entity_id"], ascending=[False, True], kind="stable")
        for _, g in es.groupby("entity_type", sort=True):
            want.extend(zip(g["entity_type"].head(per_type), g["entity_id"].astype(str).head(per_type)))
    return list(dict.fromkeys(want))[:cap]


def _explain(learned: list[Any], leads: pd.DataFrame, entity_scores: pd.DataFrame, cfg: RunConfig,
             errors: list[dict[str, str]], strict: bool) -> list[dict[str, Any]]:
    """The learned models' explanations of the entities an investigator opens first."""
    p = cfg.pipeline
    targets = explanation_targets(leads, entity_scores, n_leads=int(p["explain_leads"]),
                                  per_type=int(p["explain_top"]), cap=int(p["explain_max"]))
    out: list[dict[str, Any]] = []
    for det in learned:
        try:
            out.extend(det.explain_many(targets, top=8))
        except Exception as e:  # an explanation never costs the run its results
            if strict:
                raise
            errors.append({"detector": f"{det.name}.explain", "error": f"{type(e).__name__}: {e}"})
    return out


def previous_leads(out_dir: Path | None = None, runner: Any = None) -> pd.DataFrame | None:
    """Leads of a previous run (``lead_id, scheme, members``): ``leads.csv`` in ``out_dir``
    if present, else the ``Lead`` nodes in Neo4j (through the store), else None."""
    if out_dir is not None:
        p = Path(out_dir) / "leads.csv"
        if p.exists():
            try:
                df = pd.read_csv(p, dtype=str, keep_default_na=False)
            except pd.errors.EmptyDataError:
                df = pd.DataFrame()
            if {"lead_id", "scheme", "members"} <= set(df.columns):
                return df[["lead_id", "scheme", "members"]]
    if runner is not None:
        from ringscope.store.findings import read_previous_leads

        try:
            prev = read_previous_leads(runner)
        except Exception as e:  # noqa: BLE001 - an unreachable/empty graph means no previous run
            log.warning("could not read previous leads from Neo4j: %s", e)
            return None
        return None if prev is None else prev[["lead_id", "scheme", "members"]]
    return None


def _spark_graph_step(ctx: Context, summary: dict[str, Any], opts: dict[str, Any]) -> None:
    """The graph step on Spark (:mod:`ringscope.graph.spark_graph`): the entity graph's components and
    communities computed on Spark, reduced to the candidate subgraphs around the entities the rules
    and face verification flagged; the manifest's ``engine.graph`` records what Spark saw and what
    it handed on. When the graph is cut (more than ``whole_graph_below`` nodes), the graph
    detectors' projections (``graph/projection.py``: visits and drug lines) are restricted to the
    candidate persons for the graph stage only (:func:`_drop_projections` ends that with the stage)."""
    from ringscope.graph.spark_graph import entity_edges, flagged_nodes, reduce_graph

    eng = ctx.columnar
    fm = ctx.face_matches
    face_edges = None
    if fm is not None and len(fm) and "face_id" in fm.columns:
        face_edges = fm[["face_id", "claimed_person_id"]].rename(columns={"claimed_person_id": "person_id"})
    flagged = flagged_nodes(ctx.rule_hits, fm)
    red = reduce_graph(entity_edges(eng, face_edges), flagged, hub_degree=int(opts["hub_degree"]),
                       max_component=int(opts["max_component"]), lpa_iterations=int(opts["lpa_iterations"]),
                       whole_graph_below=int(opts["whole_graph_below"]),
                       checkpoint_interval=int(opts["checkpoint_interval"]), graphframes=str(opts["graphframes"]))
    summary["engine"]["graph"] = red.stats
    s = red.stats
    _progress.say("detect", f"  Spark 图计算 graph step: {s['nodes']:,} nodes / {s['edges']:,} edges, "
                            f"{s['components']:,} components; handed on {s['handed_on_nodes']:,} nodes / "
                            f"{s['handed_on_edges']:,} edges" + (" (whole graph)" if red.whole_graph else ""))
    if not red.whole_graph:
        _drop_projections(ctx)          # any built over the whole city: rebuilt over the candidates
        ctx.cache["graph:candidate_persons"] = red.ids("person")


def _drop_projections(ctx: Context) -> None:
    """Forget the graph detectors' projections (and a Spark run's candidate restriction) when the
    graph stage ends: only graph detectors read them, and the later stages have that memory (at 1M
    persons the process's peak came after the graph stage, in early warning, on top of them)."""
    for k in [k for k in ctx.cache if k.startswith("projection:")]:
        del ctx.cache[k]
    ctx.cache.pop("graph:candidate_persons", None)
    gc.collect()


def detect(dataset_path: str | Path, out_dir: str | Path, *, neo4j: bool = True, gnn: bool | None = None,
           runner: Any = None, config: str | Path | dict[str, Any] | RunConfig | None = None,
           progress: Callable[[str], None] | None = None, engine: str = "duckdb",
           spark_master: str | None = None, spark_conf: dict[str, str] | None = None,
           spark: Any = None, labels: pd.DataFrame | str | Path | None = None,
           labels_from_store: bool = False) -> dict[str, Any]:
    """Run detection on ``dataset_path`` and write the results directory ``out_dir``.

    ``labels`` (a frame or a CSV file in the ``known_cases`` shape, e.g. ``ringscope labels export``)
    and ``labels_from_store`` (the investigators' outcomes in Neo4j,
    :func:`ringscope.store.feedback.outcome_labels`; read even with ``neo4j=False``) join the
    dataset's ``known_cases`` by the precedence rule of :func:`ringscope.pipeline.feedback.merge_labels`
    (the later dated outcome wins); the labels the run used are written to ``labels_used.csv``.

    ``config``: a YAML file, a mapping or a :class:`RunConfig` deep-merged over
    ``models/defaults.yaml`` and validated (unknown keys are errors); ``gnn``
    overrides ``pipeline.gnn``. ``runner`` is a
    :class:`ringscope.store.db.QueryRunner` (one is opened on the configured
    server when ``neo4j`` and none is given). Returns the run summary (also
    written as ``manifest.json``).

    ``engine``: ``duckdb`` (the single-machine columnar engine) or ``spark``
    (:class:`ringscope.graph.spark.SparkEngine`: every projection and rule that runs through
    the columnar engine runs on Spark, the same SQL files transpiled; what does not transpile
    runs on DuckDB, and the manifest's ``engine`` section says what ran where). With Spark,
    ``spark_master`` and ``spark_conf`` start the session (or ``spark``, one already started),
    and ``dataset_path`` may be a Hadoop-compatible URI (``hdfs://``, ``s3a://``, ``file://``):
    Spark reads its Parquet tables and stages them for validation under ``out_dir``. With Spark
    the validated tables are staged in ``out_dir/_staged`` (not a local temporary directory), so
    on a cluster ``out_dir`` must be on storage the executors read too (a shared mount).
    """
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine {engine!r}: duckdb or spark")
    if labels is not None and not isinstance(labels, pd.DataFrame):
        from ringscope.pipeline.feedback import read_labels

        labels = read_labels(labels)   # a bad file stops the run before anything is written
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.fusion import fuse

    cfg = load_config(config, overrides=None if gnn is None else {"pipeline": {"gnn": bool(gnn)}})
    strict = bool(cfg.pipeline["strict"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    errors: list[dict[str, str]] = []
    started = datetime.now().replace(microsecond=0)
    run_id = started.strftime("%Y%m%dT%H%M%S") + f"-{time.monotonic_ns() % 100000:05d}"
    summary: dict[str, Any] = {"run_id": run_id, "dataset": str(Path(dataset_path).resolve()),
                               "out_dir": str(out.resolve()), "started": started.isoformat(),
                               "neo4j": neo4j, "gnn": cfg.pipeline["gnn"], "config_sha256": cfg.digest(),
                               # beside the configuration, the fitted files that shape scores, and the code
                               "fitted_files": fitted_files(), "source_commit": source_commit(),
                               "errors": errors}
    own_runner = False
    handler = _CallbackHandler(progress) if progress else None
    if handler:
        log.addHandler(handler)

    own_spark = False
    if engine == "spark":
        from ringscope.graph.spark import is_uri, spark_session

        with clock.stage("spark"):
            if spark is None:
                spark, own_spark = spark_session(spark_master, spark_conf,
                                                 graphframes=cfg.pipeline["spark_graph"]["graphframes"]), True
        summary["engine"] = {"name": "spark", "master": spark.sparkContext.master,
                             "spark": spark.version, "default_parallelism": spark.sparkContext.defaultParallelism}
        if is_uri(str(dataset_path)):
            from ringscope.graph.spark import fetch_dataset

            with clock.stage("fetch"):
                summary["fetched"] = fetch_dataset(str(dataset_path), out / "_fetched", spark)
            dataset_path = out / "_fetched"
    else:
        summary["engine"] = {"name": "duckdb"}

    stage_kw: dict[str, Any] = {}
    if engine == "spark":   # staged under the results directory: on a cluster, storage the executors see
        import shutil

        shutil.rmtree(out / "_staged", ignore_errors=True)
        stage_kw["work_dir"] = out / "_staged"
    try:
        with clock.stage("validate"):
            ds = read_dataset(dataset_path, encode_images=bool(cfg.pipeline["encode_images"]), **cfg.reader,
                              **stage_kw)
            ds.write_reports(out)
    except BaseException:
        if own_spark:
            spark.stop()
        raise
    # counted from the staged files' footers: nothing is loaded to count it
    summary["tables"] = {t: (ds.n_rows(t) if hasattr(ds, "n_rows") else int(len(ds.tables[t]))) for t in ds.tables}
    summary["quarantined"] = ds.n_quarantined() if hasattr(ds, "n_quarantined") else int(len(ds.quarantine))
    previous = previous_leads(out_dir=out)
    columnar: Any = None
    try:
        if neo4j:
            with clock.stage("ingest"):
                from ringscope.store.load import ingest_dataset

                if runner is None:
                    from ringscope.store.db import QueryRunner

                    runner, own_runner = QueryRunner(), True
                summary["ingest"] = ingest_dataset(ds, runner, batch_size=int(cfg.pipeline["batch_size"]))
            if previous is None:
                previous = previous_leads(runner=runner)
        summary["previous_leads"] = 0 if previous is None else int(len(previous))

        from ringscope.graph.engine import Engine
        from ringscope.graph.partition import n_buckets

        columnar = Engine.over_dataset(ds, memory_limit=cfg.pipeline["memory_limit"],
                                       spill_limit=cfg.pipeline.get("spill_limit"))
        if engine == "spark":
            from ringscope.graph.spark import SparkEngine

            columnar = SparkEngine.over_dataset(ds, spark, fallback=columnar)
        # the dataset's lazy tables: a table becomes a frame only when a stage asks for it whole;
        # what runs in the columnar engine or by partitions never loads it (issue 12)
        outcomes = _outcomes(labels, labels_from_store, runner)
        tables: Any = ds.tables
        if outcomes is not None:
            from ringscope.pipeline.feedback import TablesWithLabels

            kc_used, summary["labels"] = _merged_labels(ds.tables, outcomes)
            tables = TablesWithLabels(ds.tables, kc_used)
        ctx = Context(tables=tables, engine=columnar)
        ctx.cache["partitions"] = n_buckets(ctx, int(cfg.pipeline["rows_per_bucket"]))
        summary["partitions"] = ctx.partitions
        todo, skipped, mode = plan(cfg, ctx)
        summary["learned_mode"] = mode
        summary["skipped_detectors"] = skipped
        fitted: list[BaseDetector] = []
        det_timings: dict[str, float] = {}
        for kind in DETECTOR_KINDS:
            stage = [d for d in todo if d.kind == kind]
            if not stage and kind not in ("face", "rule", "graph"):
                continue
            if kind == "graph" and engine == "spark" and cfg.pipeline["spark_graph"]["enabled"]:
                with clock.stage("spark_graph"):
                    _spark_graph_step(ctx, summary, cfg.pipeline["spark_graph"])
            with clock.stage({"face": "faces", "rule": "rules", "graph": "graph"}.get(kind, kind)):
                if kind == "learned":
                    from ringscope.pipeline.learned import gate_learned

                    kept, summary["learned"] = gate_learned(
                        stage, ctx, list(fitted), cfg.pipeline,
                        fit=lambda d, c, y: _fit_safely(d, c, errors, strict, y),
                        spent_before=sum(clock.timings.values()))
                    for det in stage:
                        det_timings[det.name] = summary["learned"][det.name].get("seconds", 0.0)
                        if det in kept:
                            fitted.append(det)
                            _publish(det, ctx, summary)
                        else:
                            skipped[det.name] = summary["learned"][det.name]["why"]
                    continue
                for i, det in enumerate(stage, 1):
                    t0 = time.perf_counter()
                    if _fit_safely(det, ctx, errors, strict):
                        fitted.append(det)
                        _publish(det, ctx, summary)
                        for f in getattr(det, "failures_", None) or []:   # a rule that failed, the rest ran
                            if strict:
                                raise RuntimeError(f"rule {f['rule_id']} failed: {f['error']}")
                            errors.append({"detector": f"{det.name}:{f['rule_id']}", "error": f["error"],
                                           "type": f["type"]})
                            log.error("rule %s failed: %s", f["rule_id"], f["error"])
                            _progress.say("detect", f"  规则 {f['rule_id']} 失败 failed: {f['error'][:200]}")
                    det_timings[det.name] = time.perf_counter() - t0
                    _progress.say("detect", f"  {det.name} ({i}/{len(stage)}): {_progress.hms(det_timings[det.name])}, "
                                           f"峰值内存 peak RSS {_progress.peak_rss_mb() / 1024:.1f} GB, "
                                           f"当前 now {_progress.rss_mb() / 1024:.1f} GB")
            if kind == "graph":
                _drop_projections(ctx)
        summary["detector_timings"] = {k: round(v, 3) for k, v in det_timings.items()}
        rule_hits = ctx.rule_hits if ctx.rule_hits is not None else _no_hits()

        with clock.stage("fusion"):
            res = fuse(ctx.tables, fitted, face_matches=ctx.face_matches, previous=previous,
                       config=cfg.fusion_config(), engine=ctx.columnar)
        summary["fusion_weights"] = res.weights
        queue = _review_queue(res.leads, ctx, cfg, runner if neo4j else None)

        learned = [d for d in fitted if d.kind == "learned"]
        explanations: list[dict[str, Any]] = []
        if learned:
            with clock.stage("explain"):
                explanations = _explain(learned, res.leads, res.entity_scores, cfg, errors, strict)

        with clock.stage("write"):
            from ringscope.ingest.contract import (ENTITY_SCORES_COLUMNS, LEADS_COLUMNS, RULE_HITS_COLUMNS,
                                                   WARNINGS_COLUMNS)

            _write_csv(rule_hits, out / "rule_hits.csv", RULE_HITS_COLUMNS)
            es = res.entity_scores.drop(columns=[c for c in res.entity_scores.columns if c.startswith("src:")])
            _write_csv(es, out / "entity_scores.csv", ENTITY_SCORES_COLUMNS)
            _write_csv(res.leads, out / "leads.csv", LEADS_COLUMNS)
            cand = res.candidates if len(res.candidates.columns) else pd.DataFrame(columns=LEADS_COLUMNS)
            _write_csv(cand, out / "lead_candidates.csv", LEADS_COLUMNS)
            _write_csv(queue, out / "review_queue.csv", ["review_rank", "lead_id"])
            # the rule library as it ran: class, the severity hits carry and its measured precision
            # (models/rule_precision.yaml), for the app's rule pages (the app never imports the rules)
            from ringscope.models.rules import list_rules

            _write_csv(list_rules(), out / "rule_catalog.csv",
                       ["rule_id", "name_zh", "name_en", "category", "rule_class", "severity", "declared_severity",
                        "measured_precision", "measured_cities", "description"])
            kc_out = ctx.table("known_cases")
            _write_csv(kc_out if len(kc_out.columns) else pd.DataFrame(columns=["case_id"]),
                       out / "labels_used.csv", ["case_id", "entity_type", "entity_id", "label", "scheme", "closed_on"])
            warnings = _warnings_frame(ctx)
            _write_csv(warnings, out / "warnings.csv", WARNINGS_COLUMNS)
            indicators = pd.concat(ctx.cache["indicators"], ignore_index=True) if ctx.cache.get("indicators") \
                else pd.DataFrame(columns=["entity_type", "entity_id", "indicator", "period", "value", "baseline",
                                           "band_low", "band_high", "z", "level", "detector"])
            indicators.to_parquet(out / "indicators.parquet", index=False)
            _write_jsonl(out / "lead_evidence.jsonl", res.evidence)
            _write_jsonl(out / "model_explanations.jsonl", explanations)
            fm = ctx.face_matches if ctx.face_matches is not None else pd.DataFrame(
                columns=["capture_id", "claimed_person_id", "distance", "verdict", "face_id"])
            _write_csv(fm, out / "face_matches.csv", ["capture_id"])
            fi = ctx.cache.get("face_identity_table", pd.DataFrame(columns=["face_id"]))
            _write_csv(fi, out / "face_identities.csv", ["face_id"])
            (out / "config.yaml").write_text(to_yaml(cfg), encoding="utf-8")

        if neo4j:
            with clock.stage("findings"):
                from ringscope.store.findings import write_findings

                summary["findings"] = write_findings(
                    runner, run_id=run_id, rule_hits=rule_hits, face_matches=ctx.face_matches,
                    face_identities=ctx.cache.get("face_identity_table"), entity_scores=es, leads=res.leads,
                    explanations=explanations, warnings=warnings, indicators=indicators,
                    batch_size=min(int(cfg.pipeline["batch_size"]), 10_000))
                from ringscope.store.feedback import write_review_queue

                summary["findings"].update(write_review_queue(runner, queue, run_id=run_id))
    finally:
        if own_runner and runner is not None:
            runner.close()
        if engine == "spark":
            eng = columnar
            if eng is not None and hasattr(eng, "fallbacks"):
                summary["engine"]["ran_on_spark"] = dict(eng.spark_runs)
                summary["engine"]["ran_on_duckdb"] = dict(eng.fallbacks)
                eng.close()
            if own_spark:
                spark.stop()
        if handler:
            log.removeHandler(handler)

    summary["counts"] = {
        "rule_hits": int(len(rule_hits)), "entity_scores": int(len(res.entity_scores)),
        "entities_flagged": int((res.entity_scores["score"] >= 0.5).sum()), "leads": int(len(res.leads)),
        "groups": int(sum(len(getattr(d, "groups_", []) or []) for d in fitted)),
        "face_captures": int(len(ctx.face_matches)) if ctx.face_matches is not None else 0,
        "face_identities": int(len(ctx.cache.get("face_identity_table", ()))),
        "model_explanations": len(explanations),
        "warnings": int(len(warnings)),
        "review_queue": int(len(queue)),
    }
    summary["warnings_by_level"] = warnings["level"].value_counts().to_dict() if len(warnings) else {}
    summary["leads_by_scheme"] = res.leads["scheme"].value_counts().to_dict() if len(res.leads) else {}
    summary["lead_ids_kept"] = int(res.leads["lead_id"].isin(set(previous["lead_id"])).sum()) \
        if previous is not None and len(res.leads) else 0
    summary["detectors"] = {d.name: {"kind": d.kind, "class": f"{type(d).__module__}.{type(d).__name__}",
                                     "params": json.loads(json.dumps(d.get_params(), default=str))}
                            for d in fitted if d.kind != "rule"}
    summary["detectors"].update({d.name: {"kind": d.kind, "class": f"{type(d).__module__}.{type(d).__name__}",
                                          "params": {"scale": d.scale, "only": d.only, "rules": "config.yaml"}}
                                 for d in fitted if d.kind == "rule"})
    summary["timings"] = {k: round(v, 3) for k, v in clock.timings.items()}
    summary["total_seconds"] = round(sum(clock.timings.values()), 3)
    summary["peak_rss_mb"] = round(_progress.peak_rss_mb(), 1)
    if engine == "spark":
        summary["engine"]["note"] = ("peak_rss_mb is this (driver) process; Spark's JVM is a child process "
                                     "(bench/bench_spark.py measures both)")
    summary["versions"] = _versions()
    summary["finished"] = datetime.now().replace(microsecond=0).isoformat()
    (out / "manifest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                       encoding="utf-8")
    log.info("detect finished in %.1fs: %s", summary["total_seconds"], summary["counts"])
    return summary


def _outcomes(labels: pd.DataFrame | None, from_store: bool, runner: Any) -> pd.DataFrame | None:
    """The outcome labels asked for: a given frame and/or the store's outcomes (None: none asked)."""
    parts = [] if labels is None else [labels]
    if from_store:
        from ringscope.store.feedback import outcome_labels

        if runner is None:
            from ringscope.store.db import QueryRunner

            with QueryRunner() as r:
                parts.append(outcome_labels(r))
        else:
            parts.append(outcome_labels(runner))
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True)


def _merged_labels(tables: Any, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The run's known_cases (dataset's + outcomes, by precedence), outcomes about entities absent
    from the dataset left out; and what the manifest says of them."""
    from ringscope.models.fusion import entity_universe
    from ringscope.pipeline.feedback import merge_labels

    kc = tables["known_cases"] if "known_cases" in tables else None
    uni = entity_universe(tables)
    keys = set(uni["entity_type"].astype(str) + ":" + uni["entity_id"].astype(str))
    oc = outcomes.copy()
    inside = (oc["entity_type"].astype(str) + ":" + oc["entity_id"].astype(str)).isin(keys)
    merged = merge_labels(kc, oc[inside])
    n_kc = 0 if kc is None else len(kc)
    by_source = merged["source"].value_counts().to_dict() if len(merged) else {}
    info = {"known_cases_rows": int(n_kc), "outcome_rows": int(len(oc)),
            "outcomes_unknown_entity": int((~inside).sum()),
            "rows_used": int(len(merged)), "by_source": {str(k): int(v) for k, v in by_source.items()},
            "fraud": int((merged["label"] == "fraud").sum()), "cleared": int((merged["label"] == "cleared").sum()),
            "precedence": "the later dated outcome wins (ringscope/pipeline/feedback.py)"}
    return merged, info


def _review_queue(leads: pd.DataFrame, ctx: Context, cfg: RunConfig, runner: Any) -> pd.DataFrame:
    """The run's review queue (active learning), closed leads of the store left out."""
    from ringscope.pipeline.feedback import review_queue

    p = cfg.pipeline
    closed: set[str] = set()
    if runner is not None:
        from ringscope.store.findings import read_previous_leads

        try:
            prev = read_previous_leads(runner)
        except Exception as e:  # noqa: BLE001 - no statuses means nothing is known closed
            log.warning("could not read lead statuses from Neo4j: %s", e)
            prev = None
        if prev is not None:
            closed = set(prev.loc[prev["status"] == "结案", "lead_id"].astype(str))
    kc = ctx.table("known_cases")
    return review_queue(leads, kc if len(kc.columns) else None, n=int(p["review_queue_size"]),
                        bar=float(p["review_bar"]), amount_weight=float(p["review_amount_weight"]),
                        scheme_decay=float(p["review_scheme_decay"]), closed=closed)


def _publish(det: BaseDetector, ctx: Context, summary: dict[str, Any]) -> None:
    """What a fitted detector leaves in the context for the stages after it."""
    if det.kind == "face":
        ctx.face_matches = det.matches_
        # Context.face_identities is capture-level (capture_id -> face_id), carrying the
        # identity's attributes; the one-row-per-identity table is kept for the outputs
        ctx.face_identities = det.capture_face_.merge(det.identities_, on="face_id", how="left")
        ctx.cache["capture_face"] = det.capture_face_
        ctx.cache["face_identity_table"] = det.identities_
        summary["face_threshold"] = asdict(det.threshold_) if hasattr(det.threshold_, "__dataclass_fields__") \
            else det.threshold_
    elif det.kind == "rule":
        ctx.rule_hits = det.hits_
        summary["rule_timings"] = {k: round(v, 3) for k, v in getattr(det, "timings_", {}).items()}
    elif det.kind == "warning":
        w = getattr(det, "warnings_", None)
        if w is not None:
            ctx.warnings = w if ctx.warnings is None else pd.concat([ctx.warnings, w], ignore_index=True)
        ind = getattr(det, "indicators_", None)
        if ind is not None:
            ctx.cache.setdefault("indicators", []).append(ind.assign(detector=det.name))
    if det.kind in ("graph", "warning", "learned"):
        ctx.scores[det.name] = det.decision_scores_


def _warnings_frame(ctx: Context) -> pd.DataFrame:
    """warnings.csv: every warning detector's rows (contract columns first), or the empty contract frame."""
    from ringscope.ingest.contract import WARNINGS_COLUMNS

    if ctx.warnings is None or ctx.warnings.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in WARNINGS_COLUMNS})
    return ctx.warnings.drop_duplicates("warning_id").reset_index(drop=True)


def _no_hits() -> pd.DataFrame:
    from ringscope.models.rules.registry import EXTRA_COLUMNS, HIT_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype=object) for c in HIT_COLUMNS + EXTRA_COLUMNS})


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, default=str, sort_keys=True) + "\n")


class _CallbackHandler(logging.Handler):
    def __init__(self, fn: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.fn = fn

    def emit(self, record: logging.LogRecord) -> None:
        self.fn(self.format(record))
