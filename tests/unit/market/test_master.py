"""The instrument master: checking a Kite dump, `instruments update`, the fallback order, user-named instruments."""

from __future__ import annotations

import gzip
import http.server
import threading
from datetime import date
from pathlib import Path

import pytest

from tradekit.cli import main
from tradekit.config import load_config
from tradekit.errors import DataError, ValidationError
from tradekit.market.instruments import InstrumentStore, check_dump
from tradekit.market.master import cache_dir_for, load_master, update_master, user_instrument
from tradekit.market.rules import tick_size_for
from tradekit.model.enums import Exchange, InstrumentType

SAMPLE = Path(__file__).resolve().parents[3] / "tradekit" / "data" / "sample"
HEADER = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
          "instrument_type,segment,exchange\n")
GOOD = [
    "408065,1594,INFY,INFOSYS,1502.3,,0.0,0.1,1,EQ,NSE,NSE",
    "500209,1954,INFY,INFOSYS,1502.1,,0.0,0.05,1,EQ,BSE,BSE",
    "13368834,52222,NIFTY26DECFUT,NIFTY,0.0,2026-12-29,0.0,0.1,75,FUT,NFO-FUT,NFO",
    "213828613,835268,SENSEX26D1083000CE,SENSEX,0.0,2026-12-10,83000.0,0.05,20,CE,BFO-OPT,BFO",
    "268009475,1046912,USDINR26DECFUT,USDINR,0.0,2026-12-29,0.0,0.0025,1,FUT,CDS-FUT,CDS",
    "116012551,453174,GOLD26DECFUT,GOLD,0.0,2026-12-04,0.0,1.0,1,FUT,MCX-FUT,MCX",
    "256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE",
]
BAD = [
    "abc,1,BADTOKEN,,0,,0,0.05,1,EQ,NSE,NSE",                # row 9: token not a number
    "777,3,BADTICK,,0,,0,zero,1,EQ,NSE,NSE",                 # row 10: tick not a number
    "778,3,BADLOT,,0,,0,0.05,1.5,EQ,NSE,NSE",                # row 11: lot not whole
    "779,3,BADSEG,,0,,0,0.05,1,EQ,NSE-XX,NSE",               # row 12: segment unknown
    "408065,1594,INFY2,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",       # row 13: token repeats row 2
    "999,5,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",             # row 14: NSE:INFY repeats row 2
    "1000,6,SHORT,,0,,0,0.05",                                # row 15: too few fields
    "7,8,GIFTNIFTY,,0,,0,0.05,1,EQ,NSEIX,NSEIX",             # row 16: another exchange (not bad)
]
DUMP = HEADER + "\n".join(GOOD + BAD) + "\n"


def test_the_dump_is_checked_row_by_row():
    c = check_dump(DUMP.encode())
    assert len(c.rows) == 7 and c.total == 15
    assert (c.bad, c.duplicates, c.unsupported) == (5, 2, 1)
    text = "\n".join(c.problems)
    for n, what in [(9, "instrument_token 'abc'"), (10, "tick_size 'zero' is not a number"),
                    (11, "lot_size '1.5' is not a whole number"), (12, "segment 'NSE-XX'"),
                    (13, "duplicate instrument_token (first in row 2)"),
                    (14, "duplicate exchange+tradingsymbol (first in row 2)"), (15, "8 fields, the header has 12"),
                    (16, "NSEIX")]:
        assert f"row {n}" in text and what in text, (n, what, text)
    assert c.by_exchange() == {"BFO": 1, "BSE": 1, "CDS": 1, "MCX": 1, "NFO": 1, "NSE": 2}
    c.refuse_if_mostly_bad()  # 7 of 14 bad: not "mostly"


def test_a_mostly_bad_dump_is_refused_and_not_cached(tmp_path):
    cfg = load_config(None, {"data_dir": str(tmp_path / "var")})
    text = HEADER + GOOD[0] + "\n" + "\n".join(BAD[:4]) + "\n"
    with pytest.raises(DataError, match=r"refused: 4 of 5 rows are bad .*row 3"):
        update_master(cfg, date(2026, 12, 4), fetch=lambda: text.encode())
    assert not cache_dir_for(cfg).exists() or not any(cache_dir_for(cfg).iterdir())
    with pytest.raises(DataError, match="missing column"):
        update_master(cfg, date(2026, 12, 4), fetch=lambda: b"<html>rate limited</html>")


class _Dump(http.server.BaseHTTPRequestHandler):
    body = DUMP.encode()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path != "/instruments":
            self.send_error(404)
            return
        data = gzip.compress(self.body)  # as Kite sends it
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def dump_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dump)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _cfg_file(tmp_path, root: str, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(f"data_dir: {tmp_path / 'var'}\nkite: {{root: '{root}'}}\n")
    return p


def test_update_then_fallback_to_the_last_cached_dump_then_to_the_bundled_sample(tmp_path, dump_server, capsys):
    cfg_path = _cfg_file(tmp_path, dump_server)
    cfg = load_config(cfg_path)
    # the day's dump from the (loopback) endpoint, through the command
    assert main(["instruments", "update", "--date", "2026-12-03", "-c", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "instrument dump of 2026-12-03: 7 instruments (BFO 1, BSE 1, CDS 1, MCX 1, NFO 1, NSE 2)" in out
    assert "5 bad row(s), 2 duplicate(s), 1 of other exchanges" in out
    store, info = load_master(cfg, date(2026, 12, 3))
    assert info.source == "dump" and info.as_of == date(2026, 12, 3)
    for key in ("NSE:INFY", "BSE:INFY", "NFO:NIFTY26DECFUT", "BFO:SENSEX26D1083000CE", "CDS:USDINR26DECFUT",
                "MCX:GOLD26DECFUT", "NSE:RELIANCE"):  # the bundled sample's symbols stay known
        assert store.find(key) is not None, key
    assert str(store.get("NSE:INFY").tick_size) == "0.1" and store.get("NFO:NIFTY26DECFUT").lot_size == 75
    assert store.by_token(13368834).key == "NFO:NIFTY26DECFUT"

    # the next day the network is down: the update fails loudly and names the fallback
    cfg_down = _cfg_file(tmp_path, "http://127.0.0.1:9", "down.yaml")  # nothing listens on the discard port
    assert main(["instruments", "update", "--date", "2026-12-04", "-c", str(cfg_down)]) == 1
    err = capsys.readouterr().err
    assert "cannot download the instrument dump" in err
    assert "using instead: instrument master: the last cached Kite dump, of 2026-12-03" in err
    store, info = load_master(cfg, date(2026, 12, 4))
    assert info.source == "cached" and info.as_of == date(2026, 12, 3) and store.find("NFO:NIFTY26DECFUT")

    # a damaged parsed copy is rebuilt from the dump itself
    rows = next(cache_dir_for(cfg).glob("*.rows"))
    rows.write_text("garbage")
    store, info = load_master(cfg, date(2026, 12, 4))
    assert info.source == "cached" and store.find("MCX:GOLD26DECFUT") is not None

    # no cache at all: the bundled sample, said so
    for p in cache_dir_for(cfg).iterdir():
        p.unlink()
    store, info = load_master(cfg, date(2026, 12, 4))
    assert info.source == "bundled" and "the bundled sample" in info.message and "instruments update" in info.message
    assert store.find("NFO:NIFTY26DECFUT") is None and store.find("NSE:INFY") is not None
    # a dump of a later day is not used for an earlier one
    assert main(["instruments", "update", "--date", "2026-12-05", "-c", str(cfg_path)]) == 0, capsys.readouterr().err
    assert load_master(cfg, date(2026, 12, 4))[1].source == "bundled"


def test_the_session_and_premarket_say_which_master(tmp_path):
    from tradekit.session import _default_instruments

    cfg = load_config(None, {"data_dir": str(tmp_path / "var")})
    store = _default_instruments(cfg, date(2026, 12, 4))
    assert store.info.source == "bundled"
    InstrumentStore.save_dump(DUMP, cache_dir_for(cfg), date(2026, 12, 4))  # e.g. cached by the live broker
    store = _default_instruments(cfg, date(2026, 12, 4))
    assert store.info.source == "dump" and store.find("CDS:USDINR26DECFUT") is not None


def test_user_named_instruments():
    xyz = user_instrument("NSE:XYZ")
    assert (xyz.key, xyz.lot_size, xyz.instrument_type, xyz.meta["source"]) == ("NSE:XYZ", 1, InstrumentType.EQ, "user")
    # the tick comes from NSE's dated table on the trade date, never a guess
    assert str(tick_size_for(xyz, price=1036.25, on_date=date(2016, 8, 16))) == "0.05"
    assert str(tick_size_for(xyz, price=120, on_date=date(2024, 7, 1))) == "0.01"
    assert xyz.instrument_token < 2**32 and xyz.instrument_token & 0xFF == 0xFF  # no Kite segment: no clash
    assert str(user_instrument("BSE:XYZ:EQ:tick=0.05").tick_size) == "0.05"
    fut = user_instrument("NFO:XYZ26DECFUT:FUT:tick=0.10:lot=500")
    assert (fut.exchange, fut.lot_size, fut.segment.value) == (Exchange.NFO, 500, "NFO-FUT")
    for spec, why in [("XYZ", "EXCHANGE:SYMBOL"), ("NSEIX:XYZ", "not one of"), ("BSE:XYZ", "give tick="),
                      ("NFO:XYZFUT:FUT", "needs its contract's tick= and lot="), ("NSE:XYZ:FUT:tick=1:lot=1", "equities"),
                      ("NSE:XYZ:EQ:tick=-1", "not a positive number"), ("NSE:XYZ:EQ:size=3", "unknown part")]:
        with pytest.raises(ValidationError, match=why):
            user_instrument(spec)


def test_market_instruments_in_the_config_are_checked_and_loaded(tmp_path):
    from tradekit.errors import ConfigError

    cfg = load_config(None, {"data_dir": str(tmp_path / "var"), "market": {"instruments": ["NSE:XYZ", "BSE:ABC:EQ:tick=0.01"]}})
    store, _ = load_master(cfg, date(2026, 12, 4))
    assert store.get("NSE:XYZ").meta["source"] == "user" and str(store.get("BSE:ABC").tick_size) == "0.01"
    with pytest.raises(ConfigError, match="market.instruments"):
        load_config(None, {"market": {"instruments": ["BSE:ABC"]}})


def test_a_lazy_master_answers_by_key_and_token_and_iterates_everything():
    c = check_dump(DUMP.encode())
    s = InstrumentStore.from_rows(c.rows, as_of=date(2026, 12, 4))
    assert len(s) == 7 and sorted(s.keys())[0] == "BFO:SENSEX26D1083000CE"
    assert s.by_token(268009475).multiplier == 1000  # built on demand, with the currency multiplier
    s.add([user_instrument("NSE:INFY:EQ:tick=0.05")])  # a later instrument with the same key wins
    assert s.get("NSE:INFY").meta["source"] == "user" and len(s) == 7
    assert {i.key for i in s} >= {"NSE:INFY", "MCX:GOLD26DECFUT"} and len(list(s)) == 7
    assert "NSE:NIFTY 50" in s and s.get("NSE:NIFTY 50").is_index
