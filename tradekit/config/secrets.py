"""Secrets: from the environment or a secrets file outside git; never from YAML, never logged.

The secrets file is ``KEY=VALUE`` lines (``#`` comments allowed) and must be readable only by
its owner (mode 0600), the way ssh treats private keys. Values are held as
:class:`pydantic.SecretStr`, so ``repr`` and notebook displays show ``**********``, and
:func:`install_redaction` masks any of them that reaches a tradekit log record.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from tradekit.errors import SecretError

KNOWN = ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN", "TRADEKIT_SIGNAL_TOKEN", "TRADEKIT_DASHBOARD_TOKEN",
         "TRADEKIT_ALERT_WEBHOOK", "TRADEKIT_TELEGRAM_TOKEN", "TRADEKIT_SLACK_WEBHOOK", "TRADEKIT_SMTP_PASSWORD")


def _read_secrets_file(path: Path) -> dict[str, str]:
    path = path.expanduser()
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise SecretError(f"{path}, line {n}: expected KEY=VALUE")
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip().strip("'\"")
    return out


@dataclass
class Secrets:
    values: dict[str, SecretStr] = field(default_factory=dict)

    @classmethod
    def load(cls, secrets_file: str | Path | None = None, environ: dict | None = None) -> "Secrets":
        env = os.environ if environ is None else environ
        merged: dict[str, str] = {}
        if secrets_file is not None:
            merged.update(_read_secrets_file(Path(secrets_file)))
        for k in KNOWN:
            if env.get(k):
                merged[k] = env[k]  # the environment wins over the file
        return cls({k: SecretStr(v) for k, v in merged.items() if v})

    def get(self, name: str) -> str | None:
        v = self.values.get(name)
        return v.get_secret_value() if v is not None else None

    def require(self, name: str, why: str = "") -> str:
        v = self.get(name)
        if not v:
            raise SecretError(f"{name} is not set{': ' + why if why else ''}; set it in the environment or the secrets file")
        return v

    def __repr__(self) -> str:
        return f"Secrets({', '.join(sorted(self.values))})"


class RedactingFilter(logging.Filter):
    """Replace any known secret value in a log record with ``***``."""

    def __init__(self, values: list[str]):
        super().__init__()
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        msg = record.getMessage()
        red = msg
        for v in self.values:
            red = red.replace(v, "***")
        if red != msg:
            record.msg, record.args = red, None
        return True


def install_redaction(secrets: Secrets, logger_name: str = "tradekit") -> RedactingFilter:
    flt = RedactingFilter([s.get_secret_value() for s in secrets.values.values()])
    logger = logging.getLogger(logger_name)
    for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
        logger.removeFilter(old)
    logger.addFilter(flt)
    for h in logging.getLogger().handlers:
        h.addFilter(flt)
    return flt
