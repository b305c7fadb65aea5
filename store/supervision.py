"""The supervision loop's local rules, as configuration: the tip-off reward rule and the
random-inspection draw's parameters (``store/supervision.yaml``, shipped with the package).

A bureau sets its own with a YAML file merged over the defaults: ``--config FILE`` on the
``ringscope inspections`` commands, ``$RINGSCOPE_SUPERVISION_CONFIG`` for the app and the data
layer. The file is validated with pydantic: an unknown key or a value of the wrong type is an
error naming the key (the same convention as ``models/defaults.yaml``, which the store cannot read:
the store and the detectors are independent layers, docs/architecture.md).

References: 国家医疗保障局、财政部《违法违规使用医疗保障基金举报奖励办法》(医保发〔2022〕22号) for the
reward's floor and cap; 国务院办公厅《关于推广随机抽查规范事中事后监管的通知》(国办发〔2015〕58号) for
the draw; 《医疗保障行政处罚程序暂行规定》(国家医疗保障局令第4号, 2021) for teams of two or more.

>>> cfg = load_supervision()
>>> cfg.reward_rule().cap, cfg.inspections.team_size
(200000.0, 2)
>>> try:
...     load_supervision(overrides={"inspections": {"team_size": 1}})
... except SupervisionConfigError as e:
...     print(e)
inspections.team_size: Input should be greater than or equal to 2
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["SupervisionConfig", "InspectionParams", "TipoffParams", "RewardParams", "load_supervision",
           "SupervisionConfigError", "ENV"]

ENV = "RINGSCOPE_SUPERVISION_CONFIG"


class SupervisionConfigError(ValueError):
    """A supervision configuration file that is not valid (the message names the key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RewardParams(_Strict):
    proportion: float = Field(0.05, gt=0, le=1)
    floor: float = Field(200.0, ge=0)
    cap: float = Field(200_000.0, ge=0)

    @model_validator(mode="after")
    def _floor_below_cap(self):
        if self.cap < self.floor:
            raise ValueError(f"cap {self.cap} is below floor {self.floor}")
        return self


class TipoffParams(_Strict):
    reward: RewardParams = RewardParams()
    accept_days: int = Field(15, ge=1)
    reply_days: int = Field(60, ge=1)


class InspectionParams(_Strict):
    rate: float = Field(0.05, gt=0, le=1)
    strata: tuple[str, ...] = ("kind", "district")
    risk_share: float = Field(0.3, ge=0, le=1)
    risk_floor: float = Field(0.02, gt=0)
    warning_weights: dict[str, float] = {"red": 0.9, "orange": 0.6, "yellow": 0.3}
    team_size: int = Field(2, ge=2)
    max_per_inspector: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _known(self):
        bad = [s for s in self.strata if s not in ("kind", "district", "level", "ownership")]
        if bad:
            raise ValueError(f"strata {bad}: institution fields kind, district, level or ownership")
        if any(not 0 <= v <= 1 for v in self.warning_weights.values()):
            raise ValueError("warning_weights: each in [0, 1]")
        return self


class SupervisionConfig(_Strict):
    tipoffs: TipoffParams = TipoffParams()
    inspections: InspectionParams = InspectionParams()

    def reward_rule(self):
        """The tip-off :class:`~ringscope.store.tipoffs.RewardRule` this configuration sets."""
        from ringscope.store.tipoffs import RewardRule

        t = self.tipoffs
        return RewardRule(proportion=t.reward.proportion, floor=t.reward.floor, cap=t.reward.cap,
                          accept_days=t.accept_days, reply_days=t.reply_days)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "warning_weights" \
            else v
    return out


def _defaults() -> dict:
    text = resources.files("ringscope.store").joinpath("supervision.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def load_supervision(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> SupervisionConfig:
    """The defaults, merged with ``path`` (else ``$RINGSCOPE_SUPERVISION_CONFIG`` when set), then
    ``overrides``; validated."""
    raw = _defaults()
    path = path or os.environ.get(ENV) or None
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise SupervisionConfigError(f"supervision configuration {p}: no such file")
        raw = _merge(raw, yaml.safe_load(p.read_text(encoding="utf-8")) or {})
    raw = _merge(raw, overrides or {})
    try:
        return SupervisionConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise SupervisionConfigError(f"{where}: {err['msg']}".replace("Value error, ", "")) from None
