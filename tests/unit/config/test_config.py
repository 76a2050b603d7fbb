"""Config errors name the file, the field and what is wrong — one test per kind."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tradekit.config import Secrets, install_redaction, load_config
from tradekit.errors import ConfigError, SecretError

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path, text: str, name="cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_default_config_is_paper_with_no_account(tmp_path):
    cfg = load_config(ROOT / "config" / "default.yaml")
    assert cfg.mode == "paper" and not cfg.is_live
    assert cfg.store_url().startswith("sqlite:///")


def test_live_example_is_valid_and_manual(tmp_path):
    cfg = load_config(ROOT / "config" / "live.example.yaml")
    assert cfg.mode == "live" and cfg.approval.mode == "manual"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found") as e:
        load_config(tmp_path / "nope.yaml")
    assert e.value.file.endswith("nope.yaml")


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    p = write(tmp_path, "mode: paper\naccount:\n  capital: [1, 2\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML") as e:
        load_config(p)
    assert e.value.file == str(p)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_unknown_field_suggests_the_right_one(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "account:\n  captial: 100\n"))
    assert e.value.field == "account.captial"
    assert "did you mean 'capital'" in str(e.value)


def test_wrong_type_names_field_and_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "account:\n  capital: lots\n"))
    assert e.value.field == "account.capital" and "'lots'" in str(e.value)


def test_out_of_range_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "approval:\n  ttl_seconds: -5\n"))
    assert e.value.field == "approval.ttl_seconds" and "greater than 0" in str(e.value)


def test_bad_choice(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "mode: yolo\n"))
    assert e.value.field == "mode" and "'paper' or 'live'" in str(e.value)


def test_market_protection_zero_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="0 is rejected by Kite") as e:
        load_config(write(tmp_path, "orders:\n  market_protection: 0\n"))
    assert e.value.field == "orders.market_protection"


@pytest.mark.parametrize("text, field", [
    ("kite:\n  api_secret: abcdef123456\n", "kite.api_secret"),
    ("access_token: xyz\n", "access_token"),
    ("alerts:\n  telegram_token: 123:abc\n", "alerts.telegram_token"),
])
def test_secrets_in_yaml_are_refused(tmp_path, text, field):
    with pytest.raises(ConfigError, match="secrets are not allowed") as e:
        load_config(write(tmp_path, text))
    assert e.value.field == field


def test_live_needs_two_switches(tmp_path):
    with pytest.raises(ConfigError, match="live.allowed"):
        load_config(write(tmp_path, "mode: live\n"))


def test_live_with_auto_approval_needs_its_own_switch(tmp_path):
    with pytest.raises(ConfigError, match="allow_auto_in_live"):
        load_config(write(tmp_path, "mode: live\nlive:\n  allowed: true\napproval:\n  mode: auto\n"))


def test_extends_layers_and_resolves_paths_relative_to_the_file(tmp_path):
    base = write(tmp_path, "account:\n  capital: 500000\n  name: base\ndata_dir: data\n", "base.yaml")
    sub = tmp_path / "sub"
    sub.mkdir()
    p = write(sub, f"extends: {base}\naccount:\n  name: child\n")
    cfg = load_config(p)
    assert cfg.account.capital == 500000 and cfg.account.name == "child"
    assert cfg.data_dir == (tmp_path / "data").resolve()


def test_extends_loop_is_an_error(tmp_path):
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")


def test_overrides_apply_on_top(tmp_path):
    cfg = load_config(ROOT / "config" / "default.yaml", {"approval": {"mode": "manual"}})
    assert cfg.approval.mode == "manual"


# -- secrets -------------------------------------------------------------------------------

def test_secrets_come_from_env_and_file_and_are_masked(tmp_path):
    f = tmp_path / "secrets.env"
    f.write_text("# kite\nKITE_API_KEY=filekey\nKITE_API_SECRET='s3cr3tvalue'\n")
    os.chmod(f, 0o600)
    s = Secrets.load(f, environ={"KITE_API_KEY": "envkey"})
    assert s.get("KITE_API_KEY") == "envkey" and s.get("KITE_API_SECRET") == "s3cr3tvalue"
    assert "s3cr3tvalue" not in repr(s) and "envkey" not in repr(s)


def test_secrets_file_readable_by_others_is_refused(tmp_path):
    f = tmp_path / "secrets.env"
    f.write_text("KITE_API_SECRET=abc\n")
    os.chmod(f, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        Secrets.load(f, environ={})


def test_missing_secret_says_where_to_put_it():
    with pytest.raises(SecretError, match="KITE_API_SECRET is not set"):
        Secrets.load(None, environ={}).require("KITE_API_SECRET", "needed for live login")


def test_secret_values_are_redacted_from_tradekit_logs(tmp_path, caplog):
    s = Secrets.load(None, environ={"KITE_ACCESS_TOKEN": "tok_0123456789abcdef"})
    flt = install_redaction(s)
    log = logging.getLogger("tradekit.test")
    try:
        with caplog.at_level(logging.INFO, logger="tradekit"):
            caplog.handler.addFilter(flt)
            log.info("connecting with %s", "tok_0123456789abcdef")
        assert "tok_0123456789abcdef" not in caplog.text and "***" in caplog.text
    finally:
        logging.getLogger("tradekit").removeFilter(flt)


def test_secrets_file_is_a_path_not_a_secret(tmp_path):
    cfg = load_config(write(tmp_path, "secrets_file: ~/.config/tradekit/secrets.env\n"))
    assert str(cfg.secrets_file).endswith("secrets.env")
