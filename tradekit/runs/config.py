"""Settings of the daily chain and the scheduler: the proposed ``runs:`` config section.

Not wired into :class:`~tradekit.config.schema.TradekitConfig` yet; until it is,
:func:`runs_settings` returns the defaults and the CLI flags override them.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

_STRATEGY = re.compile(r"^sma:\d+:\d+(:\d+(:(MIS|CNC|NRML))?)?$", re.IGNORECASE)


class RunsConfig(BaseModel):
    """The ``runs:`` section.

    Attributes
    ----------
    root : Path
        Folder that holds ``<YYYY-MM-DD>/`` run folders (relative to the working directory).
    symbols : list of str
        Instruments a paper replay trades (bundled 1-minute bars).
    strategy : str or None
        A bundled strategy for paper replays, ``sma:FAST:SLOW[:QTY[:PRODUCT]]``; None: only
        signal files drive the day.
    signals : Path or None
        A signal file (the research notebook's export) fed to paper replays at each
        signal's time.
    schedule_at : str
        IST time (``HH:MM``) at which ``tradekit schedule`` starts the chain on trading days.
    execution_timeout : int or None
        Per-cell papermill timeout in seconds for paper runs; live runs have none (the
        session cell runs until the close).
    progress_every : int
        Print a progress line every this many simulated minutes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Path("runs")
    symbols: list[str] = Field(default_factory=lambda: ["RELIANCE", "INFY", "TCS"], min_length=1)
    strategy: str | None = "sma:10:30:10:MIS"
    signals: Path | None = None
    schedule_at: str = Field("08:45", pattern=r"^\d{2}:\d{2}$")
    execution_timeout: int | None = Field(900, gt=0)
    progress_every: int = Field(30, gt=0)

    @field_validator("symbols")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v if s.strip()]

    @field_validator("strategy")
    @classmethod
    def _spec(cls, v: str | None) -> str | None:
        if v is not None and not _STRATEGY.match(v.strip()):
            raise ValueError(f"{v!r} is not sma:FAST:SLOW[:QTY[:PRODUCT]] (e.g. sma:10:30:10:MIS)")
        return v


def runs_settings(cfg) -> RunsConfig:
    """The config's ``runs`` section, or the defaults while the section is not wired."""
    return getattr(cfg, "runs", None) or RunsConfig()
