"""The evidence package of a lead, for a police–insurance joint case (医警联合办案).

A zip the liaison officer can hand over and the receiving side can check:

``lead.json``            the lead (scheme, score, money at risk, disposal state)
``members.csv``          the persons, physicians and institutions in the lead
``visits.csv``           the settlements that tie the ring together
``rule_hits.csv``        the ordinary rule hits against them
``events.csv``           the lead's disposal history (who did what, when)
``subgraph.png``         the ring drawn
``subgraph_edges.csv``   the drawn edges (per month), to redraw elsewhere
``detector_evidence.json`` the detectors' own evidence record, when present
``queries/<name>.cypher`` + ``queries/<name>.params.json``
                         every query that produced a file, with its parameters,
                         so the figures can be reproduced against the database
``manifest.json``        per file: size and SHA-256; who built it, when, role,
                         whether personal data is masked
``SHA256SUMS``           the same hashes in ``sha256sum -c`` format

:func:`verify_package` re-hashes every file against the manifest, so tampering
or a truncated transfer is detected.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["QueryRecord", "EvidenceInput", "build_package", "verify_package", "sha256"]


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``.

    >>> sha256(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


@dataclass
class QueryRecord:
    """A query that produced part of the package."""

    name: str
    text: str
    params: dict[str, Any]
    produced: str


@dataclass
class EvidenceInput:
    """Everything a package holds (already masked for the exporting role)."""

    lead: Mapping[str, Any]
    members: pd.DataFrame
    visits: pd.DataFrame
    rule_hits: pd.DataFrame
    events: pd.DataFrame
    edges: pd.DataFrame
    subgraph_png: bytes
    queries: list[QueryRecord]
    user: str
    role: str
    masked: bool
    detector_evidence: Mapping[str, Any] | None = None
    generated_at: str = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat())


def _csv(df: pd.DataFrame) -> bytes:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    # utf-8 with BOM so that spreadsheet software shows Chinese correctly
    return out.to_csv(index=False).encode("utf-8-sig")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


def build_package(inp: EvidenceInput) -> bytes:
    """The zip (bytes). Files are written in a fixed order with fixed
    timestamps, so equal inputs give byte-identical packages."""
    lead_id = str(inp.lead.get("lead_id"))
    files: dict[str, bytes] = {
        "lead.json": _json(dict(inp.lead)),
        "members.csv": _csv(inp.members),
        "visits.csv": _csv(inp.visits),
        "rule_hits.csv": _csv(inp.rule_hits),
        "events.csv": _csv(inp.events),
        "subgraph.png": inp.subgraph_png,
        "subgraph_edges.csv": _csv(inp.edges),
    }
    if inp.detector_evidence:
        files["detector_evidence.json"] = _json(dict(inp.detector_evidence))
    for q in inp.queries:
        files[f"queries/{q.name}.cypher"] = q.text.encode("utf-8")
        files[f"queries/{q.name}.params.json"] = _json(q.params)
    readme = (
        f"Evidence package for lead {lead_id}\n"
        f"Generated {inp.generated_at} by {inp.user} ({inp.role}); personal data "
        f"{'MASKED' if inp.masked else 'in clear'}.\n"
        "Check integrity with: sha256sum -c SHA256SUMS\n"
        "Reproduce a file: run queries/<name>.cypher with queries/<name>.params.json "
        "against the case database.\n"
    )
    files["README.txt"] = readme.encode("utf-8")
    manifest = {
        "lead_id": lead_id,
        "generated_at": inp.generated_at,
        "generated_by": inp.user,
        "role": inp.role,
        "personal_data_masked": inp.masked,
        "queries": {q.name: {"produced": q.produced, "params": q.params} for q in inp.queries},
        "files": {name: {"bytes": len(data), "sha256": sha256(data)} for name, data in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    sums = "".join(f"{sha256(files[n])}  {n}\n" for n in sorted(files) if n != "SHA256SUMS")
    files["SHA256SUMS"] = sums.encode("utf-8")

    buf = io.BytesIO()
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"lead_{lead_id}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name])
    return buf.getvalue()


def verify_package(data: bytes) -> tuple[bool, list[str]]:
    """Re-hash every file against ``manifest.json``.

    Returns ``(ok, problems)``: missing, extra or altered files are listed.
    """
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1:
            return False, [f"expected one top folder, found {sorted(roots)}"]
        root = roots.pop()
        content = {n.split("/", 1)[1]: z.read(n) for n in names}
    if "manifest.json" not in content:
        return False, [f"{root}/manifest.json missing"]
    manifest = json.loads(content["manifest.json"])
    listed = manifest.get("files", {})
    for name, meta in listed.items():
        if name not in content:
            problems.append(f"missing: {name}")
        elif sha256(content[name]) != meta["sha256"]:
            problems.append(f"altered: {name}")
    for name in content:
        if name not in listed and name not in ("manifest.json", "SHA256SUMS"):
            problems.append(f"not in manifest: {name}")
    sums = content.get("SHA256SUMS", b"").decode("utf-8").splitlines()
    for line in sums:
        h, _, name = line.partition("  ")
        if name in content and sha256(content[name]) != h:
            problems.append(f"SHA256SUMS mismatch: {name}")
    return not problems, problems
