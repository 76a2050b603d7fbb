"""Any file handed to the config loader gives a config or one ConfigError line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tradekit.config import load_config
from tradekit.errors import ConfigError

NASTY = {
    "binary": bytes(range(256)) * 2,
    "utf16": "mode: paper\napproval: {mode: manual}\n".encode("utf-16"),
    "utf16-no-bom": "mode: paper\n".encode("utf-16-le"),
    "nul": b"mode: pa\x00per\n",
    "latin1": "account: {name: caf\xe9}\n".encode("latin-1"),
    "deep-list": b"[" * 5000 + b"]" * 5000,
    "deep-map": b"a: " + b"{a: " * 3000 + b"1" + b"}" * 3000,
    "bad-date": b"a: 2024-13-45\n",
    "int-keys": b"1: 2\n",
    "odd-key": b'"mo\\nde": paper\n',
    "nul-extends": b'extends: "a\\0b.yaml"\n',
    "nul-data-dir": b'data_dir: "a\\0b"\n',
    "unknown-home": b"data_dir: ~nosuchuser-x/var\n",
    "unknown-home-extends": b"extends: ~nosuchuser-x/base.yaml\n",
    "anchor-bomb": b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
}


def _load(tmp_path, raw: bytes):
    p = tmp_path / "cfg.yaml"
    p.write_bytes(raw)
    return load_config(p)


@pytest.mark.parametrize("kind", sorted(NASTY))
def test_a_nasty_file_is_one_config_error(tmp_path, kind):
    try:
        _load(tmp_path, NASTY[kind])
    except ConfigError as e:
        assert "\n" not in str(e) and e.file  # one line, naming the file (this one, or the one it extends)


@pytest.mark.parametrize("kind", ["binary", "utf16", "nul", "deep-list", "deep-map"])
def test_config_check_prints_one_line_and_exits_2(tmp_path, kind):
    p = tmp_path / "cfg.yaml"
    p.write_bytes(NASTY[kind])
    r = subprocess.run([sys.executable, "-m", "tradekit", "config", "check", "-c", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=400),
                     st.text(max_size=300).map(lambda t: t.encode("utf-8")),
                     st.lists(st.sampled_from([b"mode: ", b"paper", b"{", b"}", b"[", b"]", b"\n", b"  ", b"- ",
                                               b"approval:", b"&a ", b"*a", b"!!python/object ", b"\x00", b"\xff",
                                               b"2024-13-45", b"data_dir: ", b"extends: ", b"~!", b"secrets_file: ", b"'", b'"', b":", b",",
                                               b"? ", b"1e999", b"~"]), max_size=40).map(b"".join)))
def test_loading_any_bytes_raises_nothing_but_a_config_error(tmp_path, raw):
    try:
        _load(tmp_path, raw)
    except ConfigError as e:
        assert "\n" not in str(e)
