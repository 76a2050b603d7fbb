"""``tradekit replay``: recorded days through a paper session, fast, with a session report."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

from tradekit.errors import ConfigError, DataError, ValidationError

_NAME = re.compile(r"^(?P<ex>[A-Z]+)_(?P<sym>.+?)_(?P<tf>\w+?)\.(csv|parquet)(\.gz)?$")


def resolve_data(spec: str, start: date | None, end: date | None, timeframe: str = "1min",
                 data_dir: Path | None = None) -> dict:
    """``RELIANCE,NSE:XYZ`` (the data directory's bars, else the bundled sample), paths named
    ``NSE_SYM_1min.csv``, or ``NSE:SYM=path``, comma-separated."""
    from tradekit.data import load_bars
    from tradekit.data.store import load_symbol_bars

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
            out[f"{ex or 'NSE'}:{sym}"] = load_symbol_bars(f"{ex or 'NSE'}:{sym}", timeframe, data_dir=data_dir,
                                                           start=start, end=end)
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


_STAGING = ".replay-staging"


def _publish(staging: Path, out_dir: Path) -> Path | None:
    """The new run succeeded: keep the earlier one under ``previous/``, then move the new one in."""
    from tradekit.runs.chain import archive_previous

    archived = archive_previous(out_dir, keep=(), keep_hidden=True)
    for p in staging.iterdir():
        shutil.move(str(p), str(out_dir / p.name))
    staging.rmdir()
    return archived


def _day(s, name):
    if s is None:
        return None
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise ValidationError(f"{s!r} is not a date (YYYY-MM-DD)", field=name) from None


def replay_instruments(cfg, keys, first: date, specs: list[str] | None = None):
    """The master a replay trades on (:func:`tradekit.market.master.load_master` for ``first``,
    plus the instruments named with ``--instrument``); every key of the data must be in it, else
    the replay is refused before it starts, naming each unknown symbol and how to name it."""
    from tradekit.market.master import load_master, user_instrument

    extra = [user_instrument(s, field="--instrument") for s in specs or []]
    store, info = load_master(cfg, first, extra=extra)
    store.info = info
    unknown = [k for k in keys if store.find(k) is None]
    if unknown:
        how = ", ".join(f"--instrument {k}:EQ" for k in unknown)
        raise DataError(f"unknown instrument(s) {', '.join(unknown)}: not in {info.message.split(': ', 1)[1]}; "
                        f"name each with {how} (tick and lot from the rules of the day; derivatives need "
                        f":tick=T:lot=L), or list them under market.instruments in the config")
    return store


def replay_command(data: str | None, signals: str | None, start: str | None, end: str | None, strategy: str | None,
                   out: str | None, config=None, progress: bool = True, report: bool = True, timeframe: str = "1min",
                   ticks: bool = False, day: str | None = None, store: str | None = None,
                   instruments: list[str] | None = None):
    """Replay recorded bars (or, with ``ticks``, a recorded day from the tick store) through a paper session.

    The run is built in a staging folder; only when it succeeded does the folder's earlier run
    move into ``previous/<n>/`` and the new one take its place, so a failed replay destroys
    nothing. Returns ``(result, malformed records, folder, report paths)``.
    """
    from tradekit.config import load_config
    from tradekit.execution.replay import run_replay, run_tick_replay
    from tradekit.runs.chain import run_lock
    from tradekit.runs.live import parse_strategy
    from tradekit.session import Session

    if not signals and not strategy:
        raise ValidationError(REQUIRED_SOURCE, field="--signals/--strategy")
    cfg = load_config(config)
    if ticks:
        if start or end:
            raise ValidationError("a tick replay takes one day: use --date, not --from/--to", field="--from")
        d = _day(day, "--date")
        if d is None:
            raise ValidationError("--ticks needs --date YYYY-MM-DD (a day recorded in the tick store)", field="--date")
        tick_list, keys, root = load_recorded_ticks(cfg, d, data, store)
        first = last = d
    else:
        if day is not None:
            raise ValidationError("--date is for --ticks; replay bars with --from/--to", field="--date")
        if not data:
            raise ValidationError("give --data (e.g. RELIANCE,INFY), or --ticks --date D for a recorded day", field="--data")
        d0, d1 = _day(start, "--from"), _day(end, "--to")
        if d0 and d1 and d1 < d0:
            raise ValidationError(f"--to {d1} is before --from {d0}", field="--to")
        frames = resolve_data(data, d0, d1, timeframe, data_dir=cfg.data_dir)
        first = min(df.index[0] for df in frames.values()).date()
        last = max(df.index[-1] for df in frames.values()).date()
    sigs, errors = ([], [])
    if signals:
        sigs, errors = load_signal_file(signals)
    if not sigs and not strategy:
        first_bad = f": record {errors[0].index}: {errors[0].field}: {errors[0].message}" if errors else ""
        raise DataError(f"{signals}: no valid signals ({len(errors)} bad records){first_bad}")
    check_charges_dates(cfg, first)
    traded = keys if ticks and keys else (sorted({t.key for t in tick_list if t.key}) if ticks else list(frames))
    if ticks:  # index levels recorded for the market-wide breaker are prices, not instruments to trade
        idx = {k.upper() for k in cfg.market_data.indices}
        traded = [k for k in traded if k.upper() not in idx]
    master = replay_instruments(cfg, traded, first, instruments)
    strategies = []
    if strategy:
        strat = parse_strategy(strategy)  # a bad spec is refused before any folder is made
        if timeframe == "1d" and not ticks:
            from dataclasses import replace
            from datetime import timedelta

            strat = replace(strat, bar=timedelta(days=1))
        strategies = [strat]
    if out:
        out_dir = Path(out)
    elif ticks:
        out_dir = cfg.data_dir.parent / "runs" / f"replay-ticks-{first}"
    else:
        out_dir = cfg.data_dir.parent / "runs" / f"replay-{first}-{last}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(out_dir, "tradekit replay", name=".tradekit-replay.lock"):
        staging = out_dir / _STAGING
        if staging.exists():
            shutil.rmtree(staging)  # a replay that died half-way
        staging.mkdir()
        try:
            if ticks:
                s = Session.for_replay(cfg, staging / "journal.db", tick_list[0].ts, instruments=master)
                try:
                    res = run_tick_replay(s, tick_list, signals=sigs, strategies=strategies, progress=progress)
                    frames = res.data
                    title = f"Paper tick replay {first} ({len(tick_list):,} ticks from {root})"
                    paths = _report(s, cfg, frames, title, staging) if report else {}
                finally:
                    s.close()
            else:
                s = Session.for_replay(cfg, staging / "journal.db",
                                       min(df.index[0] for df in frames.values()).to_pydatetime(), instruments=master)
                try:
                    res = run_replay(s, frames, signals=sigs, strategies=strategies, progress=progress)
                    paths = _report(s, cfg, frames, f"Paper replay {first} – {last}", staging) if report else {}
                finally:
                    s.close()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the earlier run stays as it was
            raise
        archived = _publish(staging, out_dir)
    res.malformed = len(errors)
    res.previous_run = archived
    paths = {k: out_dir / Path(v).relative_to(staging) if Path(v).is_relative_to(staging) else v for k, v in paths.items()}
    return res, errors, out_dir, paths


def _report(s, cfg, frames, title: str, folder: Path) -> dict:
    from tradekit.monitoring.report import build_session_report

    rep = build_session_report(s.journal, book=s.book, bars=frames, title=title)
    info = getattr(s.instruments, "info", None)
    if info is not None:
        rep.notes.append(info.message[:1].upper() + info.message[1:] + ".")
    users = sorted(k for k in frames if (i := s.instruments.find(k)) is not None and i.meta.get("source") == "user")
    if users:
        rep.notes.append(f"Named by the user (in no instrument master): {', '.join(users)}.")
    if cfg.execution.charges_as_of:
        rep.notes.append(f"Charges are priced at the rates in force on {cfg.execution.charges_as_of} "
                         f"(execution.charges_as_of).")
    return rep.save(folder)


def load_recorded_ticks(cfg, day: date, symbols: str | None, store: str | None):
    """A day's ticks from the tick store (``store`` or the config's ``tick_store.dir``), in
    exchange-time order; ``symbols`` (``RELIANCE,NSE:INFY``) picks instruments."""
    from tradekit.data.tickstore import TickStore

    if store:
        root = Path(store).expanduser()
    else:
        root = Path(cfg.tick_store.dir).expanduser()
        if not root.is_absolute():
            root = Path(cfg.data_dir) / root
    if not root.is_dir():
        raise DataError(f"{root}: no tick store here (record one with a live or paper-on-live session, "
                        f"or point --store at one)")
    ts = TickStore(root)
    keys = None
    if symbols:
        keys = []
        for item in [x.strip().upper() for x in symbols.split(",") if x.strip()]:
            keys.append(item if ":" in item else f"NSE:{item}")
    ticks = list(ts.iter_ticks(day, keys, fill_ts=True))
    if not ticks:
        have = ", ".join(str(d) for d in ts.days()[-5:]) or "none"
        what = f" for {', '.join(keys)}" if keys else ""
        raise DataError(f"no ticks recorded on {day}{what} in {root} (recorded days: {have})")
    return ticks, keys, root
