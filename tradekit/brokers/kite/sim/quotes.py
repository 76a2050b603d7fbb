"""The sandbox's market-data routes: the instrument dump, quotes (full, OHLC, LTP) and historical candles.

Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp` (its ``market`` and ``instruments``).
"""

from __future__ import annotations

from datetime import datetime

from tradekit.brokers.kite.sim.wire import INTERVALS, TS_FMT, KiteError, Response, _first, _fmt, _need, _num
from tradekit.clock import IST


class SimQuoteRoutes:
    """Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp`."""

    def r_instruments(self, exchange=None, **_):
        from tradekit.brokers.kite.sim.dump import instruments_csv
        from tradekit.model.enums import Exchange

        if exchange and exchange not in {e.value for e in Exchange}:
            raise KiteError(400, "InputException", f"Invalid exchange `{exchange}`.")

        def last(key):
            s = self.market.get(key)
            return s.prev_close if s is not None else None

        return Response(200, instruments_csv(self.instruments, exchange, last), "text/csv")

    def _keys(self, query: dict, limit: int) -> list[str]:
        keys = query.get("i") or []
        if isinstance(keys, str):
            keys = [keys]
        if not keys:
            raise KiteError(400, "InputException", "No instruments given (`i`).")
        if len(keys) > limit:
            raise KiteError(400, "InputException", f"Too many instruments: at most {limit} per request.")
        return keys

    def _quote_of(self, key: str, kind: str) -> dict | None:
        s = self.market.get(key)
        if s is None:
            return None
        t = self.market.tick(s, "full")
        if kind == "ltp":
            return {"instrument_token": s.token, "last_price": t.last_price}
        ohlc = {"open": t.open, "high": t.high, "low": t.low, "close": t.close}
        if kind == "ohlc":
            return {"instrument_token": s.token, "last_price": t.last_price, "ohlc": ohlc}
        lo, hi = self.market.band(s)
        pad = [{"price": 0, "quantity": 0, "orders": 0}] * 5
        depth = {
            "buy": [{"price": d.price, "quantity": d.quantity, "orders": d.orders} for d in t.bids] or pad,
            "sell": [{"price": d.price, "quantity": d.quantity, "orders": d.orders} for d in t.asks] or pad,
        }
        return {
            "instrument_token": s.token, "timestamp": _fmt(self.market.now), "last_trade_time": _fmt(t.last_trade_time),
            "last_price": t.last_price, "last_quantity": t.last_quantity, "buy_quantity": t.buy_quantity,
            "sell_quantity": t.sell_quantity, "volume": t.volume, "average_price": t.average_price, "oi": t.oi or 0,
            "oi_day_high": t.oi_day_high or 0, "oi_day_low": t.oi_day_low or 0, "net_change": round(t.change or 0, 2), "lower_circuit_limit": lo,
            "upper_circuit_limit": hi, "ohlc": ohlc, "depth": depth,
        }

    def _quotes(self, query: dict, kind: str, limit: int) -> dict:
        out = {}
        for key in self._keys(query, limit):
            q = self._quote_of(key, kind)
            if q is not None:  # unknown keys are left out, as Kite does
                out[key] = q
        return out

    def r_quote(self, query, **_):
        return self._quotes(query, "full", 500)

    def r_ohlc(self, query, **_):
        return self._quotes(query, "ohlc", 1000)

    def r_ltp(self, query, **_):
        return self._quotes(query, "ltp", 1000)

    def r_historical(self, token, interval, query, **_):
        if interval not in INTERVALS:
            raise KiteError(400, "InputException", f"Invalid interval `{interval}`.")
        try:
            start = datetime.strptime(_need(query, "from"), TS_FMT).replace(tzinfo=IST)
            end = datetime.strptime(_need(query, "to"), TS_FMT).replace(tzinfo=IST)
        except ValueError:
            raise KiteError(400, "InputException", "Invalid `from` or `to`: use YYYY-MM-DD HH:MM:SS.") from None
        if end < start:
            raise KiteError(400, "InputException", "`from` is after `to`.")
        if (end - start).days > INTERVALS[interval]:
            raise KiteError(400, "InputException", f"interval exceeds max limit: {INTERVALS[interval]} days")
        if _first(query, "continuous", "0") in ("1", "true", "True") and interval != "day":
            raise KiteError(400, "InputException", "continuous data is available for day candles only")
        with_oi = _first(query, "oi", "0") in ("1", "true", "True")
        try:
            df = self.market.candles(int(token), interval, start, end)
        except KeyError:
            raise KiteError(400, "InputException", "Invalid `instrument_token`.") from None
        candles = []
        ois = df["oi"] if "oi" in df else [0] * len(df)  # a cash instrument has no OI (0, as at Kite)
        for ts, o, h, lo, c, v, oi in zip(df.index, df["open"], df["high"], df["low"], df["close"], df["volume"], ois):
            row = [ts.strftime("%Y-%m-%dT%H:%M:%S%z"), _num(o), _num(h), _num(lo), _num(c), int(v)]
            if with_oi:
                row.append(int(oi))
            candles.append(row)
        return {"candles": candles}
