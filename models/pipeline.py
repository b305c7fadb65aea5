"""``ringscope detect``: the whole detection run, from a dataset directory to a results directory.

Stages (each timed and logged; the manifest records them):

1. **validate** -- :func:`ringscope.ingest.reader.read_dataset`; writes
   ``load_report.csv`` and ``quarantine.csv``;
2. **ingest** -- :func:`ringscope.graph.load.ingest_dataset` into Neo4j
   (``neo4j=True``);
3. **faces** -- when face captures exist: verification of every capture
   against the claimed credential's enrolment and clustering into face
   identities (:class:`ringscope.ingest.faces.FaceMatchDetector`), before the
   rules so the identity-mismatch rule can use it;
4. **rules** -- :func:`ringscope.models.rules.registry.run_rules`;
5. **graph** -- every detector of :data:`ringscope.graph.detectors.DETECTORS`;
6. **learned** -- with ``gnn=True``: the supervised heterogeneous GNN and the
   neighbour-aggregated gradient-boosted trees when ``known_cases`` holds
   enough fraud *and* cleared labels, else the unsupervised graph
   autoencoder;
7. **fusion** -- :func:`ringscope.models.fusion.fuse` (entity scores, leads,
   evidence), with the previous run's leads (``leads.csv`` already in
   ``out_dir``, else the ``Lead`` nodes in Neo4j) so lead ids carry over;
8. **write** -- ``rule_hits.csv``, ``entity_scores.csv``, ``leads.csv``
   (contract columns first, extras after), ``lead_evidence.jsonl``,
   ``face_matches.csv``, ``face_identities.csv``, ``manifest.json``;
9. **findings** -- :func:`ringscope.graph.findings.write_findings` into Neo4j.

A detector that raises is recorded in the manifest's ``errors`` (with its
traceback's last line) and the run goes on without it; ``strict=True`` makes
it fatal instead.
"""
from __future__ import annotations

import json
import logging
import platform
import resource
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope.models.base import Context

__all__ = ["detect", "DetectConfig", "RESULT_FILES"]

log = logging.getLogger("ringscope.detect")

RESULT_FILES = ("load_report.csv", "quarantine.csv", "rule_hits.csv", "entity_scores.csv", "leads.csv",
                "lead_evidence.jsonl", "model_explanations.jsonl", "face_matches.csv", "face_identities.csv",
                "manifest.json")


class DetectConfig(dict):
    """Plain-dict options of :func:`detect` (all optional):

    ``detectors`` (list of graph detector names, default all; ``[]`` = none),
    ``learned`` (names of the learned models to keep, default all), ``detector_params`` ({name: {param: value}}),
    ``rules`` (overrides for ``rules.yaml``), ``fusion`` ({FusionConfig field: value}),
    ``min_labels`` (fraud and cleared labels needed for the supervised models, default 10),
    ``batch_size`` (Neo4j), ``encode_images`` (default True), ``strict`` (default False),
    ``explain_leads`` / ``explain_top`` / ``explain_max`` (which entities the learned models
    explain: members of the top leads, the top-scored entities per type, at most this many;
    defaults 30 / 20 / 200).
    """


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.timings[name] = self.timings.get(name, 0.0) + dt
            self.rss[name] = _peak_rss_mb()
            log.info("stage %s: %.2fs (peak RSS %.0f MB)", name, dt, self.rss[name])


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    import importlib.metadata as md

    for p in ("ringscope", "pandas", "numpy", "scipy", "scikit-learn", "igraph", "leidenalg", "torch",
              "torch-geometric", "xgboost-cpu", "xgboost", "neo4j", "faiss-cpu", "face-recognition-models"):
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


def _fit_safely(det: Any, ctx: Context, errors: list[dict[str, str]], strict: bool) -> bool:
    try:
        det.fit(ctx)
        return True
    except Exception as e:  # noqa: BLE001 - one failing detector must not lose the run
        if strict:
            raise
        last = traceback.format_exc().strip().splitlines()[-1]
        log.error("detector %s failed: %s", getattr(det, "name", det), last)
        errors.append({"detector": getattr(det, "name", type(det).__name__), "error": last,
                       "type": type(e).__name__})
        return False


def _graph_detectors(cfg: DetectConfig) -> list[Any]:
    from ringscope.graph.detectors import DETECTORS

    names = cfg.get("detectors")
    if names is None:
        names = list(DETECTORS)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown graph detector(s) {unknown}; known: {sorted(DETECTORS)}")
    params = cfg.get("detector_params") or {}
    return [DETECTORS[n](**params.get(n, {})) for n in names if n in DETECTORS]


def _learned_detectors(tables: dict[str, pd.DataFrame], cfg: DetectConfig) -> tuple[list[Any], str]:
    n_fraud, n_cleared = _n_labels(tables)
    need = int(cfg.get("min_labels", 10))
    params = cfg.get("detector_params") or {}
    only = cfg.get("learned")  # names to keep (the ablation), default all
    keep = (lambda name: only is None or name in only)
    if n_fraud >= need and n_cleared >= need:
        from ringscope.models.gnn import HeteroGNNDetector
        from ringscope.models.tabular import NeighbourXGBDetector

        dets = [HeteroGNNDetector(**params.get("gnn_hetero", {})),
                NeighbourXGBDetector(**params.get("xgb_neighbour", {}))]
        return ([d for d in dets if keep(d.name)],
                f"supervised ({n_fraud} fraud, {n_cleared} cleared labels)")
    from ringscope.models.gnn import GraphAEDetector

    dets = [GraphAEDetector(**params.get("graph_ae", {}))]
    return ([d for d in dets if keep(d.name)],
            f"unsupervised (only {n_fraud} fraud / {n_cleared} cleared labels; need {need} of each)")


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


def _explain(learned: list[Any], leads: pd.DataFrame, entity_scores: pd.DataFrame, cfg: DetectConfig,
             errors: list[dict[str, str]], strict: bool) -> list[dict[str, Any]]:
    """The learned models' explanations of the entities an investigator opens first."""
    targets = explanation_targets(leads, entity_scores, n_leads=int(cfg.get("explain_leads", 30)),
                                  per_type=int(cfg.get("explain_top", 20)), cap=int(cfg.get("explain_max", 200)))
    out: list[dict[str, Any]] = []
    for det in learned:
        try:
            out.extend(det.explain_many(targets, top=8))
        except Exception as e:  # an explanation never costs the run its results
            if strict:
                raise
            errors.append({"detector": f"{getattr(det, 'name', type(det).__name__)}.explain",
                           "error": f"{type(e).__name__}: {e}"})
    return out


def detect(dataset_path: str | Path, out_dir: str | Path, *, neo4j: bool = True, gnn: bool = True,
           runner: Any = None, config: dict[str, Any] | None = None,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run detection on ``dataset_path`` and write the results directory ``out_dir``.

    ``runner`` is a :class:`ringscope.graph.db.QueryRunner` (one is opened on the
    configured server when ``neo4j`` and none is given). Returns the run summary
    (also written as ``manifest.json``).
    """
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.fusion import FusionConfig, fuse, read_previous_leads

    cfg = DetectConfig(config or {})
    strict = bool(cfg.get("strict", False))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    errors: list[dict[str, str]] = []
    started = datetime.now().replace(microsecond=0)
    run_id = started.strftime("%Y%m%dT%H%M%S") + f"-{time.monotonic_ns() % 100000:05d}"
    summary: dict[str, Any] = {"run_id": run_id, "dataset": str(Path(dataset_path).resolve()),
                               "out_dir": str(out.resolve()), "started": started.isoformat(),
                               "neo4j": neo4j, "gnn": gnn, "errors": errors}
    own_runner = False
    handler = _CallbackHandler(progress) if progress else None
    if handler:
        log.addHandler(handler)

    with clock.stage("validate"):
        ds = read_dataset(dataset_path, encode_images=bool(cfg.get("encode_images", True)))
        ds.write_reports(out)
    summary["tables"] = {t: int(len(df)) for t, df in ds.tables.items()}
    summary["quarantined"] = int(len(ds.quarantine))
    previous = read_previous_leads(out_dir=out)
    try:
        if neo4j:
            with clock.stage("ingest"):
                from ringscope.graph.load import ingest_dataset

                if runner is None:
                    from ringscope.graph.db import QueryRunner

                    runner, own_runner = QueryRunner(), True
                summary["ingest"] = ingest_dataset(ds, runner, batch_size=int(cfg.get("batch_size", 20_000)))
            if previous is None:
                previous = read_previous_leads(runner=runner)
        summary["previous_leads"] = 0 if previous is None else int(len(previous))

        ctx = Context(tables=dict(ds.tables))
        detectors: list[Any] = []
        det_timings: dict[str, float] = {}

        with clock.stage("faces"):
            if ctx.has("face_captures"):
                from ringscope.ingest.faces import FaceMatchDetector

                fd = FaceMatchDetector(**(cfg.get("detector_params") or {}).get("face_match", {}))
                t0 = time.perf_counter()
                if _fit_safely(fd, ctx, errors, strict):
                    ctx.face_matches = fd.matches_
                    # Context.face_identities is capture-level (capture_id -> face_id), carrying the
                    # identity's attributes; the one-row-per-identity table is kept for the outputs
                    ctx.face_identities = fd.capture_face_.merge(fd.identities_, on="face_id", how="left")
                    ctx.cache["capture_face"] = fd.capture_face_
                    ctx.cache["face_identity_table"] = fd.identities_
                    detectors.append(fd)
                    summary["face_threshold"] = asdict(fd.threshold_) if hasattr(fd.threshold_, "__dataclass_fields__") \
                        else fd.threshold_
                det_timings[fd.name] = time.perf_counter() - t0

        with clock.stage("rules"):
            from ringscope.models.rules.registry import run_rules

            rule_timings: dict[str, float] = {}
            rule_hits = run_rules(ctx, config=cfg.get("rules"), timings=rule_timings)
            ctx.rule_hits = rule_hits
        summary["rule_timings"] = {k: round(v, 3) for k, v in rule_timings.items()}

        with clock.stage("graph"):
            for det in _graph_detectors(cfg):
                t0 = time.perf_counter()
                if _fit_safely(det, ctx, errors, strict):
                    detectors.append(det)
                    ctx.scores[det.name] = det.decision_scores_
                det_timings[det.name] = time.perf_counter() - t0

        fitted_learned: list[Any] = []
        if gnn:
            with clock.stage("learned"):
                learned, mode = _learned_detectors(ctx.tables, cfg)
                summary["learned_mode"] = mode
                for det in learned:
                    t0 = time.perf_counter()
                    if _fit_safely(det, ctx, errors, strict):
                        detectors.append(det)
                        fitted_learned.append(det)
                        ctx.scores[det.name] = det.decision_scores_
                    det_timings[det.name] = time.perf_counter() - t0
        summary["detector_timings"] = {k: round(v, 3) for k, v in det_timings.items()}

        with clock.stage("fusion"):
            fcfg = FusionConfig(**(cfg.get("fusion") or {}))
            res = fuse(ctx.tables, detectors, rule_hits=rule_hits, face_matches=ctx.face_matches,
                       previous=previous, config=fcfg)
        summary["fusion_weights"] = res.weights

        explanations: list[dict[str, Any]] = []
        if fitted_learned:
            with clock.stage("explain"):
                explanations = _explain(fitted_learned, res.leads, res.entity_scores, cfg, errors, strict)

        with clock.stage("write"):
            from ringscope.ingest.contract import ENTITY_SCORES_COLUMNS, LEADS_COLUMNS, RULE_HITS_COLUMNS

            _write_csv(rule_hits, out / "rule_hits.csv", RULE_HITS_COLUMNS)
            es = res.entity_scores.drop(columns=[c for c in res.entity_scores.columns if c.startswith("src:")])
            _write_csv(es, out / "entity_scores.csv", ENTITY_SCORES_COLUMNS)
            _write_csv(res.leads, out / "leads.csv", LEADS_COLUMNS)
            _write_jsonl(out / "lead_evidence.jsonl", res.evidence)
            _write_jsonl(out / "model_explanations.jsonl", explanations)
            fm = ctx.face_matches if ctx.face_matches is not None else pd.DataFrame(
                columns=["capture_id", "claimed_person_id", "distance", "verdict", "face_id"])
            _write_csv(fm, out / "face_matches.csv", ["capture_id"])
            fi = ctx.cache.get("face_identity_table", pd.DataFrame(columns=["face_id"]))
            _write_csv(fi, out / "face_identities.csv", ["face_id"])

        if neo4j:
            with clock.stage("findings"):
                from ringscope.graph.findings import write_findings

                summary["findings"] = write_findings(
                    runner, run_id=run_id, rule_hits=rule_hits, face_matches=ctx.face_matches,
                    face_identities=ctx.cache.get("face_identity_table"), entity_scores=es, leads=res.leads,
                    explanations=explanations, batch_size=int(cfg.get("batch_size", 10_000)))
    finally:
        if own_runner and runner is not None:
            runner.close()
        if handler:
            log.removeHandler(handler)

    summary["counts"] = {
        "rule_hits": int(len(rule_hits)), "entity_scores": int(len(res.entity_scores)),
        "entities_flagged": int((res.entity_scores["score"] >= 0.5).sum()), "leads": int(len(res.leads)),
        "groups": int(sum(len(getattr(d, "groups_", []) or []) for d in detectors)),
        "face_captures": int(len(ctx.face_matches)) if ctx.face_matches is not None else 0,
        "face_identities": int(len(ctx.cache.get("face_identity_table", ()))),
        "model_explanations": len(explanations),
    }
    summary["leads_by_scheme"] = res.leads["scheme"].value_counts().to_dict() if len(res.leads) else {}
    summary["lead_ids_kept"] = int(res.leads["lead_id"].isin(set(previous["lead_id"])).sum()) \
        if previous is not None and len(res.leads) else 0
    summary["detectors"] = {getattr(d, "name", type(d).__name__):
                            {"class": f"{type(d).__module__}.{type(d).__name__}",
                             "params": json.loads(json.dumps(d.get_params(), default=str))} for d in detectors}
    summary["timings"] = {k: round(v, 3) for k, v in clock.timings.items()}
    summary["total_seconds"] = round(sum(clock.timings.values()), 3)
    summary["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    summary["versions"] = _versions()
    summary["finished"] = datetime.now().replace(microsecond=0).isoformat()
    (out / "manifest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                       encoding="utf-8")
    log.info("detect finished in %.1fs: %s", summary["total_seconds"], summary["counts"])
    return summary


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
