"""The gate's decisions do not change when it is made faster (issue 20).

``tests/fixtures/risk/gate_decisions.txt`` holds, for the benchmark's orders
(``benchmarks/bench_risk_gate.py``: a book of 50 positions, 20 working orders, a VaR model,
lists, an F&O future; LIMIT/MARKET/SL, MIS/CNC/NRML, refusals of many kinds), one line per
decision: allowed, reduce-only, slicing, retry, state, the failed codes and a digest of every
check (code, ok, message, value, limit). It was written by the gate of commit 81d344a, before
the latency work; the gate must still give exactly these decisions, in the static and the
session scenario (marks of the whole book between orders, through ``RiskManager.on_event``),
with the OMS's funds account, and in REDUCING and HALTED (with risk-layer sources).

Regenerate (only for an intended change of behaviour, said in the commit):
``python -m tests.unit.risk.test_gate_decisions --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "risk" / "gate_decisions.txt"

# (name, benchmark scenario, orders, state set after the set-up, sources cycled through)
CASES = (
    ("static", "static", 1000, None, ("signal",)),
    ("session", "session", 1500, None, ("signal",)),
    ("account", "session+account", 600, None, ("signal",)),
    ("reducing", "session", 600, "REDUCING", ("signal", "manual")),
    ("halted", "session", 600, "HALTED", ("signal", "square_off", "kill_switch")),
)


def _r(v):
    return None if v is None else round(float(v), 6)


def _line(i: int, d) -> str:
    checks = json.dumps([[c.code, bool(c.ok), c.message, _r(c.value), _r(c.limit)] for c in d.checks],
                        ensure_ascii=False)
    digest = hashlib.sha256(checks.encode()).hexdigest()[:12]
    retry = None if d.retry_after is None else round(d.retry_after, 6)
    return (f"{i} {int(d.allowed)} {int(d.reduce_only)} {d.needs_slicing} {retry} {d.state} "
            f"{','.join(d.codes) or '-'} {digest}")


def decision_lines() -> list[str]:
    from benchmarks.bench_risk_gate import drive

    out = []
    for name, scenario, n, state, sources in CASES:
        it = drive(scenario, n)
        _, risk, _book = next(it)
        if state is not None:
            risk.gate.set_state(state, cause="test", by="test", reason="decisions test")
        for i, (check, order, ctx) in enumerate(it):
            ctx.source = sources[i % len(sources)]
            out.append(f"{name} {_line(i, check(order, ctx))}")
    return out


def test_the_gate_decides_as_before_on_the_benchmark_orders():
    want = GOLDEN.read_text().splitlines()
    got = decision_lines()
    assert len(got) == len(want)
    diff = [(w, g) for w, g in zip(want, got) if w != g]
    assert not diff, f"{len(diff)} decisions changed, first: want {diff[0][0]!r}, got {diff[0][1]!r}"


def test_the_golden_decisions_cover_refusals_of_many_kinds():
    lines = GOLDEN.read_text().splitlines()
    codes = {c for ln in lines for c in ln.split()[7].split(",") if c != "-"}
    assert {"ORDER_VALUE", "POSITION_VALUE", "CONCENTRATION", "GROSS", "NET", "DAILY_LOSS", "CNC_HOLDINGS",
            "STATE", "FUNDS"} <= codes, codes
    allowed = sum(ln.split()[2] == "1" for ln in lines)
    assert 0.3 < allowed / len(lines) < 0.95


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text("\n".join(decision_lines()) + "\n")
        print(f"wrote {GOLDEN}")
