"""The drill: kill -9 a live session on the Kite sandbox hundreds of times, storm it with faults,
then count what the journal and the broker disagree about.

Everything runs on 127.0.0.1: the sandbox (``tradekit kite-sim``'s server) is served from this
process so its fault plan can be armed between kills; the trading processes are forked by a
zygote (:func:`tradekit.drill.worker.zygote`) and talk to it with the official ``kiteconnect``
client. The figures at the end come from the journal (rebuilt into a Book) and from the
broker through the official client:

- **signals accepted**: signals the drill dropped that the journal received;
- **orders placed**: distinct orders at the broker carrying one of the journal's order ids;
- **lost**: signals dropped with no verdict in the journal (neither received nor rejected),
  or received with neither an order nor a recorded refusal;
- **duplicated**: an order id placed at the broker more than once, or a signal that made more
  than one order;
- **stranded**: orders the journal still has in flight (created, submitted, unknown) after
  the final clean run, and broker orders carrying an id the journal never created;
- **mismatched**: orders whose filled quantity or finality differ between journal and broker,
  and symbols whose net position differs.

All but the first two must be 0 when the product is right.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

ORDER_PLACE = r"^POST /orders/[a-z]+$"
IN_FLIGHT = ("CREATED", "APPROVED", "SUBMITTED", "UNKNOWN")
_KITE_FINAL = {"COMPLETE", "CANCELLED", "REJECTED"}


@dataclass
class Figures:
    kills: int = 0
    restarts: int = 0
    signals_sent: int = 0
    accepted: int = 0
    orders_placed: int = 0
    lost: int = 0
    duplicated: int = 0
    stranded: int = 0
    mismatched: int = 0
    refused: int = 0
    faults_fired: int = 0
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.stranded == self.mismatched == 0

    def table(self) -> str:
        rows = [("kills (kill -9)", self.kills), ("restarts", self.restarts), ("signals sent", self.signals_sent),
                ("signals accepted", self.accepted), ("orders placed", self.orders_placed), ("lost", self.lost),
                ("duplicated", self.duplicated), ("stranded", self.stranded), ("mismatched", self.mismatched),
                ("(refused with a reason)", self.refused), ("(faults fired)", self.faults_fired),
                ("(seconds)", round(self.seconds, 1))]
        return "\n".join(f"  {k:<26}{v:>8}" for k, v in rows)


def _parked(events) -> set[str]:
    """Signals parked (received while new orders were blocked) and not yet taken or expired."""
    out: set[str] = set()
    for e in events:
        if e.type == "signal.parked":
            out.add(e.payload.get("signal_id"))
        elif e.type == "signal.unparked":
            out.discard(e.payload.get("signal_id"))
    return out


class Drill:
    """One drill run. ``kills`` kill -9s; ``long_hold`` is the 30 s held request (shorter in tests)."""

    def __init__(self, kills: int = 200, *, seed: int | None = None, long_hold: float = 30.0, short_hold: float = 3.0,
                 workdir: str | Path | None = None, echo: Callable[[str], None] = print, settle_timeout: float = 150.0):
        if kills < 10:
            raise ValueError("kills must be at least 10 (the fault storm needs room)")
        self.kills = kills
        self.rng = random.Random(seed)
        self.long_hold = long_hold
        self.short_hold = short_hold
        self.echo = echo
        self.settle_timeout = settle_timeout
        base = Path(workdir) if workdir else Path(os.environ.get("TMPDIR", "/tmp"))
        self.dir = base / f"tradekit-drill-{uuid.uuid4().hex[:8]}"
        self.inbox = self.dir / "inbox"
        self.inbox.mkdir(parents=True)
        self.sent: list[str] = []
        self.fig = Figures()
        self._n = 0
        self._unapplied: list = []
        self._stop_stepping = threading.Event()
        # The 30 s hold blocks new orders until its outcome is known (the placement window): late
        # in the run, so the storm before it meets a session that places orders.
        self._long_at = (7 * kills) // 8

    # -- the sandbox and the processes ------------------------------------------------------------
    def _start_sim(self):
        from tradekit.brokers.kite.ratelimit import Window
        from tradekit.brokers.kite.sim.server import KiteSimServer
        from tradekit.drill.worker import SYMBOLS

        fast = {"orders": (Window(200, 1.0),), "quote": (Window(200, 1.0),), "historical": (Window(200, 1.0),),
                "other": (Window(500, 1.0),)}
        self.sim = KiteSimServer("127.0.0.1", 0, symbols=list(SYMBOLS), limits=fast, heartbeat_seconds=0.5,
                                 speed=0).start()
        self.sim.step(1)

    def _stepper(self) -> None:
        # one replayed minute per tick, slow enough that the day (375 minutes) outlasts the drill
        # (about 3 s per kill); never past 15:00, after which the sandbox would refuse new orders
        every = max(1.0, self.kills * 3.5 / 330)
        while not self._stop_stepping.wait(every):
            if not self.sim.market.finished and self.sim.market.now.strftime("%H:%M") < "15:00":
                try:
                    self.sim.step(1)
                except Exception:  # pragma: no cover - the replay ended between check and step
                    pass

    def _py(self, *args: str, **kw) -> subprocess.Popen:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        return subprocess.Popen([sys.executable, "-m", "tradekit.drill.worker", *args, "--dir", str(self.dir),
                                 "--root", self.sim.url], env=env, **kw)

    def _login_elsewhere(self) -> None:
        """A re-login from another process (what ``tradekit kite login`` does): a new token file."""
        p = self._py("login", stderr=open(self.dir / "login.log", "a"))
        p.wait(120)

    def _start_zygote(self) -> None:
        self.zygote = self._py("zygote", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=open(self.dir / "workers.log", "a"), text=True)
        line = self.zygote.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the worker zygote did not start ({line!r}); see {self.dir / 'workers.log'}")

    def _spawn(self, fsize: int | None = None) -> int:
        self.zygote.stdin.write(f"run {fsize}\n" if fsize else "run\n")
        self.zygote.stdin.flush()
        pid = int(self.zygote.stdout.readline())
        self.fig.restarts += 1
        return pid

    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
            self.fig.kills += 1
        except ProcessLookupError:  # it had already exited (e.g. refused to start)
            return
        self._wait_dead(pid)

    @staticmethod
    def _wait_dead(pid: int, timeout: float = 10.0) -> None:
        """Wait until a killed worker is really gone (or a zombie its zygote has yet to reap): SIGKILL
        is delivered asynchronously, and a process inside an fsync dies only when the write returns,
        holding its journal lease's OS lock until then."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        return
            except (FileNotFoundError, ProcessLookupError, IndexError):
                return
            except OSError:  # no /proc (not Linux): nothing to wait on
                return
            time.sleep(0.01)

    def _ready(self, pid: int, timeout: float = 15.0) -> bool:
        """Wait until the worker has started its session (or died, or ``timeout`` passed)."""
        end = time.monotonic() + timeout
        flag = self.dir / f"ready.{pid}"
        while time.monotonic() < end:
            if flag.exists():
                return True
            if not self._alive(pid):
                return False
            time.sleep(0.02)
        return False

    def _pause(self, pid: int) -> None:
        """A random point to kill at: a quarter of the time during start-up (recovery), else while it works."""
        if self.rng.random() < 0.25:
            time.sleep(self.rng.uniform(0.0, 2.0))
        else:
            self._ready(pid)
            time.sleep(self.rng.uniform(0.05, 2.0))

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie (exited, its zygote has not reaped it yet) is not alive
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rpartition(")")[2].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    # -- signals -----------------------------------------------------------------------------------
    def _drop(self, n_signals: int, junk: bool = False) -> None:
        from tradekit.drill.worker import SYMBOLS

        recs: list = []
        for _ in range(n_signals):
            self._n += 1
            sid = f"drill-{self._n:05d}"
            sym = self.rng.choice(SYMBOLS)
            last = self.sim.app._last(f"NSE:{sym}")[0] or 100.0
            price = round(round(last * 1.02, 1), 2)  # a marketable buy, on the 0.10 tick
            recs.append({"idempotency_key": sid, "strategy": "drill", "symbol": sym, "side": "BUY", "quantity": 1,
                         "product": "CNC", "order_type": "LIMIT", "price": price, "reference_price": round(last, 2),
                         "signal_time": datetime.now(timezone.utc).isoformat(), "ttl_seconds": 86400})
            self.sent.append(sid)
        if junk:
            recs.insert(self.rng.randint(0, len(recs)), {"idempotency_key": "junk", "quantity": 2**70})
        name = f"s{self._n:05d}-{uuid.uuid4().hex[:4]}.json"
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_text(json.dumps(recs))
        os.replace(tmp, self.inbox / name)

    # -- one cycle ---------------------------------------------------------------------------------
    def _cycle(self, i: int) -> None:
        k = self.kills
        f = self.sim.faults
        special = {self._long_at: "hold_long", k // 4: "token", k // 2: "two_sessions", (2 * k) // 3: "full_disk",
                   (3 * k) // 4: "locked_journal"}.get(i)
        r = i % 8
        if r == 1:
            f.add("slow", ORDER_PLACE, 1, delay=self.short_hold, when="before")
        elif r == 2:
            f.add("drop", ORDER_PLACE, 1, when="after")
        elif r == 3:
            f.add("status", ORDER_PLACE, 1, status=429, error_type="NetworkException", message="Too many requests")
        elif r == 4:
            f.add("status", ORDER_PLACE, 1, status=502, when="after", body="success")
        elif r == 5:
            f.add("status", ORDER_PLACE, 1, status=500, when="before")
        elif r == 6:
            f.add("drop", ORDER_PLACE, 1, when="before")
        elif r == 7:  # the order book and the positions the reconciler reads fail too
            f.add("status", r"^GET /(orders|portfolio/positions)$", 1, status=503, error_type="NetworkException")
            f.add("drop", r"^GET /orders$", 1, when="before")
        if special == "hold_long":
            f.add("slow", ORDER_PLACE, 1, delay=self.long_hold, when="before")
        for _ in range(self.rng.randint(0, 2)):
            self._drop(self.rng.randint(1, 3), junk=self.rng.random() < 0.15)

        if special == "two_sessions":
            pids = [self._spawn(), self._spawn()]
            self._ready(pids[0])
            self._ready(pids[1], 3.0)
            self._drop(3)
            time.sleep(self.rng.uniform(1.0, 2.5))
        elif special == "full_disk":
            db = self.dir / "var" / "live.db"
            size = db.stat().st_size if db.exists() else 0
            pids = [self._spawn(fsize=size + 16384)]
            self._ready(pids[0], 5.0)
            self._drop(3)
            time.sleep(2.0)
        elif special == "locked_journal":
            pids = [self._spawn()]
            self._ready(pids[0])
            con = sqlite3.connect(self.dir / "var" / "live.db", timeout=10, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            self._drop(3)
            time.sleep(3.0)
            con.execute("ROLLBACK")
            con.close()
            time.sleep(self.rng.uniform(0.0, 1.0))
        elif special == "token":
            pids = [self._spawn()]
            self._ready(pids[0])
            self.sim.expire_tokens()
            self._drop(2)
            time.sleep(0.5)
            self._login_elsewhere()
            self._drop(2)
            time.sleep(1.5)
        else:
            pids = [self._spawn()]
            self._pause(pids[0])
        for pid in pids:
            self._kill(pid)

    # -- settle and count --------------------------------------------------------------------------
    def _journal(self):
        from tradekit.store import Journal, make_engine, sqlite_url

        return Journal(make_engine(sqlite_url(self.dir / "var" / "live.db")))

    def _book(self):
        from tradekit.store import Book

        j = self._journal()
        try:
            events = list(j.events())
        finally:
            j.close()
            j.engine.dispose()
        book = Book()
        self._unapplied = []
        for ev in events:  # like Book.rebuild, but an event that cannot be applied is counted, not fatal
            try:
                book.apply(ev)
            except Exception as e:
                self._unapplied.append((ev.seq, ev.type, str(e)[:200]))
        return book, events

    def _inbox_left(self) -> list[str]:
        from tradekit.signals.inbox import Inbox

        left = [p.name for p in self.inbox.iterdir() if Inbox._is_signal_file(p)]
        left += [f"processing/{p.name}" for p in (self.inbox / "processing").iterdir() if Inbox._is_signal_file(p)] \
            if (self.inbox / "processing").exists() else []
        return left

    def _settle(self, armed_at: float) -> None:
        self.sim.faults.clear()
        wait = self.long_hold - (time.monotonic() - armed_at) + 1.0
        if wait > 0:  # the 30 s held request lands at the sandbox now, whoever sent it
            self.echo(f"  waiting {wait:.0f} s for the held request to land ...")
            time.sleep(wait)
        pid = self._spawn()
        end = time.monotonic() + self.settle_timeout
        stable_since = None
        last = None
        while time.monotonic() < end:
            time.sleep(1.0)
            if not self._alive(pid):  # it could not start (e.g. the lease of a worker still dying): as a
                pid = self._spawn()  # supervisor would, start the clean run again
                stable_since = last = None
                continue
            try:
                book, events = self._book()
            except Exception:
                continue
            in_flight = sum(1 for o in book.orders.values() if o.status.value in IN_FLIGHT)
            parked = len(_parked(events))
            state = (len(book.orders), in_flight, len(self.sim.app.placements), tuple(self._inbox_left()), parked)
            if in_flight == 0 and not state[3] and not parked and state == last:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= 3.0:
                    break
            else:
                stable_since = None
            last = state
        (self.dir / "stop").write_text("")
        for _ in range(100):
            if not self._alive(pid):
                break
            time.sleep(0.1)
        else:
            self._kill(pid)
            self.fig.kills -= 1  # not part of the drill's count

    def _count(self) -> None:
        from kiteconnect import KiteConnect

        from tradekit.store import EventType as E

        book, events = self._book()
        fig = self.fig
        sent = set(self.sent)
        received = {e.payload.get("signal_id") for e in events if e.type == E.SIGNAL_RECEIVED}
        rejected: dict[str, str] = {}
        for e in events:
            if e.type == E.SIGNAL_REJECTED and e.payload.get("signal_id"):
                rejected.setdefault(e.payload["signal_id"], str(e.payload.get("reason")))
        orders_of: dict[str, list] = {}
        for o in book.orders.values():
            if o.signal_id:
                orders_of.setdefault(o.signal_id, []).append(o)
        fig.signals_sent = len(sent)
        fig.accepted = len(received & sent)
        lost = sorted(s for s in sent if s not in received and s not in rejected)
        still_parked = _parked(events)
        lost += sorted(s for s in sent & received if s not in orders_of and rejected.get(s) != "refused")
        fig.refused = sum(1 for s in sent if rejected.get(s) == "refused")
        fig.lost = len(lost)

        kite = KiteConnect("simkey", root=self.sim.url)
        kite.set_access_token(self.sim.login())
        rows = kite.orders()
        cids = set(book.orders)
        placed = Counter(t for _, t in self.sim.app.placements if t)
        fig.orders_placed = len({oid for oid, t in self.sim.app.placements if t in cids})
        dup_tags = {t: n for t, n in placed.items() if n > 1}
        dup_signals = {s: [o.client_order_id for o in os_] for s, os_ in orders_of.items() if len(os_) > 1}
        # events the journal holds twice (e.g. one trade booked by two sessions) make it unrebuildable
        dup_events = [u for u in self._unapplied if "already" in u[2]]
        bad_events = [u for u in self._unapplied if "already" not in u[2]]
        fig.duplicated = (sum(n - 1 for n in dup_tags.values()) + sum(len(v) - 1 for v in dup_signals.values())
                          + len(dup_events))

        stuck = sorted(o.client_order_id for o in book.orders.values() if o.status.value in IN_FLIGHT)
        orphans = sorted(t for t in placed if t not in cids)
        fig.stranded = len(stuck) + len(orphans)

        by_tag = {r.get("tag"): r for r in rows if r.get("tag")}
        mism = []
        for o in book.orders.values():
            r = by_tag.get(o.client_order_id)
            if r is None:
                continue
            if int(r.get("filled_quantity") or 0) != o.filled_quantity or (r["status"] in _KITE_FINAL) != o.status.is_terminal:
                mism.append((o.client_order_id, str(o.status), o.filled_quantity, r["status"], r.get("filled_quantity")))
        ours: Counter = Counter()
        for p in book.positions.values():
            ours[p.tradingsymbol] += p.quantity
        theirs: Counter = Counter()
        for p in kite.positions()["net"]:
            theirs[p["tradingsymbol"]] += int(p["quantity"])
        pos_mism = {s: (ours[s], theirs[s]) for s in set(ours) | set(theirs) if ours[s] != theirs[s]}
        fig.mismatched = len(mism) + len(pos_mism) + len(bad_events)
        fig.faults_fired = len(self.sim.faults.log)
        fig.details = {"lost": lost[:50], "duplicated_tags": dict(list(dup_tags.items())[:50]),
                       "duplicated_signals": dict(list(dup_signals.items())[:50]), "stuck_orders": stuck[:50],
                       "orphan_broker_orders": orphans[:50], "mismatched_orders": mism[:50],
                       "mismatched_positions": pos_mism, "inbox_left": self._inbox_left()[:50],
                       "journal_events_applied_twice": dup_events[:20], "journal_events_unappliable": bad_events[:20],
                       "workers_that_started": len(list(self.dir.glob("ready.*"))),
                       "still_parked_at_the_end (in lost)": sorted(still_parked & sent)[:50],
                       "parked_at_some_point": len({e.payload.get("signal_id") for e in events
                                                    if e.type == "signal.parked"}),
                       "workdir": str(self.dir)}

    # -- the whole drill ---------------------------------------------------------------------------
    def run(self) -> Figures:
        import logging

        t0 = time.monotonic()
        # The sandbox logs its requests (with its own tokens): to a file in the work folder, not the screen.
        handler = logging.FileHandler(self.dir / "sandbox.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("tradekit", "tornado"):
            lg = logging.getLogger(name)
            lg.addHandler(handler)
            lg.propagate = False
        self._start_sim()
        stepper = threading.Thread(target=self._stepper, name="drill-stepper", daemon=True)
        try:
            self.echo(f"drill: sandbox {self.sim.url}, work folder {self.dir}, {self.kills} kills")
            self._login_elsewhere()
            self._start_zygote()
            stepper.start()
            armed_long = time.monotonic()
            i = 0
            # a cycle whose worker had already exited (e.g. a second session refused by the lease) kills
            # nothing: cycle until the asked number of kill -9s really happened (bounded)
            while self.fig.kills < self.kills and i < 3 * self.kills:
                if i == self._long_at:
                    armed_long = time.monotonic()
                self._cycle(i)
                if i == 9 and not any(self.dir.glob("ready.*")):
                    raise RuntimeError(f"no trading process started in 10 tries; see {self.dir / 'workers.log'}")
                if (i + 1) % 25 == 0:
                    self.echo(f"  {i + 1} cycles, {self.fig.kills} kills, {len(self.sent)} signals sent, "
                              f"{len(self.sim.app.placements)} placements, {len(self.sim.faults.log)} faults fired")
                i += 1
            self._settle(armed_long)
            self._stop_stepping.set()
            self._count()
        finally:
            self._stop_stepping.set()
            z = getattr(self, "zygote", None)
            if z is not None:
                z.stdin.close()
                z.wait(10)
            self.sim.stop()
        self.fig.seconds = time.monotonic() - t0
        return self.fig


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="make drill", description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=200, help="kill -9s (default 200; CI runs 30)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--long-hold", type=float, default=30.0, help="seconds the long held request waits (default 30)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    a = p.parse_args(argv)
    if a.kills < 10:
        p.error("--kills must be at least 10")
    fig = Drill(a.kills, seed=a.seed, long_hold=a.long_hold).run()
    print("drill figures:")
    print(fig.table())
    for k, v in fig.details.items():
        if v and k != "workdir":
            print(f"  {k}: {v}")
    print(f"  work folder: {fig.details.get('workdir')}")
    if a.json:
        print(json.dumps(asdict(fig), default=str))
    print("PASS: nothing lost, duplicated, stranded or mismatched" if fig.ok else
          "FAIL: lost, duplicated, stranded or mismatched are not all 0")
    return 0 if fig.ok else 1


if __name__ == "__main__":
    sys.exit(main())
