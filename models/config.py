"""One validated configuration for a detection run: pipeline, detectors, rules, fusion.

The defaults are one file, ``models/defaults.yaml``. A user's file (``ringscope
detect --config FILE``) is deep-merged over them and validated against a schema
built from the code -- each registered detector's typed parameters, each
rule's declared parameters, the fields of :class:`~ringscope.models.fusion.FusionConfig`
and the pipeline's options -- with pydantic: unknown keys and values of the
wrong type are errors that name the key. ``ringscope config show`` prints the
effective configuration; a run writes it to ``config.yaml`` in its results
directory (and its hash to the manifest), so that file reproduces the run.

A detector of your own is one file plus one entry::

    detectors:
      night_owl:
        class: path/to/night_owl.py:NightOwlDetector   # or package.module:Class
        min_visits: 5

>>> cfg = load_config({"detectors": {"card_lending": {"min_credentials": 4}}})
>>> cfg.detectors["card_lending"]["min_credentials"], cfg.detectors["card_lending"]["inst_z"]
(4, 2.0)
>>> load_config({"detectors": {"card_lending": {"min_credentalz": 4}}})
Traceback (most recent call last):
...
ringscope.models.config.ConfigError: invalid configuration: detectors.card_lending.min_credentalz: unknown key (card_lending takes: enabled, min_credentials, ...)
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ringscope.models.base import BaseDetector, load_defaults
from ringscope.models.fusion import FusionConfig, _calibration_knots
from ringscope.models.registry import builtin, resolve_class
from ringscope.models.rules.registry import RULES, _load_all, measured_severity

__all__ = ["ConfigError", "RunConfig", "load_config", "reader_options", "deep_merge", "to_yaml", "fitted_files",
           "source_commit", "effective_severities", "calibration_knots", "show"]

#: the sections of a configuration file
SECTIONS = ("reader", "pipeline", "detectors", "rules", "fusion")

# fitted files that shape scores beside the configuration (bench/ refits them): a run's
# manifest records their sha256, ``config show`` prints what they hold
FITTED_FILES = {"rule_precision": "rule_precision.yaml", "lead_calibration": "lead_calibration.yaml"}


class ConfigError(ValueError):
    """The configuration breaks its schema (the message names the key)."""


class SparkGraphOptions(BaseModel):
    """``pipeline.spark_graph``: the graph step of ``--engine spark`` (graph/spark_graph.py)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    graphframes: str = Field(pattern=r"^(auto|always|never)$")
    hub_degree: int = Field(gt=0)
    max_component: int = Field(gt=0)
    lpa_iterations: int = Field(ge=1)
    whole_graph_below: int = Field(ge=0)
    checkpoint_interval: int = Field(ge=1)


class ReaderOptions(BaseModel):
    """The ``reader`` section: plausibility bounds where data is loaded (``detect``, ``ingest``,
    ``validate``), passed to :func:`ringscope.ingest.reader.read_dataset` by these names."""

    model_config = ConfigDict(extra="forbid")
    period_tolerance_days: int = Field(ge=0)
    max_age_years: int = Field(gt=0)
    max_money: float = Field(gt=0)
    max_quantity: float = Field(gt=0)


class PipelineOptions(BaseModel):
    """The ``pipeline`` section: options of the run itself."""

    model_config = ConfigDict(extra="forbid")
    gnn: bool
    strict: bool
    encode_images: bool
    batch_size: int = Field(gt=0)
    rows_per_bucket: int = Field(gt=0)
    memory_limit: str = Field(pattern=r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    # the most the columnar engine may spill to disk in one run (DuckDB max_temp_directory_size):
    # a query that needs more fails (that detector or rule, not the machine's disk)
    spill_limit: str = Field(default="16GB", pattern=r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    min_labels: int = Field(ge=0)
    learned_holdout: float = Field(gt=0, lt=1)
    learned_min_holdout: int = Field(ge=1)
    learned_min_lift: float
    learned_seed: int
    learned_max_share: float | None = Field(default=None, gt=0, le=1)
    explain_leads: int = Field(ge=0)
    explain_top: int = Field(ge=0)
    explain_max: int = Field(ge=0)
    review_queue_size: int = Field(ge=0)
    review_bar: float = Field(gt=0, lt=1)
    review_amount_weight: float = Field(ge=0, le=1)
    review_scheme_decay: float = Field(gt=0, le=1)
    spark_graph: SparkGraphOptions


@dataclass
class RunConfig:
    """A validated configuration (plain dicts inside, as the YAML reads)."""

    pipeline: dict[str, Any]
    detectors: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, Any]]
    fusion: dict[str, Any]
    reader: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"reader": self.reader, "pipeline": self.pipeline, "detectors": self.detectors, "rules": self.rules,
                "fusion": self.fusion}

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form (recorded in the manifest)."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True, default=str).encode()).hexdigest()

    def detector_class(self, name: str) -> type[BaseDetector]:
        spec = self.detectors[name].get("class")
        return resolve_class(spec) if spec else builtin()[name]

    def make(self, name: str) -> BaseDetector:
        """An instance of detector ``name`` with its configured parameters."""
        params = {k: v for k, v in self.detectors[name].items() if k not in ("enabled", "class")}
        if self.detector_class(name).kind == "rule":
            params["config"] = self.rules
        return self.detector_class(name)(**params)

    def enabled(self) -> list[str]:
        return [n for n, d in self.detectors.items() if d.get("enabled", True)]

    def fusion_config(self) -> FusionConfig:
        return FusionConfig(**self.fusion)


def deep_merge(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (mappings recursively, everything else replaced)."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# --------------------------------------------------------------------------- schema
def _detector_model(name: str, cls: type[BaseDetector], external: bool) -> type[BaseModel]:
    fields: dict[str, Any] = {"enabled": (bool, True)}
    if external:
        fields["class"] = (str, ...)
    params = cls.param_specs()
    if cls.kind == "rule":
        params = {k: v for k, v in params.items() if k != "config"}   # the rules section is theirs
    for k, (t, default) in params.items():
        fields[k] = (t, default)
    return create_model(f"detectors.{name}", __config__=ConfigDict(extra="forbid", protected_namespaces=()),
                        **fields)


def _rule_value_type(default: Any) -> Any:
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, list):
        return list
    if isinstance(default, dict):
        return dict
    return Any


def _rule_model(rule_id: str, defaults: dict[str, Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {"enabled": (bool, True),
                              "severity": (typing.Literal["low", "medium", "high"] | None, None)}
    for k, d in defaults.items():
        if k in ("enabled", "severity"):
            continue
        fields[k] = (_rule_value_type(d), d)
    return create_model(f"rules.{rule_id}", __config__=ConfigDict(extra="forbid"), **fields)


def _fusion_model() -> type[BaseModel]:
    hints = typing.get_type_hints(FusionConfig)
    fields = {f.name: (hints[f.name], ...) for f in dataclasses.fields(FusionConfig)}
    return create_model("fusion", __config__=ConfigDict(extra="forbid"), **fields)


def _errors(e: ValidationError, prefix: str, allowed: list[str] | None = None, who: str = "") -> list[str]:
    out = []
    for err in e.errors():
        loc = ".".join(str(x) for x in (prefix, *err["loc"]) if x != "")
        if err["type"] == "extra_forbidden":
            hint = f" ({who} takes: {', '.join(allowed[:2])}, ...)" if allowed else ""
            out.append(f"{loc}: unknown key{hint}")
        else:
            out.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return out


def _validate(merged: dict[str, Any]) -> RunConfig:
    problems: list[str] = []
    problems += _unknown_sections(merged)
    try:
        reader = ReaderOptions(**(merged.get("reader") or {})).model_dump()
    except ValidationError as e:
        problems += _errors(e, "reader")
        reader = {}
    try:
        pipeline = PipelineOptions(**(merged.get("pipeline") or {})).model_dump()
    except ValidationError as e:
        problems += _errors(e, "pipeline")
        pipeline = {}
    detectors: dict[str, dict[str, Any]] = {}
    known = builtin()
    for name, sec in (merged.get("detectors") or {}).items():
        sec = dict(sec or {})
        external = "class" in sec
        try:
            cls = resolve_class(sec["class"]) if external else known[name]
        except KeyError:
            problems.append(f"detectors.{name}: no detector of that name (built in: {', '.join(sorted(known))}; "
                            f"a detector of your own needs 'class: module:Class')")
            continue
        except (ValueError, ImportError) as e:
            problems.append(f"detectors.{name}.class: {e}")
            continue
        if cls.name != name:
            problems.append(f"detectors.{name}: the class {cls.__name__} is named {cls.name!r}; "
                            f"its section must be detectors.{cls.name}")
            continue
        model = _detector_model(name, cls, external)
        try:
            detectors[name] = model(**sec).model_dump(by_alias=True)
        except ValidationError as e:
            problems += _errors(e, f"detectors.{name}", list(model.model_fields), name)
        except TypeError as e:
            problems.append(f"detectors.{name}: {e}")
    _load_all()
    rule_defaults = load_defaults()["rules"]
    rules: dict[str, dict[str, Any]] = {}
    for rid, sec in (merged.get("rules") or {}).items():
        if rid not in RULES:
            problems.append(f"rules.{rid}: no rule of that id (see `ringscope config show` for the list)")
            continue
        model = _rule_model(rid, rule_defaults.get(rid) or {})
        try:
            rules[rid] = model(**(sec or {})).model_dump(exclude_none=False)
        except ValidationError as e:
            problems += _errors(e, f"rules.{rid}", list(model.model_fields), rid)
    for rid in rules:   # severity None = the rule's registered severity
        if rules[rid].get("severity") is None:
            rules[rid].pop("severity", None)
    try:
        fusion = _fusion_model()(**(merged.get("fusion") or {})).model_dump()
    except ValidationError as e:
        problems += _errors(e, "fusion")
        fusion = {}
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return RunConfig(*(_plain(x) for x in (pipeline, detectors, rules, fusion, reader)))


def _unknown_sections(merged: dict[str, Any]) -> list[str]:
    return [f"{k}: unknown section (sections: {', '.join(SECTIONS)})" for k in sorted(set(merged) - set(SECTIONS))]


def _read_file(config: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(config, (str, Path)):
        p = Path(config)
        if not p.is_file():
            raise ConfigError(f"configuration file {p} does not exist")
        try:
            config = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p} is not valid YAML: {e}") from e
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"a configuration is a mapping of sections ({', '.join(SECTIONS)})")
    return config or {}


def reader_options(config: str | Path | dict[str, Any] | None = None,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``reader`` section alone (``ingest`` and ``validate``, which run no detectors): the
    defaults with ``config``'s section and then ``overrides`` (``None`` values skipped) merged
    over them, validated; keyword arguments of ``read_dataset``. Raises :class:`ConfigError`.

    >>> reader_options(overrides={"max_money": 5e5})["max_money"], reader_options()["period_tolerance_days"]
    (500000.0, 31)
    >>> reader_options({"reader": {"max_mony": 1}})
    Traceback (most recent call last):
    ...
    ringscope.models.config.ConfigError: invalid configuration: reader.max_mony: unknown key
    """
    user = _read_file(config)
    problems = _unknown_sections(user)
    merged = deep_merge(load_defaults().get("reader") or {}, user.get("reader") or {})
    merged = deep_merge(merged, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        out = ReaderOptions(**merged).model_dump()
    except ValidationError as e:
        problems += _errors(e, "reader")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return out


def _plain(x: Any) -> Any:
    """Validated values as YAML/JSON read them (tuples as lists), so a saved file round-trips."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def load_config(config: str | Path | dict[str, Any] | RunConfig | None = None,
                overrides: dict[str, Any] | None = None) -> RunConfig:
    """The defaults with ``config`` (a YAML file, a mapping or a :class:`RunConfig`) and then
    ``overrides`` deep-merged over them, validated. Raises :class:`ConfigError`."""
    if isinstance(config, RunConfig):
        config = config.as_dict()
    merged = deep_merge(load_defaults(), _read_file(config))
    merged = deep_merge(merged, overrides or {})
    return _validate(merged)


def to_yaml(cfg: RunConfig) -> str:
    """The configuration as YAML (the form ``config show`` prints and a run saves)."""
    head = ("# the effective configuration of ringscope detect (models/defaults.yaml with overrides);\n"
            "# pass it back with --config to reproduce a run\n")
    return head + yaml.safe_dump(cfg.as_dict(), sort_keys=False, allow_unicode=True, width=110)


def fitted_files() -> dict[str, str | None]:
    """sha256 of each fitted file in :data:`FITTED_FILES` (``None`` when absent): rule
    severities come from ``models/rule_precision.yaml``, the lead calibration knots from
    ``models/lead_calibration.yaml`` -- both shape scores, neither is in the configuration."""
    here = Path(__file__).resolve().parent
    return {k: hashlib.sha256((here / f).read_bytes()).hexdigest() if (here / f).is_file() else None
            for k, f in FITTED_FILES.items()}


def source_commit() -> str | None:
    """``git rev-parse HEAD`` in the package's source directory; ``None`` when that is not a
    git checkout (an installed wheel) or git is missing -- never an error."""
    import subprocess

    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    out = r.stdout.strip()
    return out if r.returncode == 0 and out else None


def effective_severities(cfg: RunConfig) -> dict[str, str]:
    """Per rule id, the severity its hits carry in a run with ``cfg``: the configuration's
    ``severity`` when set, else the measured one (``models/rule_precision.yaml``), else the
    declared one (:func:`~ringscope.models.rules.registry.measured_severity`)."""
    _load_all()
    return {rid: (cfg.rules.get(rid) or {}).get("severity") or measured_severity(RULES[rid])
            for rid in sorted(RULES)}


def calibration_knots() -> list[list[float]]:
    """The lead calibration's isotonic knots ``[raw, calibrated]`` (``models/lead_calibration.yaml``)."""
    xs, ys = _calibration_knots()
    return [[float(x), float(y)] for x, y in zip(xs, ys)]


def show(cfg: RunConfig) -> str:
    """What ``ringscope config show`` prints: the configuration (:func:`to_yaml`), then, as
    YAML comments so the output still passes back to ``--config``, what the fitted files add:
    each rule's effective severity and the calibration knots, with the files' sha256."""
    h = fitted_files()
    lines = ["", "# --- not configuration: fitted files that also shape scores (a run's manifest records",
             "# --- their sha256 under fitted_files) ---",
             f"# effective rule severity (configuration > models/rule_precision.yaml > declared); "
             f"rule_precision.yaml sha256 {h['rule_precision']}",
             "# effective_severity:"]
    lines += [f"#   {rid}: {sev}" for rid, sev in effective_severities(cfg).items()]
    lines += [f"# lead calibration knots [raw, calibrated] (models/lead_calibration.yaml sha256 "
              f"{h['lead_calibration']})", "# lead_calibration_knots:"]
    lines += [f"#   - [{x!r}, {y!r}]" for x, y in calibration_knots()]
    return to_yaml(cfg) + "\n".join(lines) + "\n"
