"""``tradekit charges``: a Zerodha round trip, broken down like a contract note.

Registered on the main app in :mod:`tradekit.cli`. Errors are raised as
:class:`~tradekit.errors.TradekitError`, which ``tradekit.cli.main`` prints as one line.
"""

from __future__ import annotations

from datetime import date

import typer

from tradekit.errors import ValidationError

SEGMENTS = (
    "equity-delivery, equity-intraday, futures, options, currency-futures, currency-options, "
    "commodity-futures, commodity-options"
)


def _whole(value: str, option: str) -> int:
    s = value.strip().replace(",", "").replace("_", "")
    if not s.lstrip("+-").isdigit():
        raise ValidationError(f"{value!r} is not a whole number of units", field=option)
    return int(s)


def charges(
    segment: str = typer.Option(..., "--segment", "-s", help=f"one of: {SEGMENTS}"),
    exchange: str = typer.Option(
        "NSE", "--exchange", "-e", help="NSE or BSE (commodity: MCX; NSE/BSE are ignored there)"
    ),
    quantity: str = typer.Option(
        ..., "--quantity", "-q", help="units: shares, or lots × lot size (value = price × quantity)"
    ),
    buy: str = typer.Option(
        ..., "--buy", "-b", help="buy price (options: premium); 0 = no buy leg"
    ),
    sell: str = typer.Option(
        ..., "--sell", "-p", help="sell price (options: premium); 0 = no sell leg"
    ),
    day: str | None = typer.Option(
        None, "--date", "-d", help="YYYY-MM-DD: the rates in force that day (default: today, IST)"
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="print one JSON object: brokerage, stt, exchange_txn, sebi, stamp_duty, gst, dp, total",
    ),
) -> None:
    """Zerodha's charges on one buy and one sell, to the paisa (as its brokerage calculator)."""
    from tradekit.market.charges import round_trip

    trade_date = None
    if day is not None:
        try:
            trade_date = date.fromisoformat(day.strip())
        except ValueError:
            raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="--date") from None
    result = round_trip(segment, exchange, _whole(quantity, "--quantity"), buy, sell, trade_date)
    typer.echo(result.to_json() if as_json else result.render())
