"""MkDocs hook: the config reference page is generated from the pydantic models of
``tradekit.config.schema`` at every build, so it cannot drift from the code.

A page containing the line ``<!-- config-reference -->`` gets it replaced by one table per section:
every field, its type, its default, its description and a YAML example.
"""

from __future__ import annotations

import json
import re
import types
import typing
from enum import Enum
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MARK = "<!-- config-reference -->"


def _type_name(t) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(t))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(t))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(t))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if t is type(None):
        return "null"
    return getattr(t, "__name__", str(t))


def _model_of(t):
    for cand in (t, *typing.get_args(t)):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, Path):
        return str(v)
    try:
        return json.loads(json.dumps(v, default=str))
    except (TypeError, ValueError):
        return str(v)


def _default(field):
    if field.default_factory is not None:
        try:
            return _plain(field.default_factory())
        except TypeError:
            return "(computed)"
    if field.default is PydanticUndefined:
        return "(required)"
    return _plain(field.default)


def _documented(model) -> dict[str, str]:
    """Field descriptions from the model's numpy-style docstring: ``name : type`` lines anywhere, or
    bare ``name`` lines inside a ``Parameters`` / ``Attributes`` section, each followed by its
    indented description."""
    out: dict[str, str] = {}
    lines = (model.__doc__ or "").splitlines()
    section_indent = None  # the indent of the entries of a Parameters/Attributes section we are in
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped in ("Parameters", "Attributes") and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            section_indent = indent
            continue
        if section_indent is not None and stripped and indent < section_indent:
            section_indent = None
        m = re.match(r"^\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s+:\s+\S", line)
        if not m and section_indent is not None and indent == section_indent:
            m = re.match(r"^\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*$", line)
        if not m:
            continue
        text = []
        for nxt in lines[i + 1:]:
            if not nxt.strip() or len(nxt) - len(nxt.lstrip()) <= indent:
                break
            text.append(nxt.strip())
        if text:
            for name in (n.strip() for n in m.group(1).split(",")):
                out[name] = " ".join(text)
    return out


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _section(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    rows, subs = [], []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        sub = _model_of(field.annotation)
        if sub is not None and typing.get_origin(field.annotation) is None:
            subs.append((name, sub))
            continue
        dflt = _default(field)
        shown = json.dumps(dflt, ensure_ascii=False) if not isinstance(dflt, str) or dflt.startswith("(") is False else dflt
        rows.append(f"| `{name}` | `{_cell(_type_name(field.annotation))}` | `{_cell(shown)}` | "
                    f"{_cell(field.description or _documented(model).get(name, ''))} |")
    if rows:
        title = prefix or "top level"
        out.append(f"\n### `{title}`\n")
        doc = (model.__doc__ or "").strip().split("\n\n")[0].strip()
        if doc and prefix:
            out.append(" ".join(doc.split()) + "\n")
        out.append("| field | type | default | description |\n|---|---|---|---|")
        out.extend(rows)
        example = {}
        for name, field in model.model_fields.items():
            if field.exclude or (_model_of(field.annotation) is not None and typing.get_origin(field.annotation) is None):
                continue
            d = _default(field)
            if d not in ("(required)", "(computed)"):
                example[name] = d
        if example:
            nested = example
            for part in reversed(prefix.split(".")) if prefix else []:
                nested = {part: nested}
            out.append("\nExample (the defaults):\n\n```yaml\n" + yaml.safe_dump(nested, sort_keys=False,
                                                                                 allow_unicode=True).rstrip() + "\n```")
    for name, sub in subs:
        _section(sub, f"{prefix}.{name}" if prefix else name, out)


def config_reference() -> str:
    from tradekit.config.schema import TradekitConfig

    out: list[str] = []
    _section(TradekitConfig, "", out)
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs hook
    if MARK in markdown:
        return markdown.replace(MARK, config_reference())
    return markdown
