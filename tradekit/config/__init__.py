"""Configuration: YAML files validated on load, secrets from the environment."""

from tradekit.config.loader import config_hash, default_config_path, load_config
from tradekit.config.schema import TradekitConfig
from tradekit.config.secrets import Secrets, install_redaction

__all__ = ["Secrets", "TradekitConfig", "config_hash", "default_config_path", "install_redaction", "load_config"]
