"""``tradekit replay``: recorded days through a paper session, fast, with a session report."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from tradekit.errors import ConfigError, DataError, ValidationError

_NAME = re.compile(r"^(?P<ex>[A-Z]+)_(?P<sym>.+?)_(?P<tf>\w+?)\.(csv|parquet)(\.gz)?$")


def resolve_data(spec: str, start: date | None, end: date | None, timeframe: str = "1min") -> dict:
    """``RELIANCE,INFY`` (bundled), paths named ``NSE_SYM_1min.csv``, or ``NSE:SYM=path``, comma-separated."""
    from tradekit.data import load_bars, sample_path

    out = {}
    for item in [x.strip() for x in spec.split(",") if x.strip()]:
        if "=" in item:
            key, path = item.split("=", 1)
            if ":" not in key:
                raise ValidationError(f"{item!r}: write EXCHANGE:SYMBOL=path, e.g. NSE:INFY=bars.csv", field="--data")
            out[key.upper()] = load_bars(path, start=start, end=end)
            continue
        p = Path(item)
        if p.suffix or p.exists():
            m = _NAME.match(p.name)
            if not m:
                raise ValidationError(f"{item!r}: name the file EXCHANGE_SYMBOL_1min.csv or write NSE:SYMBOL={item}",
                                      field="--data")
            out[f"{m['ex']}:{m['sym']}"] = load_bars(p, start=start, end=end)
        else:
            ex, _, sym = item.upper().rpartition(":")
            out[f"{ex or 'NSE'}:{sym}"] = load_bars(sample_path(sym, timeframe), start=start, end=end)
    out = {k: v for k, v in out.items() if len(v)}
    if not out:
        raise DataError(f"no bars for {spec} between {start} and {end}")
    return out


REQUIRED_SOURCE = "give one of --signals FILE or --strategy sma:FAST:SLOW[:QTY[:PRODUCT]] (one is required)"


def check_charges_dates(cfg, first: date) -> None:
    """Bars older than the charges tables need ``execution.charges_as_of``: say so before any work,
    naming a config that works (``config/demo.yaml`` prices the bundled 2016 days)."""
    import os

    from tradekit.config.loader import project_root
    from tradekit.market.charges import RateTable

    if cfg.execution.charges_as_of:
        return
    since = RateTable.bundled().first_date
    if first >= since:
        return
    demo = project_root() / "config" / "demo.yaml"
    try:
        shown = os.path.relpath(demo)
    except ValueError:
        shown = str(demo)
    shown = shown if not shown.startswith("..") else str(demo)
    raise ConfigError(f"the bars start {first}, before the charges tables ({since}); replay them with "
                      f"-c {shown} (prices them at later rates) or set execution.charges_as_of: YYYY-MM-DD",
                      file=str(cfg.source) if cfg.source else None, field="execution.charges_as_of")


def load_signal_file(path: str | Path):
    """Signals in the published schema (JSON object, list, or JSON Lines). Bad records are reported."""
    from tradekit.signals import parse_batch

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: signal file not found")
    res = parse_batch(p.read_text(encoding="utf-8"))
    return res.accepted, res.errors


def replay_command(data: str, signals: str | None, start: str | None, end: str | None, strategy: str | None,
                   out: str | None, config=None, progress: bool = True, report: bool = True, timeframe: str = "1min"):
    from tradekit.config import load_config
    from tradekit.monitoring.report import build_session_report
    from tradekit.runs.live import parse_strategy
    from tradekit.session import Session
    from tradekit.execution.replay import run_replay

    def day(s, name):
        if s is None:
            return None
        try:
            return date.fromisoformat(s)
        except ValueError:
            raise ValidationError(f"{s!r} is not a date (YYYY-MM-DD)", field=name) from None

    if not signals and not strategy:
        raise ValidationError(REQUIRED_SOURCE, field="--signals/--strategy")
    d0, d1 = day(start, "--from"), day(end, "--to")
    if d0 and d1 and d1 < d0:
        raise ValidationError(f"--to {d1} is before --from {d0}", field="--to")
    cfg = load_config(config)
    frames = resolve_data(data, d0, d1, timeframe)
    sigs, errors = ([], [])
    if signals:
        sigs, errors = load_signal_file(signals)
    if not sigs and not strategy:
        first_bad = f": record {errors[0].index}: {errors[0].field}: {errors[0].message}" if errors else ""
        raise DataError(f"{signals}: no valid signals ({len(errors)} bad records){first_bad}")
    first = min(df.index[0] for df in frames.values())
    last = max(df.index[-1] for df in frames.values())
    check_charges_dates(cfg, first.date())
    out_dir = Path(out) if out else cfg.data_dir.parent / "runs" / f"replay-{first.date()}-{last.date()}"
    strat = parse_strategy(strategy) if strategy else None  # a bad spec is refused before any folder is made
    out_dir.mkdir(parents=True, exist_ok=True)
    s = Session.for_replay(cfg, out_dir / "journal.db", first.to_pydatetime())
    strategies = []
    if strat is not None:
        if timeframe == "1d":
            from dataclasses import replace
            from datetime import timedelta

            strat = replace(strat, bar=timedelta(days=1))
        strategies = [strat]
    res = run_replay(s, frames, signals=sigs, strategies=strategies, progress=progress)
    paths = {}
    if report:
        rep = build_session_report(s.journal, book=s.book, bars=frames,
                                   title=f"Paper replay {first.date()} – {last.date()}")
        if cfg.execution.charges_as_of:
            rep.notes.append(f"Charges are priced at the rates in force on {cfg.execution.charges_as_of} "
                             f"(execution.charges_as_of).")
        paths = rep.save(out_dir)
    s.close()
    return res, errors, out_dir, paths
