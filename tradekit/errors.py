"""The tradekit error tree.

Business outcomes (a risk denial, a broker rejection) are values and events, never
exceptions. Exceptions are for things that stop an operation::

    TradekitError
    ├── ConfigError            a config file or value is wrong (names the file and the field)
    ├── SecretError            a secret is missing, unreadable or stored unsafely
    ├── ValidationError        a value handed to tradekit is malformed (names the field)
    │   └── MarketRuleError    breaks an exchange rule: tick, lot, band, freeze, unknown symbol
    ├── IllegalTransition      an order state change the state machine does not allow
    ├── DataError              a data file is missing or malformed
    ├── StoreError             the journal cannot be read or written
    │   └── AuditError         the audit chain does not verify
    ├── BrokerError            anything that went wrong talking to a broker
    │   ├── BrokerUnavailable  transient: network, 5xx, rate limit (retryable when safe)
    │   ├── BrokerRejected     the broker refused the request (not retryable)
    │   ├── AuthExpired        the broker session is gone: log in again
    │   └── AmbiguousOrderState  the outcome of a placement is unknown: look it up, never resend
    └── TradingHalted          the session refuses new orders (kill switch, breaker, mismatch)
"""

from __future__ import annotations


class TradekitError(Exception):
    """Base of every error tradekit raises on purpose."""


class ConfigError(TradekitError):
    """A config file or value is wrong.

    The message names the file, the field (dotted path) and what is wrong.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        self.file = file
        self.field = field
        self.reason = message
        parts = [p for p in (file, field) if p]
        super().__init__(": ".join([*parts, message]) if parts else message)


class SecretError(TradekitError):
    """A secret is missing, unreadable, or stored where it must not be."""


class ValidationError(TradekitError, ValueError):
    """A value handed to tradekit is malformed; ``field`` names it."""

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class MarketRuleError(ValidationError):
    """A request breaks an exchange or broker rule (tick, lot, band, freeze, unknown symbol)."""


class IllegalTransition(TradekitError):
    """An order state change that the order state machine does not allow."""


class DataError(TradekitError):
    """A market-data or reference-data file is missing or malformed."""


class StoreError(TradekitError):
    """The journal cannot be read or written."""


class AuditError(StoreError):
    """The audit hash chain does not verify."""


class BrokerError(TradekitError):
    """Something went wrong talking to a broker. ``broker_message`` keeps its own words."""

    retryable: bool = False

    def __init__(self, message: str, *, broker_message: str | None = None, code: int | None = None):
        self.broker_message = broker_message
        self.code = code
        super().__init__(message)


class BrokerUnavailable(BrokerError):
    """Transient failure (network, 5xx, 429). Retry only what cannot duplicate an order."""

    retryable = True


class BrokerRejected(BrokerError):
    """The broker refused the request."""


class AuthExpired(BrokerError):
    """The broker session is invalid or expired; the user must log in again."""


class AmbiguousOrderState(BrokerError):
    """A placement's outcome is unknown (timeout, dropped connection, 5xx).

    The order is left UNKNOWN and resolved by looking it up by its tag, never by resending.
    """


class TradingHalted(TradekitError):
    """The session refuses new orders: kill switch, circuit breaker or unresolved mismatch."""
