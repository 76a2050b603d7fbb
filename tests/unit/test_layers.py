"""The layers of design.md: the domain knows no storage, broker or wiring; the gate, the OMS and
the store know no broker implementation (only the protocol in ``tradekit.brokers.base``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "tradekit"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _files(*parts: str) -> list[Path]:
    out = []
    for p in parts:
        target = PKG / p
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return out


@pytest.mark.parametrize("path", _files("model"), ids=lambda p: str(p.relative_to(PKG)))
def test_the_domain_knows_no_storage_broker_or_wiring(path):
    bad = {m for m in _imports(path) if m.startswith(("tradekit.store", "tradekit.brokers", "tradekit.session",
                                                       "tradekit.execution", "tradekit.risk", "sqlalchemy", "kiteconnect"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("risk", "execution", "store"), ids=lambda p: str(p.relative_to(PKG)))
def test_gate_oms_and_store_know_no_broker_implementation(path):
    bad = {m for m in _imports(path) if m.startswith("tradekit.brokers") and m != "tradekit.brokers.base"}
    bad |= {m for m in _imports(path) if m.startswith("kiteconnect")}
    assert not bad, f"{path.name} imports {sorted(bad)}"
