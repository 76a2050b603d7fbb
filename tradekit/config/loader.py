"""Load and validate YAML config files. Every error names the file, the field and the problem."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
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
                 "secrets_file", "token_expiry_warn_minutes"}  # names of places or settings, not secrets
# alert channels name the secret that holds their credential (``url_secret: TRADEKIT_SLACK_WEBHOOK``):
# a name of an environment variable there is allowed; anything else (a pasted token) is refused
_SECRET_NAME_FIELDS = ("url_secret", "hmac_secret", "password_secret", "token_secret")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def default_config_path() -> Path:
    """The config a command uses without ``-c``: ``$TRADEKIT_CONFIG``, else the workspace in the
    current folder (``./tradekit.yaml``), else ``./config/tradekit.yaml``, else the packaged
    ``default.yaml``."""
    from tradekit.resources import MARKER, packaged

    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    for candidate in (Path.cwd() / MARKER, Path.cwd() / "config" / "tradekit.yaml"):
        if candidate.is_file():
            return candidate
    return packaged("config", "default.yaml")


def _base_path(base_name: str, here: Path) -> Path:
    """An ``extends:`` target: ``tradekit:NAME`` is a packaged config, anything else a path
    relative to the extending file."""
    from tradekit.resources import PACKAGED_PREFIX, packaged

    if base_name.startswith(PACKAGED_PREFIX):
        name = base_name[len(PACKAGED_PREFIX):].strip()
        path = packaged("config", name)
        if not name or "/" in name or not path.is_file():
            raise ConfigError(f"{base_name!r}: no such packaged config (tradekit ships default.yaml, demo.yaml, "
                              "live.example.yaml)", file=str(here), field="extends")
        return path
    return here.parent / Path(base_name).expanduser()


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
    base = _load_layers(_base_path(base_name, path), (*seen, path))
    return _deep_merge(base, data)


def _find_secrets(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            dotted = f"{prefix}.{k}" if prefix else str(k)
            kl = str(k).lower()
            if kl in _SECRET_NAME_FIELDS and isinstance(v, str) and _ENV_NAME.fullmatch(v):
                pass
            elif kl not in _SECRET_ALLOW and any(w in kl for w in _SECRET_WORDS) and isinstance(v, (str, int)) and v not in ("", None):
                found.append(dotted)
            found += _find_secrets(v, dotted)
    return found


def _resolve_paths(data: dict, base: Path) -> dict:
    """Relative paths in a config file are relative to that file: ``data_dir``, ``runs.root``,
    ``runs.signals``."""
    def fix(d: dict, key: str) -> None:
        if key in d and isinstance(d[key], str):
            p = Path(d[key]).expanduser()
            d[key] = str(p if p.is_absolute() else (base / p).resolve())

    fix(data, "data_dir")
    runs = data.get("runs")
    if isinstance(runs, dict):
        runs = data["runs"] = dict(runs)
        fix(runs, "root")
        fix(runs, "signals")
    return data


def _refuse_package_dir(cfg: TradekitConfig, path: Path) -> None:
    """An installed tradekit never writes into its own package folder: the packaged default config
    alone (no workspace) would put the journal there, so it is refused with what to do instead."""
    from tradekit.resources import installed_copy, package_dir

    if not installed_copy():
        return
    pkg = package_dir().resolve()
    if Path(cfg.data_dir).expanduser().resolve().is_relative_to(pkg):
        raise ConfigError(f"no workspace: data_dir {cfg.data_dir} is inside the installed tradekit package; "
                          "create one with `tradekit init DIR`, then run from DIR or pass -c DIR/tradekit.yaml "
                          "(or set $TRADEKIT_CONFIG)", file=str(path), field="data_dir")


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
    data = _account_from_env(data)
    if overrides:
        data = _deep_merge(data, overrides)
    secrets = _find_secrets(data)
    if secrets:
        msg = ("secrets are not allowed in config files; put them in the environment or the secrets file "
               "(see README, 'Secrets')")
        err = ConfigError(msg, file=str(path), field=secrets[0])
        err.problems = [(f, msg) for f in secrets]
        raise err
    try:
        cfg = TradekitConfig.model_validate(data)
    except (RuntimeError, TypeError, RecursionError) as e:  # a validator meeting input no schema foresaw
        raise ConfigError(_one_line(f"cannot be validated: {e}"), file=str(path)) from None
    except PydanticValidationError as e:
        problems = [tuple(map(_one_line, _explain(x, data))) for x in e.errors()]
        field, msg = problems[0]
        n = len(problems) - 1
        more = f" (and {n} more problem{'s' if n > 1 else ''}: tradekit config check lists them)" if n else ""
        err = ConfigError(msg + more, file=str(path), field=field)
        err.problems = problems  # every (field, problem), for `tradekit config check`
        raise err from None
    _refuse_package_dir(cfg, path)
    return cfg.model_copy(update={"source": str(path.resolve()), "runs": _absolute_runs(cfg, path)})


ENV_ACCOUNT = "TRADEKIT_ACCOUNT"


def _account_from_env(data: dict) -> dict:
    """``$TRADEKIT_ACCOUNT`` sets ``store.account`` (``tradekit serve --account`` passes it to the
    dashboards' kernels this way); a command's ``--account`` overrides both."""
    acct = os.environ.get(ENV_ACCOUNT)
    if not acct:
        return data
    from tradekit.account_id import validate
    from tradekit.errors import ValidationError

    try:
        validate(acct)
    except ValidationError as e:
        raise ConfigError(f"{e.reason} (from ${ENV_ACCOUNT})", field="store.account") from None
    return _deep_merge(data, {"store": {"account": acct}})


def _absolute_runs(cfg: TradekitConfig, path: Path):
    """``runs.root``/``runs.signals`` as absolute paths: a path a config file gives is already
    relative to that file; the default ``runs`` folder is the workspace's (the config's folder holds
    ``tradekit.yaml``), else under the current folder."""
    from tradekit.resources import workspace_of

    runs = cfg.runs
    base = workspace_of(path) or Path.cwd()
    update = {}
    if not runs.root.expanduser().is_absolute():
        update["root"] = (base / runs.root.expanduser()).resolve()
    if runs.signals is not None and not runs.signals.expanduser().is_absolute():
        update["signals"] = (Path.cwd() / runs.signals.expanduser()).resolve()
    return runs.model_copy(update=update) if update else runs


def config_hash(cfg: TradekitConfig) -> str:
    """A stable hash of the effective config (for run manifests)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
