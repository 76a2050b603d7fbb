"""The market-data hub's quiet runs of recorded minutes (:meth:`MarketDataHub.on_quiet_bars`).

A replay's minutes in which nothing can happen but prices moving (no order resting, no signal
due, every listener quiet) go through here in one call instead of one :meth:`MarketDataHub.on_ticks`
per minute. The per-minute work that carries state goes on minute by minute in the same order
(clock, quality state, the risk manager's packet, price and book checks); what only the last tick
of an instrument decides (quotes, OMS prices, the mark to journal, listeners' last price) is
written once, at the end or just before a breaker's action is applied.

The per-minute measures are kept in floats: the minute's time as ``now.timestamp()`` would give
it, the positions' marks as the floats their Decimals stand for, the gate's book summary patched
as :meth:`BookSummary._marks` patches it. What only a later reader sees (the clock, the packet
time, the Decimal marks) is written once. A one-instrument run goes through one loop of local
variables (:meth:`_Run._single`); a breaker that would act there sends the run back to the
per-minute steps, which act on the same bar as the per-bar path.
"""

from __future__ import annotations

import logging
import math
from datetime import date
from decimal import Decimal

from tradekit.clock import ist_day_no, ns_to_dt
from tradekit.data.types import Tick
from tradekit.marketdata.quality import _EWMA, KeyState
from tradekit.risk.breakers import push_window

log = logging.getLogger("tradekit.marketdata.hub")


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _dec(x: float) -> Decimal:  # the hub's price conversion (hub._dec)
    return Decimal(float.__repr__(float(x)))


def quiet_bars(hub, source, ends_ns, bounds, keys, closes, volumes, day_volumes, sync, n) -> int:
    """See :meth:`MarketDataHub.on_quiet_bars` (the caller holds the session's lock).

    Minutes of positive finite closes go through :class:`_Run` (the same measures in floats: no
    datetime, timestamp or Decimal per minute); from the first other close on, and for the rest
    of a minute in which a breaker acts, the reference steps below take over (:meth:`_Run.minute`)."""
    run = _Run(hub, source, ends_ns, bounds, keys, closes, volumes, day_volumes, sync)
    inf = float("inf")
    m = n  # the minutes of positive finite closes
    every = closes[bounds[0]:bounds[n]]
    total = sum(every)  # NaN if one is (then min and max mean nothing)
    if not (total == total and min(every) > 0.0 and max(every) < inf):  # else: find the first other close
        for i in range(n):
            for j in range(bounds[i], bounds[i + 1]):
                c = closes[j]
                if not 0.0 < c < inf:
                    m = i
                    break
            if m < n:
                break
    taken = run.fast(m)
    if taken is None:  # no breaker acted: the reference steps go on from the first other close
        taken = n
        for i in range(m, n):
            lo, hi = bounds[i], bounds[i + 1]
            if any(not closes[j] or closes[j] <= 0 for j in range(lo, hi)):
                taken = i
                break
            run.set_clock(i)
            for j in range(lo, hi):
                run.states[keys[j]].accept_price(closes[j])
            if run.brk is not None:
                run.brk.on_packet(run.clock.now())
                if run.minute(i, lo, False, False):
                    taken = i + 1
                    break
    if taken > run.done:
        run.flush(taken - 1)
    return taken


class _Run:
    """One quiet run's state. The reference steps per minute ``i`` (what :meth:`MarketDataHub.on_ticks`
    does, packet by packet): the clock moves to the minute's end; the quality state takes each
    price; the risk manager sees the packet, each price (volatility breaker) and, when a held
    instrument's price came, the book with its positions marked (loss and drawdown breakers).

    :meth:`fast` takes minutes the same way with the per-minute work that nothing reads until the
    run ends left for the end: the clock, the packet time, and the marks on the positions and the
    gate's summary (their floats are patched minute by minute exactly as
    :meth:`BookSummary._marks` does; the Decimal prices are made once, for the last minute). If a
    breaker acts, that state is written out first (:meth:`_settle`) and the minute finishes by the
    reference steps."""

    def __init__(self, hub, source, ends_ns, bounds, keys, closes, volumes, day_volumes, sync) -> None:
        self.hub, self.source, self.sync = hub, source, sync
        self.ends, self.bounds, self.keys, self.closes = ends_ns, bounds, keys, closes
        self.volumes, self.day_volumes = volumes, day_volumes
        self.clock, self.risk, self.book = hub.clock, hub.risk, hub.book
        self.ns0 = self.clock.ns
        n = len(ends_ns)
        states = self.states = {}
        for k in set(keys[bounds[0]:bounds[n]]):
            st = hub.state.get(k)
            if st is None:
                st = hub.state[k] = KeyState()
            states[k] = st
        self.brk = self.risk.breakers if self.risk is not None else None
        held: dict[str, list] = {}
        if self.brk is not None and self.book is not None:
            held = {k: pos for k, pos in hub.held_positions().items() if k in states}
        self.held = held
        self.done = 0  # minutes whose last-price state is written
        self.last_j: dict[str, tuple[int, int]] = {}  # key -> (its last bar, that bar's minute) up to the minute flushed
        self.marks = None  # the summary's marks in floats (_Marks), from the first held minute on

    def eff(self, x: int) -> int:
        """The clock (ns) at minute ``x``: its end, or later if the clock already was."""
        e = self.ends[x]
        return e if e > self.ns0 else self.ns0

    def set_clock(self, i: int) -> None:
        e = self.ends[i]
        if e > self.clock.ns:
            self.clock.set_ns(e)

    def flush(self, i: int) -> None:
        """The last tick of each key up to minute ``i``: quotes, OMS prices, marks to journal, listeners."""
        hub, keys, bounds, closes, last_j, states, source = (self.hub, self.keys, self.bounds, self.closes, self.last_j,
                                                             self.states, self.source)
        if self.sync is not None:
            self.sync(i)
        now = self.clock.now()
        if len(states) == 1:  # one instrument: its last bar is the run's last
            last_j[keys[bounds[i + 1] - 1]] = (bounds[i + 1] - 1, i)
        else:
            for x in range(self.done, i + 1):
                for j in range(bounds[x], bounds[x + 1]):
                    last_j[keys[j]] = (j, x)
        ticks = []
        with hub._lock:
            k = bounds[i + 1] - bounds[self.done]
            counts = hub.counts
            counts["packets"] += i + 1 - self.done
            counts["ticks"] += k
            counts["accepted"] += k
            if hub.last_packet is None or now > hub.last_packet:
                hub.last_packet = now
            clock_ns = self.clock.ns
            for key, (j, x) in last_j.items():
                c = closes[j]
                e = self.eff(x)
                received = now if e == clock_ns else ns_to_dt(e)  # that minute's clock
                t = Tick(key, received if e == self.ends[x] else ns_to_dt(self.ends[x]), c, None, "quote",
                         last_quantity=self.volumes[j], volume=self.day_volumes[j])
                ticks.append(t)
                states[key].ts = t.ts
                if hub.prices is not None:
                    hub.prices[key] = _dec(c)
                hub.quotes[key] = (t, received, source)
                m = hub._marked.get(key)
                if m is None or m[0] != c:
                    hub._dirty[key] = c
                else:
                    hub._dirty.pop(key, None)
            hub._cond.notify_all()
        last_j.clear()
        self.done = i + 1
        for fn in hub.listeners:
            for t in ticks:
                try:
                    fn(t)
                except Exception:
                    log.exception("market-data listener failed")

    # -- the reference steps --------------------------------------------------------------------------
    def minute(self, i: int, j0: int, acted: bool, moved: bool) -> bool:
        """The breakers' part of minute ``i`` from its bar ``j0`` on (the clock, the quality state and
        the packet already done; ``acted``/``moved``: what its earlier bars did). True if a breaker acted."""
        brk, risk, book, keys, closes, held = self.brk, self.risk, self.book, self.keys, self.closes, self.held
        now = self.clock.now()
        for j in range(j0, self.bounds[i + 1]):
            key, c = keys[j], closes[j]
            acts = brk.on_price(key, c, now)
            if acts:
                if not acted:
                    self.flush(i)
                risk._apply(acts, now)
                acted = True
            pos = held.get(key)
            if pos:
                px = _dec(c)
                for p in pos:  # in memory; the journaled mark follows (throttled)
                    p.mark(px)
                moved = True
        if moved:
            acts = brk.on_book(book, now, marked=True)
            if acts:
                if not acted:
                    self.flush(i)
                risk._apply(acts, now)
                acted = True
        return acted

    # -- the fast steps -------------------------------------------------------------------------------
    def fast(self, m: int) -> int | None:
        """Minutes ``0 .. m-1`` (positive finite closes). Returns the minutes taken if a breaker
        acted (the run ends after that minute), else None with the state as after minute ``m-1``."""
        if not m:
            return None
        bounds, keys, closes, states = self.bounds, self.keys, self.closes, self.states
        if self.brk is None:
            for j in range(bounds[0], bounds[m]):
                states[keys[j]].accept_price(closes[j])
            self.set_clock(m - 1)
            return None
        a = 0
        if len(states) == 1 and bounds[m] - bounds[0] == m:
            key = keys[bounds[0]]  # one instrument, one bar a minute
            if key in self.held and self.marks is None:  # its first minute marks the summary the reference way
                r = self._general(0, 1)
                if r is not None:
                    return r
                a = 1
            if a < m and self._single(key, a, m):
                a = m
        if a < m:
            r = self._general(a, m)
            if r is not None:
                return r
        self._settle(m - 1, self.marks)
        return None

    def _general(self, a: int, b: int) -> int | None:
        """Minutes ``a .. b-1``, any instruments: see :meth:`fast`."""
        bounds, keys, closes, states, brk, held = self.bounds, self.keys, self.closes, self.states, self.brk, self.held
        on_price = brk.on_price_at
        qty = brk.gate.summary.qty
        ends, ns0 = self.ends, self.ns0
        day_no, day = None, None
        marks = self.marks
        for i in range(a, b):
            lo, hi = bounds[i], bounds[i + 1]
            for j in range(lo, hi):
                states[keys[j]].accept_price(closes[j])
            e = ends[i]
            if e < ns0:
                e = ns0
            us = e // 1000
            t = us / 1_000_000  # now.timestamp() of the minute's clock, exactly (int / int rounds once)
            moved = False
            for j in range(lo, hi):
                key, c = keys[j], closes[j]
                acts = on_price(key, c, t, qty.get(key, 0) != 0)
                if acts:
                    return self._act_in(i, j, moved, marks, acts)
                if key in held:
                    moved = True
                    if marks is not None:
                        marks.mark(key, c, i)
            if moved:
                if marks is None:  # the first held minute: marked and summarised the reference way
                    self._settle(i, None)
                    now = self.clock.now()
                    last = {}
                    for j in range(lo, hi):
                        pos = held.get(keys[j])
                        if pos:
                            px = _dec(closes[j])
                            last[keys[j]] = closes[j]
                            for p in pos:
                                p.mark(px)
                    acts = brk.on_book(self.book, now, marked=True)
                    if acts:
                        self.flush(i)
                        self.risk._apply(acts, now)
                        return i + 1
                    marks = self.marks = _Marks.of(brk.gate.summary, held)
                    if marks is not None:  # the summary holds these marks now, or equal Decimals: as floats, these closes
                        marks.sv.update(last)
                    qty = brk.gate.summary.qty  # a full rebuild made new dicts
                    continue
                marks.summarise(i)
                dn = ist_day_no(e)
                if dn != day_no or dn is None:
                    day_no, day = dn, ns_to_dt(e).date()
                acts = brk.check_pnl(self.book, day)
                if acts:
                    self._settle(i, marks)
                    now = self.clock.now()
                    self.flush(i)
                    self.risk._apply(acts, now)
                    return i + 1
        return None

    def _single(self, key: str, a: int, b: int) -> bool:
        """Minutes ``a .. b-1`` of one instrument, a bar each: :meth:`_general`'s steps in local
        floats, written back at the end. If a breaker would act on one of them (or the day's P&L
        would restart, or the capital follows the P&L), nothing is written (the window queues are
        put back) and False is returned: :meth:`_general` takes the minutes instead. A test that can
        neither act (its breaker disabled, or latched) nor clear a latch is not made (it would change
        nothing); the window's queues follow minute by minute only for a live move test, else they
        are brought to their end state once (:func:`_window_after`)."""
        brk = self.brk
        g = brk.gate
        s = g.summary
        v = brk._vol.get(key)
        if v is None:
            return False
        ends, ns0, closes, j0 = self.ends, self.ns0, self.closes, self.bounds[0]
        pos = self.held.get(key)
        marks = self.marks
        if pos:
            if marks is None or marks.sv.get(key) is None or getattr(g, "_equity_basis", True):
                return False
            day = g.day.day  # the run within the gate's P&L day (a new day restarts it)
            dn = ist_day_no(max(ends[a], ns0))
            if (type(day) is not date or dn is None or dn != day.toordinal() - _EPOCH_ORDINAL
                    or ist_day_no(max(ends[b - 1], ns0)) != dn):
                return False
        cfg = brk.cfg
        enabled = cfg.enabled
        latched = brk.latched
        vlatch = f"volatility_spike:{key}"
        vl = vlatch in latched
        dll, ddl = "daily_loss" in latched, "drawdown" in latched
        held_q = s.qty.get(key, 0) != 0
        window, sample, brk_s = cfg.volatility_move_window_seconds, cfg.volatility_sample_seconds, cfg.volatility_break_seconds
        min_ticks, vr, move_pct = cfg.volatility_min_ticks, cfg.volatility_ratio, cfg.volatility_move_pct
        af, as_ = brk._af, brk._as
        af1, as1 = 1 - af, 1 - as_
        lows, highs = v.lows, v.highs
        v_last, v_last_t, v_n, v_fast, v_slow = v.last, v.last_t, v.n, v.fast, v.slow
        st = self.states[key]
        s_last, s_n, s_var = st.last, st.n, st.var
        log, sqrt = math.log, math.sqrt
        if pos:
            idxs = marks.by_key[key]
            positions, rows = s.positions, s.rows
            k = rows[idxs[0]][0]
            if any(rows[x][0] != k for x in idxs):
                return False
            qs = [positions[x].quantity for x in idxs]
            ms = [rows[x][3] for x in idxs]
            ovs = [marks.ov[x] for x in idxs]
            mvs = [rows[x][1] for x in idxs]
            us_ = [rows[x][2] for x in idxs]
            r4s = [rows[x][4] for x in idxs]
            nx = range(len(idxs))
            sv = marks.sv[key]
            sm = marks.sm.get(key)
            value_k, qty_k = s.value[k], s.qty[k]
            unreal, gross, net = s.unreal, s.gross, s.net
            sec = marks.sector_of.get(k, False)
            if sec is False:
                sec = marks.sector_of[k] = s.sector_of(k)
            sec_v = s.sector.get(sec, 0.0) if sec else 0.0
            deltas = []
            took = 0
            fixed, base, peak, last = s.fixed, g.day.baseline, g.day.peak, g.day.last
            cap = g.capital_for(self.book)
            lim_l, lim_d = g.daily_loss_limit(cap), g.drawdown_limit(cap)
        ew, ew1 = _EWMA, 1 - _EWMA
        # Which tests can change anything in these minutes: a breaker enabled and not latched can act (the
        # run then stops before that minute), a latched one can clear; a test that can do neither is skipped
        # (it would leave every value as it found it). The window's low and high are read minute by minute
        # only by a live move test; otherwise its queues are brought to their state after the run at the end
        # (:func:`_window_after`) from the minutes that can still be in it.
        vol_live = held_q and (enabled or vl)
        win = vol_live and move_pct is not None
        if win:
            lows0, highs0 = list(lows), list(highs)
        if pos:
            loss_live = lim_l is not None and (enabled or dll)
            dd_live = lim_d is not None and (enabled or ddl)
            one = len(idxs) == 1  # one row: its values in locals, no inner loop
            if one:
                q0, m0, ov0 = qs[0], ms[0], ovs[0]
                mv0, u0, r40 = mvs[0], us_[0], r4s[0]
        for i in range(a, b):
            price = closes[j0 + i]
            prev = s_last
            if prev > 0:  # KeyState.accept_price
                rq = log(price / prev)
                s_var = rq * rq if s_n == 0 else ew * s_var + ew1 * rq * rq
                s_n += 1
            s_last = price
            e = ends[i]
            if e < ns0:
                e = ns0
            t = (e // 1000) / 1_000_000
            # CircuitBreakers.on_price_at
            dt = t - v_last_t
            if dt >= sample:
                r = rq if v_last == prev and prev > 0 else log(price / v_last)  # the same division, the same log
                v_last, v_last_t = price, t
                if dt <= brk_s:
                    r2 = r * r
                    if v_n == 0:
                        v_fast = v_slow = r2
                    else:
                        v_fast = af * v_fast + af1 * r2
                        v_slow = as_ * v_slow + as1 * r2
                    v_n += 1
            if win:
                low, high = push_window(lows, highs, t, price, t - window)
            if vol_live:
                ratio = sqrt(v_fast / v_slow) if v_slow > 0 else 0.0
                if v_n >= min_ticks and ratio > vr:
                    if enabled and not vl:
                        break  # it acts
                elif move_pct is not None and max(price / low - 1.0, 1.0 - price / high) * 100.0 >= move_pct:
                    if enabled and not vl:
                        break
                elif ratio <= vr:
                    vl = False
            if pos:  # the positions marked, the summary refreshed (BookSummary._marks), CircuitBreakers.check_pnl
                if price != sv:
                    if one:
                        mv = price * q0 * m0
                        u = (price * q0 - ov0) * m0 if q0 else 0.0
                        before = value_k
                        after = before + mv - mv0
                        value_k = after
                        qty_k += q0 - r40
                        unreal += u - u0
                        d_abs = abs(after) - abs(before)
                        gross += d_abs
                        dv = after - before
                        net += dv
                        if sec:
                            sec_v = sec_v + d_abs
                        deltas.append((k, dv))
                        mv0, u0, r40 = mv, u, q0
                    else:
                        for n_ in nx:
                            q, mlt = qs[n_], ms[n_]
                            mv = price * q * mlt
                            u = (price * q - ovs[n_]) * mlt if q else 0.0
                            before = value_k
                            after = before + mv - mvs[n_]
                            value_k = after
                            qty_k += q - r4s[n_]
                            unreal += u - us_[n_]
                            d_abs = abs(after) - abs(before)
                            gross += d_abs
                            net += after - before
                            if sec:
                                sec_v = sec_v + d_abs
                            deltas.append((k, after - before))
                            mvs[n_], us_[n_], r4s[n_] = mv, u, q
                    sv, sm = price, i
                    took += 1
                pnl = (fixed + unreal) - base
                last = pnl
                if pnl > peak:
                    peak = pnl
                if loss_live:
                    if -pnl >= lim_l:
                        if enabled and not dll:
                            break
                    else:
                        dll = False
                if dd_live:
                    if peak - last >= lim_d:
                        if enabled and not ddl:
                            break
                    else:
                        ddl = False
        else:  # no breaker acted: write it all back
            if not win:
                _window_after(lows, highs, ends, ns0, closes, j0, a, b, window)
            st.last, st.n, st.var = s_last, s_n, s_var
            v.last, v.last_t, v.n, v.fast, v.slow = v_last, v_last_t, v_n, v_fast, v_slow
            for name, on in ((vlatch, vl), ("daily_loss", dll), ("drawdown", ddl)):
                if not on:
                    latched.discard(name)
            if pos:
                if one:
                    mvs[0], us_[0], r4s[0] = mv0, u0, r40
                g.day.peak, g.day.last = peak, last
                marks.kc[key], marks.km[key] = closes[j0 + b - 1], b - 1
                if sm == b - 1:  # the last minute's mark was taken by the summary
                    marks.pend.discard(key)
                else:
                    marks.pend.add(key)
                if took:
                    marks.sv[key], marks.sm[key] = sv, sm
                    s.value[k], s.qty[k], s.price[k] = value_k, qty_k, sv
                    s.unreal, s.gross, s.net = unreal, gross, net
                    if sec:
                        s.sector[sec] = sec_v
                    s.deltas.extend(deltas)
                    for n_, x in enumerate(idxs):
                        row = rows[x]
                        row[1], row[2], row[4] = mvs[n_], us_[n_], r4s[n_]
                    s.version += took
            return True
        if win:  # a breaker acts in these minutes: put the window queues back
            lows.clear()
            lows.extend(lows0)
            highs.clear()
            highs.extend(highs0)
        return False

    def _settle(self, i: int, marks) -> None:
        """Write out what :meth:`fast` left for later, as the reference has it during minute ``i``."""
        self.set_clock(i)
        if marks is not None:
            marks.settle()
        self.brk.on_packet(self.clock.now())

    def _act_in(self, i: int, j: int, moved: bool, marks, acts: list) -> int:
        """A price of minute ``i`` (its bar ``j``) made the volatility breaker act: the state as the
        reference has it there, then the actions, then the rest of the minute the reference way."""
        self._settle(i, marks)
        now = self.clock.now()
        self.flush(i)
        self.risk._apply(acts, now)
        pos = self.held.get(self.keys[j])
        if pos:
            px = _dec(self.closes[j])
            for p in pos:
                p.mark(px)
            moved = True
        self.minute(i, j + 1, True, moved)
        return i + 1


def _window_after(lows, highs, ends, ns0: int, closes, j0: int, a: int, b: int, window: float) -> None:
    """The volatility window's queues after :func:`push_window` of minutes ``a .. b-1`` (one bar each,
    ``closes[j0 + i]`` at the minute's clock), pushing only what can remain: nothing older than the
    last push's cut stays (the queues are in time order and its own entry is newer). When a minute of
    the run is older than that cut, every earlier minute and everything queued before is older too
    (the clock never goes back: checked on the queues' newest entries), so the pushes start empty from
    the first minute at or after the cut; otherwise every minute is pushed onto the queues as they are."""
    e = ends[b - 1]
    t = ((e if e > ns0 else ns0) // 1000) / 1_000_000  # the minute's clock, as pushed
    cut = t - window
    tail = [t]  # the minutes at or after the cut, from the last back
    x = b - 1
    while x > a:
        e = ends[x - 1]
        t = ((e if e > ns0 else ns0) // 1000) / 1_000_000
        if t < cut:
            break
        tail.append(t)
        x -= 1
    if x > a:  # minute x - 1 is older than the cut
        if (lows and lows[-1][0] >= cut) or (highs and highs[-1][0] >= cut):  # (not in time order)
            for i in range(a, x):  # the reference's pushes
                e = ends[i]
                t = ((e if e > ns0 else ns0) // 1000) / 1_000_000
                push_window(lows, highs, t, closes[j0 + i], t - window)
        else:
            lows.clear()
            highs.clear()
    for t in reversed(tail):
        push_window(lows, highs, t, closes[j0 + x], t - window)
        x += 1


class _Marks:
    """The gate's book summary marked minute by minute in floats during a quiet run: exactly what
    :meth:`BookSummary.refresh` after marks does (:meth:`BookSummary._marks`, the same float
    operations in the same order, the same ``deltas`` and ``version``), without a Decimal per
    minute. A position marked at a close ``c`` holds ``Decimal(repr(c))``, whose float is ``c``
    again; the Decimals themselves are made by :meth:`settle`, the position's for its last mark and
    the summary's for the mark it last took (the same object when that is the same minute, as the
    reference has them). ``tests/unit/execution/test_replay_fast.py`` compares the summaries."""

    def __init__(self, s, held: dict[str, list], by_key: dict[str, list[int]]) -> None:
        self.s = s
        self.held = held
        self.by_key = by_key  # key -> its positions' rows in the summary, in order
        self.kc: dict[str, float] = {}  # key -> its positions' last mark in the run
        self.km: dict[str, int] = {}  # ... and its minute
        self.sv: dict[str, float] = {}  # key -> the mark its summary rows last took in the run
        self.sm: dict[str, int] = {}  # ... and its minute
        self.pend: set[str] = set()  # keys marked since the summary last took them
        positions = s.positions
        self.ov = {i: float(positions[i].open_value) for idxs in by_key.values() for i in idxs}
        self.sector_of = {}

    @classmethod
    def of(cls, s, held: dict[str, list]) -> "_Marks | None":
        """None unless every held position has its row in the summary (then each held minute keeps
        the reference steps)."""
        index = {id(p): i for i, p in enumerate(s.positions)}
        by_key = {}
        for key, pos in held.items():
            idxs = []
            for p in pos:
                x = index.get(id(p))
                if x is None:
                    return None
                idxs.append(x)
            idxs.sort()
            by_key[key] = idxs
        return cls(s, held, by_key)

    def mark(self, key: str, c: float, i: int) -> None:
        self.kc[key] = c
        self.km[key] = i
        self.pend.add(key)

    def summarise(self, i: int) -> None:
        """The summary's refresh at minute ``i``'s end (after its marks)."""
        pend, kc, sv, by_key, s = self.pend, self.kc, self.sv, self.by_key, self.s
        lps = s.lps
        for key in pend:  # any marked price unequal to the summary's: ``lps != self.lps``
            c, v = kc[key], sv.get(key)
            if v is None:
                d = _dec(c)
                if any(d != lps[x] for x in by_key[key]):
                    break
            elif c != v:
                break
        else:
            return
        if len(pend) == 1:
            for key in pend:
                idxs = [(x, key) for x in by_key[key]]
        else:
            idxs = sorted((x, key) for key in pend for x in by_key[key])
        positions, rows, value, qty, price, sector, deltas = s.positions, s.rows, s.value, s.qty, s.price, s.sector, s.deltas
        sectors, ovs = self.sector_of, self.ov
        for x, key in idxs:  # BookSummary._marks
            pos = positions[x]
            q = pos.quantity
            row = rows[x]
            k, m = row[0], row[3]
            ov = ovs[x]
            px = kc[key]
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            before = value[k]
            after = before + mv - row[1]
            value[k] = after
            qty[k] += q - row[4]
            s.unreal += u - row[2]
            price[k] = px
            d_abs = abs(after) - abs(before)
            s.gross += d_abs
            s.net += after - before
            sec = sectors.get(k, False)
            if sec is False:
                sec = sectors[k] = s.sector_of(k)
            if sec:
                sector[sec] = sector.get(sec, 0.0) + d_abs
            deltas.append((k, after - before))
            row[1], row[2], row[4] = mv, u, q
        for key in pend:
            sv[key] = kc[key]
            self.sm[key] = self.km[key]
        pend.clear()
        s.version += 1

    def settle(self) -> None:
        """The Decimal marks: each held position's last, and the summary's."""
        made: dict[tuple[str, int], Decimal] = {}
        lps = self.s.lps
        for key, idxs in self.by_key.items():
            x = self.km.get(key)
            if x is not None:
                d = made[(key, x)] = _dec(self.kc[key])
                for p in self.held[key]:
                    p.mark(d)
            x = self.sm.get(key)
            if x is not None:
                d = made.get((key, x))
                if d is None:
                    d = made[(key, x)] = _dec(self.sv[key])
                for i in idxs:
                    lps[i] = d
