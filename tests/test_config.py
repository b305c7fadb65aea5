"""One validated configuration: unknown keys fail with a clear message, the same file
reproduces a run exactly, and a detector of one's own is one file plus one entry."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ringscope.models.config import ConfigError, load_config, to_yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from compare_results import compare  # noqa: E402


def test_defaults_validate_and_cover_every_detector_and_rule():
    from ringscope.models.registry import builtin
    from ringscope.models.rules import RULES, list_rules

    cfg = load_config()
    assert set(cfg.detectors) == set(builtin())
    list_rules()
    assert set(cfg.rules) == set(RULES)
    # one source of defaults: a built-in detector declares types in code, values only in defaults.yaml
    for name, cls in builtin().items():
        for k in cls.param_specs():
            if k == "config":
                continue
            assert k in cfg.detectors[name], f"{name}.{k} has no default in models/defaults.yaml"
            assert k not in vars(cls), f"{name}.{k}: default restated in the class body"


@pytest.mark.parametrize("bad,needle", [
    ({"detectors": {"card_lending": {"min_credentalz": 4}}}, "detectors.card_lending.min_credentalz: unknown key"),
    ({"detectors": {"card_lending": {"min_credentials": "many"}}}, "detectors.card_lending.min_credentials"),
    ({"detectors": {"no_such": {}}}, "detectors.no_such: no detector of that name"),
    ({"rules": {"R-POL-001": {"tolerence": 0.1}}}, "rules.R-POL-001.tolerence: unknown key"),
    ({"rules": {"R-XXX-999": {}}}, "rules.R-XXX-999: no rule of that id"),
    ({"rules": {"R-POL-001": {"severity": "extreme"}}}, "rules.R-POL-001.severity"),
    ({"fusion": {"w_grup": 0.5}}, "fusion.w_grup: unknown key"),
    ({"pipeline": {"batch_size": 0}}, "pipeline.batch_size"),
    ({"pipelines": {}}, "pipelines: unknown section"),
    ({"reader": {"max_mony": 1e6}}, "reader.max_mony: unknown key"),
    ({"reader": {"max_money": -1}}, "reader.max_money"),
])
def test_unknown_or_wrong_keys_are_errors(bad, needle):
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert needle in str(e.value)


def test_detect_cli_refuses_a_bad_config_before_reading_data(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors:\n  card_lending:\n    min_credentalz: 4\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "ringscope.cli", "detect", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "out"), "--no-neo4j", "--config", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "min_credentalz: unknown key" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
    r = subprocess.run([sys.executable, "-m", "ringscope.cli", "config", "show", "--config", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "min_credentalz" in r.stderr


def test_config_show_prints_the_effective_configuration(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detectors:\n  ghost_admission:\n    min_wave: 6\nfusion:\n  w_group: 0.5\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "ringscope.cli", "config", "show", "--config", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["detectors"]["ghost_admission"]["min_wave"] == 6
    assert shown["detectors"]["ghost_admission"]["min_surprise"] == 3.0     # the default beside it
    assert shown["fusion"]["w_group"] == 0.5 and "R-MED-001" in shown["rules"]
    assert load_config(shown).digest() == load_config(f).digest()


def test_config_show_prints_effective_severities_and_calibration():
    """The fitted files shape scores too: ``config show`` prints each rule's effective severity
    (a configured one wins over models/rule_precision.yaml) and the calibration knots, with the
    files' sha256, as comments, so the output still passes back to ``--config``."""
    from ringscope.models.config import fitted_files

    r = subprocess.run([sys.executable, "-m", "ringscope.cli", "config", "show"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from ringscope.models.config import effective_severities

    sev = effective_severities(load_config())
    assert f"#   R-POL-001: {sev['R-POL-001']}" in r.stdout
    h = fitted_files()
    assert h["rule_precision"] and h["lead_calibration"]
    assert h["rule_precision"] in r.stdout and h["lead_calibration"] in r.stdout
    assert "lead_calibration_knots:" in r.stdout
    assert load_config(yaml.safe_load(r.stdout)).digest() == load_config().digest()
    # a severity in the configuration is the effective one
    cfg = load_config({"rules": {"R-POL-001": {"severity": "low"}}})
    assert effective_severities(cfg)["R-POL-001"] == "low"


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("cfgcity") / "city"
    # the original city model (synth/legacy.yaml): few enough signals per institution that a
    # weak detector of one's own still shows among an entity's three strongest reasons
    generate(out, persons=1200, seed=5, config=REPO / "synth" / "legacy.yaml")
    return out


@pytest.mark.slow
def test_the_same_configuration_reproduces_a_run(city, tmp_path):
    from ringscope.pipeline import detect

    cfg = tmp_path / "mine.yaml"
    cfg.write_text("detectors:\n  collusive_prescribing:\n    min_patients: 4\n  doctor_shopping:\n"
                   "    min_prescribers: 4\nfusion:\n  w_members: 0.5\n", encoding="utf-8")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sa = detect(city, a, neo4j=False, config=cfg)
    # the run's saved config.yaml is the effective configuration: passing it back reproduces the run
    sb = detect(city, b, neo4j=False, config=a / "config.yaml")
    assert sa["config_sha256"] == sb["config_sha256"]
    ok, lines = compare(a, b, tol=0.0)
    assert ok, lines
    assert yaml.safe_load((a / "config.yaml").read_text())["detectors"]["collusive_prescribing"]["min_patients"] == 4
    # and the configuration does change the run: the defaults give different results
    sc = detect(city, c, neo4j=False)
    assert sc["config_sha256"] != sa["config_sha256"]
    assert json.loads((a / "manifest.json").read_text())["detectors"]["doctor_shopping"]["params"]["min_prescribers"] == 4
    # the manifest records what else shaped the scores: the fitted files' sha256 and the code's commit
    from ringscope.models.config import fitted_files

    m = json.loads((a / "manifest.json").read_text())
    assert m["fitted_files"] == fitted_files() and set(m["fitted_files"]) == {"rule_precision", "lead_calibration"}
    assert all(len(v) == 64 for v in m["fitted_files"].values())
    assert "source_commit" in m and (m["source_commit"] is None or len(m["source_commit"]) == 40)


@pytest.mark.slow
def test_a_detector_of_ones_own_is_one_file_and_one_entry(city, tmp_path):
    """tests/examples/night_owl.py plus a configuration entry: it runs, in its stage, and fusion weighs it."""
    from ringscope.pipeline import detect

    cfg = tmp_path / "owl.yaml"
    cfg.write_text(yaml.safe_dump({"detectors": {"night_owl": {
        "class": str(REPO / "tests" / "examples" / "night_owl.py") + ":NightOwlDetector",
        "night_start": 17, "night_end": 24, "min_night_visits": 1, "min_excess": 0.0}},
        "pipeline": {"gnn": False}}), encoding="utf-8")
    out = tmp_path / "owl"
    s = detect(city, out, neo4j=False, config=cfg)
    assert s["errors"] == []
    assert s["detectors"]["night_owl"]["kind"] == "graph"
    assert s["detectors"]["night_owl"]["params"]["min_night_visits"] == 1
    assert "night_owl" in s["detector_timings"]
    es = pd.read_csv(out / "entity_scores.csv", dtype=str, keep_default_na=False)
    owl = es[es["reasons"].str.contains("night_owl")]
    assert len(owl) and set(owl["entity_type"]) == {"institution"}
    assert "settlements at night" in owl["reasons"].iloc[0]
    # a typo in its section is caught like any other
    with pytest.raises(ConfigError, match="night_owl.min_night_vists: unknown key"):
        load_config({"detectors": {"night_owl": {"class": str(REPO / "tests/examples/night_owl.py") + ":NightOwlDetector",
                                                 "min_night_vists": 1}}})


def test_to_yaml_round_trips():
    cfg = load_config({"detectors": {"split_admission": {"planned_prefixes": ["Z51"]}}})
    again = load_config(yaml.safe_load(to_yaml(cfg)))
    assert again.as_dict() == cfg.as_dict()
    assert again.detectors["split_admission"]["planned_prefixes"] == ["Z51"]
