"""The crash drill: kill -9 a live session on the Kite sandbox N times while signals flow, then count.

One process (this one) runs the sandbox (:class:`~tradekit.brokers.kite.sim.server.KiteSimServer`),
moves its market, logs in once (the token file is shared), writes signal files into the inbox,
and starts the session process (:mod:`tradekit.drill.session_proc`) again and again, killing it with
SIGKILL after a random time (so at random points: starting, reading a file, between the journal
and the broker, reconciling). Then a last session runs until everything settled, stops cleanly,
and :func:`tally` reads the journal and the sandbox:

==============  ===============================================================================
accepted        signals journaled as received (each key once)
orders_placed   orders the sandbox received
lost            signals written that the journal never received nor rejected, and that are not
                waiting in the inbox or parked
duplicated      tags placed more than once + signals with more than one order + keys received twice
stranded        orders still SUBMITTED/UNKNOWN (placement outcome never resolved)
mismatched      differences between the book rebuilt from the journal and the sandbox
==============  ===============================================================================

A sound build prints zeros for lost, duplicated, stranded and mismatched.
"""

from __future__ import annotations

import json
import os
import random
import signal as _signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from tradekit.clock import IST

SYMBOLS = ("INFY", "SBIN", "RELIANCE", "TCS")
PLACE = r"^POST /orders/regular$"


@dataclass
class DrillResult:
    kills: int = 0
    signals_written: int = 0
    accepted: int = 0
    rejected: int = 0
    parked: int = 0
    waiting_in_inbox: int = 0
    orders_created: int = 0
    orders_placed: int = 0
    lost: int = 0
    duplicated: int = 0
    stranded: int = 0
    mismatched: int = 0
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stranded or self.mismatched)

    def lines(self) -> list[str]:
        d = asdict(self)
        d.pop("details")
        return [f"{k:>16}: {v}" for k, v in d.items()]


def _login(sim, data_dir: Path, config) -> None:
    import requests

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config.secrets import Secrets

    r = requests.get(f"{sim.login_url}?api_key={sim.api_key}&v=3", allow_redirects=False, timeout=10)
    token = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)["request_token"][0]
    b = KiteBroker(config.kite, Secrets.load(None), data_dir=data_dir)
    b.complete_login(token)
    b.close()


def write_config(work: Path, sim, *, broker_processing: float, timeout: float) -> Path:
    """A live config on the sandbox: auto approval, inbox under ``work``, quick reconciliation."""
    import yaml

    cfg = {
        "mode": "live", "live": {"allowed": True}, "data_dir": str(work / "var"),
        "secrets_file": str(work / "no-secrets.env"),
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "kite": {"root": sim.url, "login_url": sim.login_url, "ticker_url": sim.ws_url, "timeout_seconds": timeout,
                 "reconcile_interval_seconds": 2,
                 "rate_limits": {"orders_per_second": 50, "orders_per_minute": 3000, "other_per_second": 100,
                                 "quote_per_second": 50, "margin_seconds": 0, "max_wait_seconds": 2}},
        "execution": {"broker_processing_seconds": broker_processing, "unknown_grace_seconds": 0,
                      "unknown_max_lookups": 2},
        "signals": {"poll_interval_seconds": 0.05, "settle_seconds": 0, "when_blocked": "park",
                    "default_ttl_seconds": 3600},
    }
    path = work / "drill.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Feeder(threading.Thread):
    """Writes signal files (write, then rename) into the inbox until stopped; remembers every key."""

    def __init__(self, inbox: Path, rate: float, rng: random.Random):
        super().__init__(name="drill-feeder", daemon=True)
        self.inbox, self.rate, self.rng = inbox, rate, rng
        self.keys: list[str] = []
        self.stop_evt = threading.Event()

    def run(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        n = 0
        while not self.stop_evt.wait(1.0 / self.rate):
            recs = []
            for _ in range(self.rng.randint(1, 3)):
                n += 1
                key = f"drill-{n:06d}"
                recs.append({"idempotency_key": key, "strategy": "drill", "signal_time": datetime.now(IST).isoformat(),
                             "symbol": self.rng.choice(SYMBOLS), "side": self.rng.choice(("BUY", "SELL")),
                             "quantity": self.rng.randint(1, 5), "order_type": "MARKET", "product": "MIS"})
            tmp = self.inbox / f".f{n:06d}.tmp"
            tmp.write_text(json.dumps(recs))
            os.replace(tmp, self.inbox / f"f{n:06d}.json")
            self.keys.extend(r["idempotency_key"] for r in recs)


def _start(config: Path, log) -> subprocess.Popen:
    env = {**os.environ, "KITE_API_KEY": "simkey", "KITE_API_SECRET": "simsecret"}
    return subprocess.Popen([sys.executable, "-m", "tradekit.drill.session_proc", str(config)], stdout=subprocess.PIPE,
                            stderr=log, text=True, env=env)


def _quiet(work: Path, journal_url: str) -> bool:
    """Nothing left to do: inbox empty, no order of unknown outcome, no parked signal."""
    inbox = work / "var" / "signals"
    if any(p.suffix == ".json" for p in inbox.iterdir()) or any((inbox / "processing").iterdir()):
        return False
    j, book = _journal_book(journal_url)
    try:
        parked = _parked(j)
        return not parked and not any(o.status.value in ("SUBMITTED", "UNKNOWN") for o in book.orders.values())
    finally:
        j.engine.dispose()


def _journal_book(url: str):
    from tradekit.store import Book, Journal, make_engine

    j = Journal(make_engine(url))
    return j, Book.rebuild(j.events())


def _parked(j) -> set[str]:
    from tradekit.store.events import EventType as E

    out: set[str] = set()
    for ev in j.events(types=(E.SIGNAL_PARKED, E.SIGNAL_UNPARKED)):
        (out.add if ev.type == E.SIGNAL_PARKED else out.discard)(ev.payload["signal_id"])
    return out


def _reconcile(book, kite_config, data_dir: Path):
    """The book against the sandbox, from outside the session (no sync: what the journal holds)."""
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.reconcile import Reconciler
    from tradekit.config.secrets import Secrets

    broker = KiteBroker(kite_config.model_copy(update={"timeout_seconds": 30.0}), Secrets.load(None), data_dir=data_dir)
    try:
        for _ in range(3):  # a busy machine can time a fetch out: that is not a mismatch
            rep = Reconciler(broker, book).run_once()
            if not any(d.kind == "unavailable" for d in rep.differences):
                break
            time.sleep(1)
    finally:
        broker.close()
    return rep


def tally(sim, journal_url: str, keys: list[str], inbox: Path, kite_config) -> DrillResult:
    """Count what became of every signal written and every order (see the module docstring)."""
    from tradekit.store.events import EventType as E

    res = DrillResult(signals_written=len(keys))
    j, book = _journal_book(journal_url)
    try:
        received = Counter(e.payload["signal_id"] for e in j.events(types=(E.SIGNAL_RECEIVED,)))
        rejected = {e.payload.get("signal_id") for e in j.events(types=(E.SIGNAL_REJECTED,))}
        parked = _parked(j)
        created = Counter(e.payload.get("signal_id") for e in j.events(types=(E.ORDER_CREATED,)) if e.payload.get("signal_id"))
    finally:
        j.engine.dispose()
    waiting = set()
    for p in list(inbox.glob("*.json")) + list((inbox / "processing").glob("*.json")):
        try:
            waiting.update(r["idempotency_key"] for r in json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    placed = Counter(t for _, t in sim.app.placements)
    res.accepted = len(received)
    res.rejected = len(rejected - set(received))
    res.parked = len(parked)
    res.waiting_in_inbox = len(waiting - set(received))
    res.orders_created = sum(1 for o in book.orders.values())
    res.orders_placed = len(sim.app.placements)
    lost = [k for k in keys if k not in received and k not in rejected and k not in waiting]
    res.lost = len(lost)
    dup_tags = [t for t, n in placed.items() if n > 1]
    dup_orders = [k for k, n in created.items() if n > 1]
    dup_keys = [k for k, n in received.items() if n > 1]
    res.duplicated = len(dup_tags) + len(dup_orders) + len(dup_keys)
    stranded = [o.client_order_id for o in book.orders.values() if o.status.value in ("SUBMITTED", "UNKNOWN")]
    res.stranded = len(stranded)
    rep = _reconcile(book, kite_config, inbox.parent)
    res.mismatched = len(rep.differences)
    res.details = {"lost": lost[:20], "duplicated_tags": dup_tags[:20], "duplicated_orders": dup_orders[:20],
                   "duplicated_keys": dup_keys[:20], "stranded": stranded[:20],
                   "mismatches": [d.message for d in rep.differences[:20]]}
    return res


def run_crash_drill(work: str | Path, *, kills: int = 10, seed: int = 13, rate: float = 10.0, min_up: float = 0.5,
                    max_up: float = 4.0, step_seconds: float = 0.5, faults: bool = True, settle_timeout: float = 120.0,
                    broker_processing: float = 3.0, timeout: float = 3.0, echo=print) -> DrillResult:
    """Run the drill in ``work`` (a fresh folder) and return the tally. See the module docstring."""
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.config import load_config

    os.environ.setdefault("KITE_API_KEY", "simkey")
    os.environ.setdefault("KITE_API_SECRET", "simsecret")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    from tradekit.brokers.kite.ratelimit import Window

    roomy = {"orders": (Window(200, 1.0),), "quote": (Window(200, 1.0),), "historical": (Window(200, 1.0),),
             "other": (Window(500, 1.0),)}  # the drill is about crashes, not Kite's rate limits
    sim = KiteSimServer(port=0, symbols=list(SYMBOLS), heartbeat_seconds=0.5, limits=roomy).start()
    stepping = threading.Event()

    def mover():
        while not stepping.wait(step_seconds):
            if not sim.market.finished:
                sim.step(1)

    threading.Thread(target=mover, name="drill-market", daemon=True).start()
    log = open(work / "sessions.log", "a")
    feeder = None
    try:
        sim.step(1)
        config = write_config(work, sim, broker_processing=broker_processing, timeout=timeout)
        cfg = load_config(config)
        _login(sim, cfg.data_dir, cfg)
        feeder = Feeder(cfg.signals.inbox_path(cfg.data_dir), rate, rng)
        feeder.start()
        kinds = [("slow", dict(delay=timeout * 2, when="before")), ("slow", dict(delay=timeout * 1.5, when="after")),
                 ("drop", dict(when="after")), ("status", dict(status=500, when="before")),
                 ("status", dict(status=502, when="after", body="success"))]
        done = 0
        for i in range(kills):
            if faults and rng.random() < 0.5:
                kind, kw = rng.choice(kinds)
                sim.faults.add(kind, PLACE, 1, **kw)
            p = _start(config, log)
            time.sleep(rng.uniform(min_up, max_up))
            os.kill(p.pid, _signal.SIGKILL)
            p.wait(30)
            done += 1
            if echo:
                echo(f"kill {done}/{kills}: session ran {p.returncode}, {len(feeder.keys)} signals written so far")
        feeder.stop_evt.set()
        feeder.join(5)
        sim.faults.clear()
        p = _start(config, log)  # the last session: let it settle everything
        t_settle = time.monotonic()
        end = t_settle + settle_timeout
        time.sleep(2)
        while time.monotonic() < end and not _quiet(work, cfg.store_url()):
            time.sleep(0.5)
        stepping.set()  # the market stops; what is open at market fills now, and the session books it
        sim.step(2)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            time.sleep(1 + cfg.kite.reconcile_interval_seconds)
            j, book = _journal_book(cfg.store_url())
            j.engine.dispose()
            if _reconcile(book, cfg.kite, cfg.data_dir).ok:
                break
        p.send_signal(_signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        res = tally(sim, cfg.store_url(), feeder.keys, cfg.signals.inbox_path(cfg.data_dir), cfg.kite)
        res.kills = done
        res.details["settle_seconds"] = round(time.monotonic() - t_settle, 1)
        return res
    finally:
        stepping.set()
        if feeder is not None:
            feeder.stop_evt.set()
        log.close()
        sim.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(prog="crash_drill", description="kill -9 a live session on the Kite sandbox N times "
                                 "while signals flow, then count lost / duplicated / stranded / mismatched")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--rate", type=float, default=10.0, help="signal files per second")
    ap.add_argument("--max-up", type=float, default=4.0, help="longest a session runs before its kill (s)")
    ap.add_argument("--no-faults", action="store_true", help="no injected broker faults")
    ap.add_argument("--work", default=None, help="folder for the journal, inbox and logs (default: a temp folder)")
    ap.add_argument("--json", action="store_true", help="print the tally as JSON")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if a.kills < 0 or a.rate <= 0 or a.max_up <= 0.5:
        print("crash_drill: --kills ≥ 0, --rate > 0 and --max-up > 0.5 are needed", file=sys.stderr)
        return 2
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="tradekit-drill-"))
    res = run_crash_drill(work, kills=a.kills, seed=a.seed, rate=a.rate, max_up=a.max_up, faults=not a.no_faults,
                          echo=None if a.json else print)
    if a.json:
        print(json.dumps({**asdict(res), "ok": res.ok}, indent=2))
    else:
        print("\n".join(res.lines()))
        if not res.ok:
            print(json.dumps(res.details, indent=2))
        print(f"work folder: {work}")
    return 0 if res.ok else 1


__all__ = ["DrillResult", "Feeder", "main", "run_crash_drill", "tally", "write_config"]
