"""Load and validate YAML config files. Every error names the file, the field and the problem."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tradekit.config.schema import TradekitConfig
from tradekit.errors import ConfigError

ENV_CONFIG = "TRADEKIT_CONFIG"
_SECRET_WORDS = ("secret", "password", "access_token", "api_key", "request_token", "totp", "token")
_SECRET_ALLOW = {"tag_prefix", "token_file", "api_key_env", "api_secret_env", "access_token_env", "token_env",
                 "secrets_file"}  # names of places, not secrets


def project_root() -> Path:
    """The repository root when tradekit runs from a checkout (config/ sits beside tradekit/)."""
    return Path(__file__).resolve().parents[2]


def default_config_path() -> Path:
    """``$TRADEKIT_CONFIG``, else ./config/tradekit.yaml, else the project's config/default.yaml."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    for candidate in (Path.cwd() / "config" / "tradekit.yaml", project_root() / "config" / "tradekit.yaml"):
        if candidate.exists():
            return candidate
    return project_root() / "config" / "default.yaml"


MAX_BYTES = 1 << 20  # a config file is a few KB; anything above 1 MiB is not one
MAX_DEPTH = 32  # the schema nests 4 levels; deeper input is not a config
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
         (b"\xfe\xff", "UTF-16"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _decode(raw: bytes, path: Path) -> str:
    """UTF-8 text (a UTF-8 BOM is fine); anything else is refused with what it looks like."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"the file is {name} text; save it as UTF-8", file=str(path))
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise ConfigError(f"the file contains a NUL byte at offset {at}: a binary or UTF-16 file, not UTF-8 YAML",
                          file=str(path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}): "
                          "a binary file, or saved in another encoding", file=str(path)) from None


def _depth_ok(data: Any) -> bool:
    """True when no mapping or list nests deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = list(node.keys()) + list(node.values())
        elif isinstance(node, (list, tuple, set)):
            children = list(node)
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((c, depth + 1) for c in children)
    return True


def _read_yaml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", file=str(path)) from None
    except ValueError as e:  # e.g. a NUL byte in the path
        raise ConfigError(f"not a usable path: {e}", file=repr(str(path))) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"the file is larger than {MAX_BYTES // 1024} KiB: not a config file", file=str(path))
    text = _decode(raw, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e)
        raise ConfigError(_one_line(f"{where}invalid YAML: {problem}"), file=str(path)) from None
    except RecursionError:
        raise ConfigError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels", file=str(path)) from None
    except (ValueError, TypeError, OverflowError) as e:  # a value YAML recognises but cannot build (e.g. 2024-13-45)
        raise ConfigError(_one_line(f"invalid YAML value: {e}"), file=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of settings, a {type(data).__name__} was found", file=str(path))
    if not _depth_ok(data):
        raise ConfigError(f"settings nest deeper than {MAX_DEPTH} levels: not a tradekit config", file=str(path))
    bad = next((k for k in data if not isinstance(k, str)), None)
    if bad is not None:
        raise ConfigError(f"setting names must be text, {bad!r} is a {type(bad).__name__}", file=str(path))
    return data


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _load_layers(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError("extends loops back to itself", file=str(path), field="extends")
    data = _resolve_paths(_read_yaml(path), path.parent)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError("must be a file path", file=str(path), field="extends")
    base = _load_layers((path.parent / base_name), (*seen, path))
    return _deep_merge(base, data)


def _find_secrets(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            dotted = f"{prefix}.{k}" if prefix else str(k)
            kl = str(k).lower()
            if kl not in _SECRET_ALLOW and any(w in kl for w in _SECRET_WORDS) and isinstance(v, (str, int)) and v not in ("", None):
                found.append(dotted)
            found += _find_secrets(v, dotted)
    return found


def _resolve_paths(data: dict, base: Path) -> dict:
    for key in ("data_dir",):
        if key in data and isinstance(data[key], str):
            p = Path(data[key]).expanduser()
            data[key] = str(p if p.is_absolute() else (base / p).resolve())
    return data


def _field_path(loc: tuple) -> str:
    return ".".join(str(x) for x in loc if not (isinstance(x, str) and x.startswith("function-"))) or "(top level)"


def _explain(err: dict, data: dict) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    field = _field_path(loc)
    typ = err.get("type", "")
    if typ == "extra_forbidden":
        parent: Any = data
        for part in loc[:-1]:
            parent = parent.get(part, {}) if isinstance(parent, dict) else {}
        from tradekit.config import schema

        model = schema.TradekitConfig
        for part in loc[:-1]:
            f = model.model_fields.get(str(part))
            model = getattr(f, "annotation", None) if f else None
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                model = None
                break
        known = list(model.model_fields) if model else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        msg = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        if known:
            msg += f"; allowed: {', '.join(k for k in known if k != 'source')}"
        return field, msg
    if typ == "missing":
        return field, "required field is missing"
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = err.get("input")
    if typ not in ("model_type",) and not isinstance(given, (dict, list)) and given is not None:
        msg += f" (given: {given!r})"
    return field, msg


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> TradekitConfig:
    """Load, layer (``extends:``), check for secrets, and validate a config file.

    ``overrides`` is a nested dict applied on top (CLI flags such as ``--mode``).
    """
    path = Path(path) if path is not None else default_config_path()
    try:
        data = _load_layers(path)
    except (ValueError, TypeError, RecursionError, RuntimeError) as e:  # a NUL byte in a path, `~nosuchuser`, ...
        raise ConfigError(_one_line(f"cannot be loaded: {e}"), file=str(path)) from None
    if overrides:
        data = _deep_merge(data, overrides)
    secrets = _find_secrets(data)
    if secrets:
        raise ConfigError(
            "secrets are not allowed in config files; put them in the environment or the secrets file "
            "(see README, 'Secrets')",
            file=str(path),
            field=secrets[0],
        )
    try:
        cfg = TradekitConfig.model_validate(data)
    except (RuntimeError, TypeError, RecursionError) as e:  # a validator meeting input no schema foresaw
        raise ConfigError(_one_line(f"cannot be validated: {e}"), file=str(path)) from None
    except PydanticValidationError as e:
        errors = e.errors()
        field, msg = _explain(errors[0], data)
        field, msg = _one_line(field), _one_line(msg)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(msg + more, file=str(path), field=field) from None
    return cfg.model_copy(update={"source": str(path.resolve())})


def config_hash(cfg: TradekitConfig) -> str:
    """A stable hash of the effective config (for run manifests)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
