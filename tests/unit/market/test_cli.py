"""``tradekit charges``: the command a trader runs."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from tradekit.cli import app, main

KEYS = ["brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp", "total"]


def _run(capsys, *args):
    code = main(["charges", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_exactly_the_keys_in_rupees_with_two_decimals(capsys):
    code, out, err = _run(
        capsys,
        "--segment",
        "equity-delivery",
        "--exchange",
        "NSE",
        "--quantity",
        "40",
        "--buy",
        "2450.50",
        "--sell",
        "2512.75",
        "--json",
        "--date",
        "2026-11-24",
    )
    assert code == 0 and err == ""
    obj = json.loads(out)
    assert list(obj) == KEYS
    assert obj == {
        "brokerage": 0.0,
        "stt": 199.0,
        "exchange_txn": 6.09,
        "sebi": 0.2,
        "stamp_duty": 15.0,
        "gst": 1.13,
        "dp": 15.34,
        "total": 236.76,
    }
    assert all(re.search(rf'"{k}": -?\d+\.\d\d[,}}]', out) for k in KEYS)
    assert out.count("\n") == 1  # one object, one line


@pytest.mark.parametrize(
    "args,total",
    [
        (
            [
                "--segment",
                "equity-intraday",
                "--exchange",
                "BSE",
                "--quantity",
                "250",
                "--buy",
                "812.40",
                "--sell",
                "818.15",
            ],
            122.73,
        ),
        (
            [
                "--segment",
                "futures",
                "--exchange",
                "NSE",
                "--quantity",
                "65",
                "--buy",
                "25840",
                "--sell",
                "25912.50",
            ],
            999.81,
        ),
        (
            [
                "--segment",
                "options",
                "--exchange",
                "NSE",
                "--quantity",
                "325",
                "--buy",
                "118.35",
                "--sell",
                "104.60",
            ],
            129.66,
        ),
        (
            [
                "--segment",
                "currency-futures",
                "--exchange",
                "NSE",
                "--quantity",
                "19000",
                "--buy",
                "105.2625",
                "--sell",
                "105.3400",
            ],
            70.45,
        ),
        (
            [
                "--segment",
                "commodity-futures",
                "--exchange",
                "NSE",
                "--quantity",
                "100",
                "--buy",
                "121500",
                "--sell",
                "121800",
            ],
            2139.81,
        ),
        (
            [
                "--segment",
                "commodity-futures",
                "--exchange",
                "MCX",
                "--quantity",
                "100",
                "--buy",
                "121500",
                "--sell",
                "121800",
            ],
            2139.81,
        ),
    ],
)
def test_worked_examples_through_the_command(capsys, args, total):
    code, out, _ = _run(capsys, *args, "--json", "--date", "2026-11-24")
    assert code == 0 and json.loads(out)["total"] == total


def test_default_output_is_a_contract_note_style_table(capsys):
    code, out, _ = _run(
        capsys,
        "-s",
        "futures",
        "-e",
        "NSE",
        "-q",
        "65",
        "-b",
        "25840",
        "-p",
        "25912.50",
        "-d",
        "2026-11-24",
    )
    assert code == 0
    for line in (
        "Brokerage",
        "STT",
        "Exchange transaction charges",
        "SEBI turnover fee",
        "Stamp duty",
        "GST (18%)",
        "DP charges",
    ):
        assert line in out
    assert re.search(r"Total charges\s+999\.81", out) and re.search(
        r"Turnover\s+33,63,912\.50", out
    )


def test_the_date_selects_the_rates(capsys):
    _, out, _ = _run(
        capsys,
        "-s",
        "futures",
        "-q",
        "500",
        "-b",
        "1000",
        "-p",
        "1000",
        "--date",
        "2026-03-15",
        "--json",
    )
    assert json.loads(out)["total"] == 179.97
    _, out, _ = _run(
        capsys,
        "-s",
        "futures",
        "-q",
        "500",
        "-b",
        "1000",
        "-p",
        "1000",
        "--date",
        "2026-04-01",
        "--json",
    )
    assert json.loads(out)["total"] == 329.97


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["-s", "stocks", "-q", "1", "-b", "1", "-p", "2"],
            "segment: 'stocks' is not one of equity-delivery",
        ),
        (
            ["-s", "futures", "-q", "1", "-b", "1", "-p", "2", "--date", "2020-06-30"],
            "2020-06-30 is before 2020-07-01",
        ),
        (
            ["-s", "futures", "-q", "1", "-b", "1", "-p", "2", "--date", "30/06/2026"],
            "--date: '30/06/2026' is not a date",
        ),
        (
            ["-s", "futures", "-q", "0", "-b", "1", "-p", "2"],
            "quantity: 0 is not a positive quantity",
        ),
        (
            ["-s", "futures", "-q", "1.5", "-b", "1", "-p", "2"],
            "--quantity: '1.5' is not a whole number",
        ),
        (["-s", "futures", "-q", "1", "-b", "-1", "-p", "2"], "buy: -1 is negative"),
        (["-s", "futures", "-q", "1", "-b", "abc", "-p", "2"], "buy: 'abc' is not a number"),
        (
            ["-s", "futures", "-e", "MCX", "-q", "1", "-b", "1", "-p", "2"],
            "exchange: MCX is not an exchange of the futures rate tables",
        ),
        (["-s", "options", "-q", "1", "-b", "0", "-p", "0"], "nothing to price"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_non_zero_exit(capsys, args, message):
    code, out, err = _run(capsys, *args)
    assert code != 0 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_charges_is_listed_in_the_help():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "charges" in result.output
    result = CliRunner().invoke(app, ["charges", "--help"])
    assert "--segment" in result.output and "--json" in result.output
