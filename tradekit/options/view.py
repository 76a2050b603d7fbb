"""The option chain on a screen: an HTML table (calls left, strike in the middle, puts right; in-the-money
sides shaded, the strike nearest the forward marked) and a small ipywidgets view around it that a
notebook or a Voila page displays (``ChainView(load).widget``).

UI only: the numbers come from :func:`tradekit.options.chain.option_chain`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable

import pandas as pd

__all__ = ["chain_html", "ChainView"]

SIDE_COLUMNS = (("oi", "OI", "{:,.0f}"), ("oi_change", "ΔOI", "{:+,.0f}"), ("volume", "Volume", "{:,.0f}"),
                ("iv", "IV %", "{:.1%}"), ("delta", "Δ", "{:+.2f}"), ("theta", "Θ/day", "{:+.2f}"),
                ("vega", "Vega", "{:.2f}"), ("bid", "Bid", "{:,.2f}"), ("ask", "Ask", "{:,.2f}"),
                ("ltp", "LTP", "{:,.2f}"))


def _cell(v, fmt: str) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(f):
        return "–"
    return html.escape(fmt.format(f).replace("%", " %") if "%" in fmt else fmt.format(f))


def chain_html(df: pd.DataFrame, *, columns=SIDE_COLUMNS) -> str:
    """The chain as an HTML table (class ``tk-chain``), with its forward, expiry and time in a caption."""
    a = df.attrs
    F = a.get("forward", math.nan)
    atm = None
    if len(df) and F == F:
        atm = df.index[int(abs(df.index.to_numpy(float) - F).argmin())]
    head = ([f"<th>{h}</th>" for _, h, _ in columns] + ["<th>Strike</th>"]
            + [f"<th>{h}</th>" for _, h, _ in reversed(columns)])
    rows = []
    for k, r in df.iterrows():
        ce_itm = F == F and k < F
        pe_itm = F == F and k > F
        ce = [f"<td class='ce{' itm' if ce_itm else ''}'>{_cell(r.get(f'ce_{c}'), fmt)}</td>" for c, _, fmt in columns]
        pe = [f"<td class='pe{' itm' if pe_itm else ''}'>{_cell(r.get(f'pe_{c}'), fmt)}</td>"
              for c, _, fmt in reversed(columns)]
        cls = " class='atm'" if k == atm else ""
        rows.append(f"<tr{cls}>{''.join(ce)}<th class='strike'>{k:,.2f}</th>{''.join(pe)}</tr>")
    when = a.get("as_of")
    cap = (f"{html.escape(str(a.get('underlying', '')))} {a.get('expiry', '')} · forward {_cell(F, '{:,.2f}')} "
           f"({html.escape(str(a.get('forward_source', '')))}) · {when:%Y-%m-%d %H:%M} IST" if when else "")
    notes = "".join(f"<div class='tk-chain-note'>{html.escape(n)}</div>" for n in a.get("notes", []))
    style = ("<style>.tk-chain{border-collapse:collapse;font:12px monospace}.tk-chain td,.tk-chain th{padding:2px 6px;"
             "text-align:right;border-bottom:1px solid #eee}.tk-chain td.itm{background:#fff6dd}"
             ".tk-chain tr.atm th.strike{background:#ffe08a}.tk-chain th.strike{background:#f3f3f3}</style>")
    return (f"{style}<table class='tk-chain'><caption>CALLS · {cap} · PUTS</caption><thead><tr>{''.join(head)}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{notes}")


class ChainView:
    """Underlying and expiry pickers, a refresh button and the table; ``load(underlying, expiry)`` gives the chain."""

    def __init__(self, load: Callable[[str, object], pd.DataFrame], underlyings: list[str],
                 expiries: Callable[[str], list] | None = None):
        import ipywidgets as w

        self.load = load
        self.expiries = expiries
        self.underlying = w.Dropdown(options=underlyings, description="Underlying")
        self.expiry = w.Dropdown(options=[], description="Expiry")
        self.button = w.Button(description="Refresh")
        self.table = w.HTML()
        self.status = w.HTML()
        for x, cls in ((self.table, "tk-chain-table"), (self.button, "tk-chain-refresh")):
            x.add_class(cls)
        self.underlying.observe(lambda _: self._expiries(), names="value")
        self.expiry.observe(lambda _: self.refresh(), names="value")
        self.button.on_click(lambda _: self.refresh())
        self.widget = w.VBox([w.HBox([self.underlying, self.expiry, self.button]), self.status, self.table])
        self._expiries()

    def _expiries(self) -> None:
        opts = self.expiries(self.underlying.value) if self.expiries else []
        self.expiry.options = [str(d) for d in opts]  # the first is picked (a refresh may follow from it)
        self.refresh()

    def refresh(self) -> pd.DataFrame | None:
        try:
            df = self.load(self.underlying.value, self.expiry.value or None)
        except Exception as e:  # a bad pick shows its reason instead of breaking the page
            self.status.value = f"<span class='tk-error'>{html.escape(str(e))}</span>"
            return None
        self.status.value = ""
        self.table.value = chain_html(df)
        return df
