"""The checks an entry order runs after the state, instrument, product and compliance checks of
:meth:`PreTradeGate.check <tradekit.risk.gate.PreTradeGate.check>`: compliance lists, money
(funds, order value and quantity, fat finger), exposure, loss (with the worst case of
:mod:`tradekit.risk.worstcase`) and portfolio VaR; plus the rules other modules register.

Registering a rule (e.g. a Greek limit) takes a few lines in the rule's own module::

    from tradekit.risk.gate_checks import register_entry_rule

    @register_entry_rule
    def greek_limits(gate, order, ctx, facts):   # facts: EntryFacts
        ...
        return CheckResult("GREEKS", ok, message, value, limit)   # or None: not applicable

A registered rule runs for every order the gate checks as an entry (not for orders that only
reduce a position) that has a price; an exception in it denies the order (the OMS turns it
into ``GATE_ERROR``). ``register_entry_rule(rule, derivatives_only=True)`` runs it only for
orders in a derivative: any other order does not pay for it. ``unregister_entry_rule`` removes
one (tests).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from tradekit.model.enums import OrderType
from tradekit.model.money import fmt_inr
from tradekit.risk import worstcase as _worst
from tradekit.risk.base import CheckResult


_INF = float("inf")
_EPS = 1e-9  # percent comparisons: 25.000000000000004 % is 25 %
_REL = 1 + 1e-12  # rupee comparisons, relative
_R = tuple.__new__  # builds a CheckResult without NamedTuple's argument handling (hot path)
_CR = CheckResult
_NO_ACCOUNT = CheckResult("FUNDS", True, "no account: funds not checked")
_MARKET = OrderType.MARKET

_OK = {code: CheckResult(code, True) for code in (
    "STATE", "TICK", "LOT", "BAND", "FREEZE", "MARKET_PROTECTION", "CNC_HOLDINGS", "MIS_CUTOFF", "FUNDS",
    "FAT_FINGER", "RESTRICTED", "FNO_BAN", "RATE", "VAR",
)}
_OK_RESTRICTED, _OK_FAT_FINGER = _OK["RESTRICTED"], _OK["FAT_FINGER"]


_PAISA = Decimal("0.01")
_UNSET = object()


def rs(x: float | Decimal) -> str:
    """Rupees with Indian grouping: 1234567.8 -> '₹12,34,567.80' (no sign on a zero).

    The text of :func:`~tradekit.model.money.fmt_inr` (a float through its shortest repr,
    rounded half-up to the paisa) with a fast path for floats: a refused order's message names
    several amounts, and this is on the gate's path."""
    if x.__class__ is float and 0.0 < x < 1e11 and (s := f"{x:.3f}")[-1] != "5":
        # below 1e12 a float is within 0.0001 of its shortest repr, so rounding the float to
        # the paisa gives the repr's half-up rounding unless the repr is a tie (x.xx5), which
        # ends its 3-decimal form in 5 (tested against fmt_inr in tests/unit/risk). A 3-decimal
        # form ending in 0-4 is within 0.0045 above and 0.0005 below its first two decimals, so
        # it is the 2-decimal form with one more digit: the second formatting is not needed. The common
        # case (positive, at most 11 rupee digits) is one text per size: the last three rupee digits, then twos
        s = s[:-1] if s[-1] < "5" else f"{x:.2f}"
        n = len(s)  # the rupee digits + 3
        if n < 7:
            return "₹" + s
        if n < 9:
            return f"₹{s[:-6]},{s[-6:]}"
        if n < 11:
            return f"₹{s[:-8]},{s[-8:-6]},{s[-6:]}"
        if n < 13:
            return f"₹{s[:-10]},{s[-10:-8]},{s[-8:-6]},{s[-6:]}"
        if n < 15:
            return f"₹{s[:-12]},{s[-12:-10]},{s[-10:-8]},{s[-8:-6]},{s[-6:]}"
    return _rs_any(x)


def _rs_any(x) -> str:
    """:func:`rs` of any number: negative floats, ties, large amounts, Decimals, ints."""
    if x.__class__ is float and -1e12 < x < 1e12 and (s := f"{x:.3f}")[-1] != "5":
        # below 1e12 a float is within 0.0001 of its shortest repr, so rounding the float to
        # the paisa gives the repr's half-up rounding unless the repr is a tie (x.xx5), which
        # ends its 3-decimal form in 5 (tested against fmt_inr in tests/unit/risk). A 3-decimal
        # form ending in 0-4 is within 0.0045 above and 0.0005 below its first two decimals, so
        # it is the 2-decimal form with one more digit: the second formatting is not needed
        s = s[:-1] if s[-1] < "5" else f"{x:.2f}"
        neg = s[0] == "-"
        if neg:
            s = s[1:]
            neg = s != "0.00"
    else:
        if x.__class__ is float and x - x == 0.0:  # finite
            d = Decimal(float.__repr__(x)).quantize(_PAISA, ROUND_HALF_UP)
        elif x.__class__ is Decimal and x.is_finite():
            d = x.quantize(_PAISA, ROUND_HALF_UP)
        else:
            s = fmt_inr(x)  # ints, numpy scalars; NaN and infinities are refused there
            if s.startswith("-"):
                return f"-₹{s[1:]}" if s.strip("-0.,") else f"₹{s[1:]}"
            return f"₹{s}"
        neg = d < 0
        s = f"{abs(d):.2f}"
    h = len(s) - 6  # digits before the last three of the rupees
    if h > 0:  # 12,34,567.80: the last three digits, then twos
        head, tail = s[:h], s[h:]
        if h <= 2:
            s = f"{head},{tail}"
        elif h <= 4:
            s = f"{head[:-2]},{head[-2:]},{tail}"
        elif h <= 6:
            s = f"{head[:-4]},{head[-4:-2]},{head[-2:]},{tail}"
        else:
            f = 1 if h % 2 else 2
            s = ",".join([head[:f], *(head[i:i + 2] for i in range(f, h, 2)), tail])
    return f"-₹{s}" if neg else f"₹{s}"


_RS_MEMO: dict[float, str] = {}


def _rs_lim(x: float) -> str:
    """``rs`` of a figure that repeats from order to order (a limit, today's loss, the open
    exposure's): its text is kept (floats only: equal floats, 0.0 and -0.0 included, have the
    same text)."""
    if x.__class__ is not float:
        return rs(x)
    t = _RS_MEMO.get(x)
    if t is None:
        if len(_RS_MEMO) > 4096:
            _RS_MEMO.clear()
        t = _RS_MEMO[x] = rs(x)
    return t


def _pct(x: float) -> str:
    return f"{x:.1f} %"


def _lim(x: float) -> str:
    return f"{x:g} %"


_LIM_MEMO: dict[float, str] = {}


def _lim_kept(x: float) -> str:
    """``_lim`` of a limit, kept (floats other than zero only: ``-0.0`` and ``0.0`` print apart)."""
    t = _LIM_MEMO.get(x) if x.__class__ is float and x else None
    if t is None:
        t = f"{x:g} %"
        if x.__class__ is float and x:
            if len(_LIM_MEMO) > 4096:
                _LIM_MEMO.clear()
            _LIM_MEMO[x] = t
    return t


class EntryFacts(NamedTuple):
    """What the gate knows about an entry order when registered rules run (floats, rupees)."""

    symbol: str          # tradingsymbol
    key: str             # EXCHANGE:SYMBOL
    quantity: int
    signed: int          # + buy, - sell
    position: int        # the instrument's net quantity now (all strategies and products)
    price: float         # the price the order is valued at
    multiplier: int
    capital: float       # the capital percent limits use
    day_pnl: float       # today's P&L so far


EntryRule = Callable[..., "CheckResult | None"]
_ENTRY_RULES: list[tuple[EntryRule, bool]] = []  # (rule, derivatives only), in registration order
# what _entry_checks runs: for an order in a derivative, and for any other order (rebuilt on
# every (un)registration, so the hot path reads one module global and tests one flag)
_RULES_DERIV: tuple[EntryRule, ...] = ()
_RULES_OTHER: tuple[EntryRule, ...] = ()


def _rebuild() -> None:
    global _RULES_DERIV, _RULES_OTHER
    _RULES_DERIV = tuple(r for r, _ in _ENTRY_RULES)
    _RULES_OTHER = tuple(r for r, only in _ENTRY_RULES if not only)


def _active_rules(gate, rules: tuple) -> tuple:
    """``rules`` without those that say (``rule.applies_to(gate)`` False) that they return None for
    every order of this gate's configuration; worked out once per (config, registry)."""
    cache = gate.__dict__.get("_rules_active")
    if cache is None or cache[0] is not gate.config:
        cache = gate._rules_active = (gate.config, {})
    active = cache[1].get(id(rules))
    if active is None or active[0] is not rules:
        fs = [getattr(r, "applies_to", None) for r in rules]
        active = cache[1][id(rules)] = (rules, tuple(r for r, f in zip(rules, fs) if f is None or f(gate)))
    return active[1]


def register_entry_rule(rule: EntryRule | None = None, *, derivatives_only: bool = False):
    """Add ``rule(gate, order, ctx, facts) -> CheckResult | None`` to every gate's entry checks
    (once; returns the rule, so it works as a decorator, also as
    ``@register_entry_rule(derivatives_only=True)``).

    ``derivatives_only``: the rule runs only for orders in a derivative (an F&O, currency or
    commodity exchange, or an instrument that is a future or an option); any other order does
    not call it at all (the gate tests one flag it already knows).

    A rule may carry ``rule.applies_to(gate) -> bool``: False when it returns None for every order
    of that gate's configuration (e.g. no limit of its kind is set); a gate then does not call it,
    asking again when its ``config`` object is replaced."""
    if rule is None:
        return lambda r: register_entry_rule(r, derivatives_only=derivatives_only)
    if all(r is not rule for r, _ in _ENTRY_RULES):
        _ENTRY_RULES.append((rule, bool(derivatives_only)))
        _rebuild()
    return rule


def unregister_entry_rule(rule: EntryRule) -> None:
    _ENTRY_RULES[:] = [x for x in _ENTRY_RULES if x[0] is not rule]
    _rebuild()


def entry_rules() -> tuple[EntryRule, ...]:
    return tuple(r for r, _ in _ENTRY_RULES)


class EntryChecks:
    """Mixed into :class:`~tradekit.risk.gate.PreTradeGate`: the entry checks and the VaR state."""

    def _limits(self, capital: float) -> tuple:
        """The limits at ``capital`` and the current scale, worked out once per (capital, scale)
        with the operations the checks used to do per order (so the same floats):
        (capital, scale, order value, position value, position quantity, concentration %,
        sector %, gross %, net %, daily loss, drawdown, VaR, 100 / capital)."""
        scale = self.scale
        ov = self._max_order_value
        if self._max_order_value_pct is not None:
            p = self._max_order_value_pct * capital / 100.0
            ov = p if ov is None or p < ov else ov
        if ov is not None:
            ov *= scale

        def sc(x):
            return None if x is None else x * scale

        lm = self._lims = (capital, scale, ov, sc(self._max_pos_value), sc(self._max_pos_qty), sc(self._conc),
                           sc(self._sector_pct), sc(self._gross), sc(self._net), self.daily_loss_limit(capital),
                           self.drawdown_limit(capital), self.var_limit(capital), 100.0 / capital)
        return lm

    def _entry_checks(self, order, req, ctx, option, info, sym, q, signed, cur, price, mult, capital, day_pnl,
                      open_orders, day, ap) -> None:
        s = self.summary
        key, sector, restricted, und, deriv, _ = info
        lm = self._lims
        if lm is None or lm[0] != capital or lm[1] != self.scale:
            lm = self._limits(capital)
        # -- compliance lists
        lists = self.lists
        if restricted:
            ap(_R(_CR, ("RESTRICTED", False, f"{sym} is on the restricted list: no new positions", None, None)))
        elif lists.restricted:
            ap(_OK_RESTRICTED)
        if deriv and lists.fno_ban:
            banned = lists.fno_ban.get(day)
            if banned and und in banned:
                ap(_R(_CR, ("FNO_BAN", False, f"{und} is in the F&O ban on {day}: only position-reducing trades",
                            None, None)))
            else:
                ap(_OK["FNO_BAN"])

        # -- money
        if price is None:
            why = ctx.extra.get("no_price_reason") or "no price to value the order (no limit price and no last price)"
            ap(_R(_CR, ("NO_PRICE", False, f"{sym}: {why}", None, None)))
            return
        if self._funds:
            acct = ctx.account
            if acct is None:
                ap(_NO_ACCOUNT)
            else:
                px = req.price or req.trigger_price or ctx.last_price or Decimal(repr(price))
                need = float(acct.required_margin(req, px))
                avail = float(acct.available())
                ap(_R(_CR, ("FUNDS", need <= avail, "" if need <= avail else
                            f"{sym}: needs margin {rs(need)}, available {rs(avail)}", need, avail)))
        value = q * price * mult
        value_text = None  # rs(value), when a refusal wrote it (an entry from flat: the position's figure too)
        lim = lm[2]
        if lim is not None:
            if value <= lim * _REL:
                ap(_R(_CR, ("ORDER_VALUE", True, "", value, lim)))
            else:
                value_text = rs(value)
                ap(_R(_CR, ("ORDER_VALUE", False, f"{sym}: order value {value_text} is above the limit {_RS_MEMO.get(lim) or _rs_lim(lim)}",
                            value, lim)))
        mq = self._max_order_qty
        if mq is not None:
            ap(_R(_CR, ("ORDER_QTY", True, "", float(q), self._max_order_qty_f)) if q <= mq else
               _R(_CR, ("ORDER_QTY", False, f"{sym}: quantity {q:,} is above the limit {mq:,}", float(q),
                        self._max_order_qty_f)))
        ltp = ctx.last_price
        ltp_f = None  # the last price as a float, once converted (the daily-loss worst case may need it)
        if ltp is not None and req.order_type is not _MARKET:
            ff = self._ff_opt if option else self._ff
            if ff is not None:
                ltp = ltp_f = float(ltp)
                # the order's limit (else trigger) price as a float: the price it is valued at (check())
                rp = req.price
                p = price if rp is not None or req.trigger_price is not None else float(rp)  # (None: TypeError)
                if ltp > 0:
                    dev = (p / ltp - 1.0) * 100.0
                    if -ff - _EPS <= dev <= ff + _EPS:
                        ap(_OK_FAT_FINGER)
                    else:
                        what = "limit price" if req.price is not None else "trigger price"
                        ap(_R(_CR, ("FAT_FINGER", False,
                                    f"{sym}: {what} {p:,.2f} is {abs(dev):.1f} % {'above' if dev > 0 else 'below'} "
                                    f"the last price {ltp:,.2f}, limit {_lim(ff)}", abs(dev), ff)))

        # -- exposure (a check passes if the order does not make an over-limit figure worse)
        cur_val = s.value.get(key, 0.0)
        new_qty = cur + signed
        new_val = new_qty * price * mult
        a_new = new_val if new_val >= 0 else -new_val
        a_cur = cur_val if cur_val >= 0 else -cur_val
        lim = lm[3]
        if lim is not None:
            ok = a_new <= lim * _REL or a_new <= a_cur
            ap(_R(_CR, ("POSITION_VALUE", ok, "" if ok else
                        f"{sym}: position would be {value_text if a_new == value and value_text else rs(a_new)}, "
                        f"limit {_RS_MEMO.get(lim) or _rs_lim(lim)}", a_new, lim)))
        lim = lm[4]
        if lim is not None:
            aq = float(abs(new_qty))
            ok = aq <= lim or aq <= abs(cur)
            ap(_R(_CR, ("POSITION_QTY", ok, "" if ok else f"{sym}: position would be {aq:,.0f} units, limit {lim:,.0f}",
                        aq, lim)))
        to_pct = lm[12]
        lim = lm[5]
        if lim is not None:
            pct = a_new * to_pct
            ok = pct <= lim + _EPS or a_new <= a_cur
            ap(_R(_CR, ("CONCENTRATION", ok, "" if ok else
                        f"{sym}: position would be {pct:.1f} % of capital, limit {_LIM_MEMO.get(lim) or _lim_kept(lim)}", pct, lim)))
        lim = lm[6]
        if lim is not None and sector is not None:
            old = s.sector.get(sector, 0.0)
            new = old - a_cur + a_new
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= old
            ap(_R(_CR, ("SECTOR", ok, "" if ok else
                        f"{sym}: {sector} sector exposure would be {pct:.1f} % of capital, limit {_LIM_MEMO.get(lim) or _lim_kept(lim)}", pct, lim)))
        lim = lm[7]
        if lim is not None:
            new = s.gross - a_cur + a_new
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= s.gross + _EPS
            ap(_R(_CR, ("GROSS", ok, "" if ok else f"gross exposure would be {pct:.1f} % of capital, limit {_LIM_MEMO.get(lim) or _lim_kept(lim)}",
                        pct, lim)))
        lim = lm[8]
        if lim is not None:
            new = abs(s.net - cur_val + new_val)
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= abs(s.net) + _EPS
            ap(_R(_CR, ("NET", ok, "" if ok else f"net exposure would be {pct:.1f} % of capital, limit {_LIM_MEMO.get(lim) or _lim_kept(lim)}",
                        pct, lim)))
        mo = self._max_open
        if mo is not None:
            n = len(open_orders)
            ap(_R(_CR, ("OPEN_ORDERS", True, "", float(n + 1), self._max_open_f)) if n < mo else
               _R(_CR, ("OPEN_ORDERS", False, f"{n} orders are open, limit {mo}", float(n + 1), self._max_open_f)))
        md = self._max_day
        if md is not None:
            n = self.orders_today
            ap(_R(_CR, ("ORDERS_DAY", True, "", float(n + 1), self._max_day_f)) if n < md else
               _R(_CR, ("ORDERS_DAY", False, f"{n:,} orders today, limit {md:,}", float(n + 1), self._max_day_f)))

        # -- loss
        lim = lm[9]
        if lim is not None:
            loss = 0.0 - day_pnl
            if loss >= lim:
                ap(_R(_CR, ("DAILY_LOSS", False, f"today's loss {rs(loss)} has reached the limit {_rs_lim(lim)}: only "
                                                 f"orders that reduce a position", loss, lim)))
            elif self._adverse is None:
                ap(_R(_CR, ("DAILY_LOSS", True, "", loss, lim)))
            else:
                ap(self._loss_worst_case(order, ctx, key, sym, q, signed, price, mult, open_orders, loss, lim, ltp_f))
        lim = lm[10]
        if lim is not None:
            dd = self.day.peak - self.day.last
            ap(_R(_CR, ("DRAWDOWN", True, "", dd, lim)) if dd < lim else
               _R(_CR, ("DRAWDOWN", False, f"P&L is {rs(dd)} below today's peak, limit {_rs_lim(lim)}: only orders "
                                           f"that reduce a position", dd, lim)))

        # -- portfolio VaR
        if self.var_model is not None:
            lim = lm[11]
            if lim is not None:
                ap(self._var_check(sym, new_val - cur_val, lim, abs(new_val) < abs(cur_val)))

        # -- rules registered by other modules (register_entry_rule); an order that is not in a
        # derivative does not call the derivative-only ones (the Greek limits)
        rules = _RULES_DERIV if deriv else _RULES_OTHER
        if rules:
            last = self.__dict__.get("_rules_last")  # (config, registry, its active rules) of the last call
            if last is not None and last[1] is rules and last[0] is self.config:
                rules = last[2]
            else:
                self._rules_last = (self.config, rules, _active_rules(self, rules))
                rules = self._rules_last[2]
        if rules:
            facts = _R(EntryFacts, (sym, key, q, signed, cur, price, mult, capital, day_pnl))
            for rule in rules:
                r = rule(self, order, ctx, facts)
                if r is not None:
                    ap(r)

    def note_signal_stop(self, signal_id: str, stop) -> None:
        """Remember a signal's protective stop (``sizing.stop``) for the daily-loss worst case."""
        if stop is None or not signal_id:
            return
        if len(self.signal_stops) >= 10_000:
            self.signal_stops.pop(next(iter(self.signal_stops)))
        self.signal_stops[signal_id] = stop

    def _loss_worst_case(self, order, ctx, key, sym, q, signed, price, mult, open_orders, loss, lim,
                         ltp_f: float | None = None) -> CheckResult:
        """DAILY_LOSS with the order's worst case and the open exposure (:func:`tradekit.risk.worstcase.check`)."""
        vm = self.var_model
        if vm is None:
            var_pct = None
        else:  # a symbol's one-unit VaR in % (the model's figures never change): once per model and symbol
            memo = self._var_pct
            if memo[0] is not vm:
                memo = self._var_pct = (vm, {})
            var_pct = memo[1].get(sym, _UNSET)
            if var_pct is _UNSET:
                var_pct = None
                i = vm.index.get(sym)
                if i is not None:
                    c = vm.cov[i][i]
                    if c > 0:
                        var_pct = vm.scale * c ** 0.5 * 100.0
                memo[1][sym] = var_pct
        # the protective stop (worstcase.stop_of): the context's, else the order's signal's
        extra = ctx.extra
        stop = extra.get("stop") if extra else None
        if stop is None and order.signal_id:
            stop = self.signal_stops.get(order.signal_id)
        s = self.summary
        # the book values the filled quantity at its mark for the symbol (else the first mark: the last price)
        mark = s.price.get(key)
        if mark is None and ctx.last_price is not None:
            mark = float(ctx.last_price) if ltp_f is None else ltp_f  # (ltp_f: float(ctx.last_price) already)
        adverse = self._adverse
        signed_value = signed * price * mult
        ok, total, open_loss, order_loss = _worst.check(loss, lim, s, open_orders, key, signed_value, q, price, mult, stop,
                                                        adverse, self._loss_positions, var_pct, mark,
                                                        self.open_orders.version)
        if ok:
            return _R(_CR, ("DAILY_LOSS", True, "", total, lim))
        if stop is None:  # worstcase.how without a stop, inline: the move's text, and what the order pays
            how = _worst._move(adverse, var_pct)[1]  # through the mark (worstcase.through_mark)
            if mark is not None and mark > 0.0 and mark != _INF:
                d = price - mark if signed_value > 0 else mark - price
                if d > 0:
                    paid = d * q * mult
                    if paid > 0.0:
                        how = f"{how} + ₹{paid:,.2f} paid through the mark {mark:,.2f}"
        else:
            how = _worst.how(q, price, mult, stop, adverse, var_pct, signed_value, mark)
        # the book's part of the text (today's loss, the open exposure's, the move, the limit) stays
        # the same from order to order until the book moves: kept with the figures it was written for
        t = self._loss_text
        if t is None or t[0] != loss or t[1] != open_loss or t[2] != lim or t[3] is not adverse:
            t = self._loss_text = (loss, open_loss, lim, adverse,
                                   f": today's loss {_rs_lim(loss)} + open exposure {_rs_lim(open_loss)} at a "
                                   f"{adverse:g} % adverse move + this order's worst case ",
                                   f" would pass the daily loss limit {_rs_lim(lim)}")
        return _R(_CR, ("DAILY_LOSS", False, f"{sym}{t[4]}{rs(order_loss)} ({how}) = {rs(total)}{t[5]}", total, lim))

    def _var_state(self) -> tuple[float, "object"]:
        """(wᵀΣw, Σw) for the current book, patched from the summary's deltas."""
        vm, s = self.var_model, self.summary
        # many deltas (a batched mark of the whole book): one matrix-vector product is cheaper
        if self._var_full != s.full_version or self._var_cache is None or len(s.deltas) > 8:
            self._var_cache = list(vm.prepare(s.value, as_array=True))
            self._var_full = s.full_version
            s.deltas.clear()
            self._var_gap = any(v and (k.partition(":")[2] or k) not in vm.index for k, v in s.value.items())
        elif s.deltas:
            c = self._var_cache
            idx, cov, cols = vm.index, vm.cov, vm.cols
            for k, d in s.deltas:
                i = idx.get(k.partition(":")[2])
                if i is None:
                    self._var_gap = True
                    continue
                c[0] += 2.0 * d * float(c[1][i]) + d * d * cov[i][i]
                c[1] += d * cols[i]
            s.deltas.clear()
        return self._var_cache[0], self._var_cache[1]

    def _var_coverage(self, sym: str, delta: float) -> tuple[float, list[str]]:
        """(% of the gross exposure after the order with return history, the uncovered symbols).

        The book's part (gross, uncovered, their symbols, and each symbol's values) is summed
        once per summary version; an order changes only its own symbol's terms."""
        pct, has, c = self._var_cover(sym, delta)
        names = [n for n in c[6] if n != sym]
        if has:
            names.append(sym)
        return pct, names

    def _var_cover(self, sym: str, delta: float) -> tuple[float, bool, tuple]:
        """:meth:`_var_coverage` without the list: (percent, whether ``sym`` is among the uncovered
        symbols after the order, the book's part). The uncovered symbols are the book's
        (``_coverage_base()[6]``) other than ``sym``, and ``sym`` when the flag says so."""
        c = self._coverage_base()
        gross, unc = c[4], c[5]
        covered = sym in self.var_model.index
        has = False
        for v in c[7].get(sym, ()):
            w = v + delta
            gross += abs(w) - abs(v)
            if not covered:
                unc += (abs(w) if w else 0.0) - (abs(v) if v else 0.0)
                if w:
                    has = True
        if not covered and not has and delta:
            gross += abs(delta)
            unc += abs(delta)
            has = True
        return (100.0 * (gross - unc) / gross if gross else 100.0), has, c

    def _coverage_base(self) -> tuple:
        """The book's part of :meth:`_var_coverage`, once per summary version (``warm`` keeps it
        current once an order needed it): (summary, its version, model, book, gross, uncovered,
        the uncovered symbols, each symbol's values, the coverage notes' texts by (symbol, symbol
        uncovered after the order, minimum coverage)). The texts depend only on the uncovered
        symbols, so they are handed on to the next version while those stay the same."""
        vm, s = self.var_model, self.summary
        c = self.__dict__.get("_cov_base")
        if c is None or c[0] is not s or c[1] != s.version or c[2] is not vm or c[3] != s.book_id:
            index = vm.index
            gross = unc = 0.0
            names: dict[str, None] = {}
            by_sym: dict[str, list[float]] = {}
            for k, v in s.value.items():
                ks = k.partition(":")[2] or k
                gross += abs(v)
                if ks not in index and v:
                    unc += abs(v)
                    names[ks] = None
                by_sym.setdefault(ks, []).append(v)
            texts = c[8] if c is not None and c[6] == names and len(c[8]) < 1000 else {}
            c = self._cov_base = (s, s.version, vm, s.book_id, gross, unc, names, by_sym, texts)
        return c

    def _var_check(self, sym: str, delta: float, lim: float, reduces: bool = False) -> CheckResult:
        vm = self.var_model
        i = vm.index.get(sym)
        s = self.summary
        c = self._var_cache
        if c is None or s.deltas or self._var_full != s.full_version:
            wsw, sw = self._var_state()  # also notes whether some exposure has no history (_var_gap)
        else:
            wsw, sw = c[0], c[1]  # what _var_state returns when nothing moved
        note = ""
        if i is None or self._var_gap:
            v = self.config.var
            pct, has, cb = self._var_cover(sym, delta)
            mcp = v.min_coverage_pct
            if pct + 1e-9 < mcp:
                # the text after the percentage names the uncovered symbols: kept per (symbol, whether
                # it is uncovered after the order, minimum) while the book's uncovered symbols stay the same
                texts = cb[8]
                k = (sym, has, mcp)
                tail = texts.get(k) if mcp else None  # (-0.0 and 0.0 print apart)
                if tail is None:
                    names = [n for n in cb[6] if n != sym]
                    if has:
                        names.append(sym)
                    tail = (f" % of the exposure (risk.var.min_coverage_pct {mcp:g}): no daily return history for "
                            f"{', '.join(sorted(set(names))[:5])} (tradekit data import|fetch --timeframe 1d)")
                    if mcp:
                        texts[k] = tail
                note = f"VaR covers {pct:.0f}{tail}"
                if v.short_coverage == "refuse" and not reduces:
                    return _R(_CR, ("VAR", False, note, None, lim))
        if i is None:
            return _R(_CR, ("VAR", True, note or f"{sym}: no return history, VaR not checked", None, lim if note else None))
        var2 = wsw + 2.0 * delta * float(sw[i]) + delta * delta * vm.cov[i][i]
        var_new = vm.scale * (var2 ** 0.5 if var2 > 0 else 0.0)
        if var_new <= lim:
            return _R(_CR, ("VAR", True, note, var_new, lim))
        var_old = vm.scale * (wsw ** 0.5 if wsw > 0 else 0.0)
        if var_new <= var_old:
            return _R(_CR, ("VAR", True, note, var_new, lim))
        return _R(_CR, ("VAR", False, f"portfolio VaR ({vm.confidence * 100:g} %, {vm.horizon_days} d) would be "
                                      f"{rs(var_new)}, limit {rs(lim)}" + (f"; {note}" if note else ""), var_new, lim))

