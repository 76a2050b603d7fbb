"""Every way a ``kiteconnect`` call can fail, turned into one of tradekit's errors.

Use :func:`kite_errors` around each call into the official client::

    with kite_errors("place order TK2601010010001", placement=True, response=last_response):
        order_id = kite.place_order(...)

Ordinary calls map as follows (``code`` is the HTTP status the client saw):

==================================  ======================================================
what happened                       tradekit error
==================================  ======================================================
TokenException                      AuthExpired ("log in again")
InputException, OrderException      BrokerRejected (4xx); BrokerUnavailable (5xx)
PermissionException                 BrokerRejected
NetworkException                    BrokerUnavailable (429 is the rate limit)
DataException                       BrokerUnavailable
GeneralException (Margin, Holding,  BrokerRejected for 4xx, BrokerUnavailable for 5xx
User, TwoFA arrive as this)
client trap: KeyError (no           BrokerUnavailable ("response without a content type")
Content-Type), TypeError (error
body without ``error_type``)
requests Timeout / ConnectionError  BrokerUnavailable
==================================  ======================================================

Placement (``placement=True``) is stricter, because an order that may exist must never be
sent again. Only outcomes that prove the order was *not* placed keep the errors above:
a 4xx refusal with an error type (BrokerRejected), a 403 TokenException (AuthExpired), a
429 (BrokerUnavailable), a connect timeout or a refused connection (the request never left,
BrokerUnavailable). Everything else (a read timeout, a connection dropped after sending, any
5xx, a DataException, an unreadable or content-type-less answer) is
:class:`~tradekit.errors.AmbiguousOrderState`: look the order up by its tag.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from tradekit.errors import AmbiguousOrderState, AuthExpired, BrokerError, BrokerRejected, BrokerUnavailable

try:
    import requests
    from kiteconnect import exceptions as kex
except ImportError as e:  # pragma: no cover - kiteconnect is a declared dependency
    raise ImportError("the Kite broker needs the `kiteconnect` package: pip install 'kiteconnect>=5.2.2'") from e

log = logging.getLogger(__name__)

RELOGIN = "Kite session expired: log in again with `tradekit kite login`"

# Every class in kiteconnect.exceptions -> the tradekit error it becomes outside placement.
# (A test walks the module so that a new class in a client upgrade cannot go unmapped.)
KITE_EXCEPTION_MAP: dict[type, type[BrokerError]] = {
    kex.TokenException: AuthExpired,
    kex.InputException: BrokerRejected,
    kex.OrderException: BrokerRejected,
    kex.PermissionException: BrokerRejected,
    kex.NetworkException: BrokerUnavailable,
    kex.DataException: BrokerUnavailable,
    kex.GeneralException: BrokerRejected,
    kex.KiteException: BrokerRejected,
}

# requests errors raised before anything was sent: the server cannot have acted on them.
_NOT_SENT = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    requests.exceptions.ProxyError,
)


def _never_connected(exc: BaseException) -> bool:
    """True when a ConnectionError happened while connecting (refused, DNS), not after sending."""
    import urllib3.exceptions as u3

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (u3.NewConnectionError, u3.NameResolutionError, ConnectionRefusedError)):
            return True
        if isinstance(e, u3.MaxRetryError):
            todo.append(e.reason)
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        todo.append(e.__cause__)
        todo.append(e.__context__)
    return False


def map_exception(
    exc: BaseException, op: str, *, placement: bool = False, http_status: int | None = None
) -> BrokerError | None:
    """Translate ``exc`` from a call for ``op`` into a tradekit error (``None``: not ours to map).

    Parameters
    ----------
    exc
        What the official client raised.
    op
        Names the operation in the message ("place order TK...", "fetch the order book").
    placement
        Apply the placement rules: anything that might have placed the order is ambiguous.
    http_status
        The HTTP status of the last response, when known (for the client's traps, which
        lose it).
    """
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, kex.KiteException):
        msg = str(exc)
        code = getattr(exc, "code", None) or http_status
        if isinstance(exc, kex.TokenException):
            return AuthExpired(f"{RELOGIN} ({op}: {msg})", broker_message=msg, code=code)
        if code == 429:
            return BrokerUnavailable(f"{op}: Kite's rate limit was hit (429): {msg}", broker_message=msg, code=code)
        server_side = code is None or code >= 500
        if placement and (server_side or isinstance(exc, kex.DataException)):
            return AmbiguousOrderState(
                f"{op}: outcome unknown after HTTP {code} {type(exc).__name__}: {msg}; look it up by tag, do not resend",
                broker_message=msg, code=code,
            )
        if isinstance(exc, (kex.NetworkException, kex.DataException)) or server_side:
            return BrokerUnavailable(f"{op}: Kite is unavailable ({type(exc).__name__} {code}): {msg}", broker_message=msg, code=code)
        cls = KITE_EXCEPTION_MAP.get(type(exc), BrokerRejected)
        return cls(f"{op}: Kite refused it ({type(exc).__name__}): {msg}", broker_message=msg, code=code)
    if isinstance(exc, (KeyError, TypeError)):
        # The client's traps: KeyError = a response without Content-Type (or without "data"),
        # TypeError = an error body without error_type. The server did answer, so the
        # request arrived; only a 4xx proves it was refused.
        what = "a response without a content type" if isinstance(exc, KeyError) else "an error response without an error type"
        if http_status is not None and 400 <= http_status < 500 and http_status != 429:
            if http_status == 403:
                return AuthExpired(f"{RELOGIN} ({op}: HTTP 403, {what})", code=http_status)
            return BrokerRejected(f"{op}: Kite refused it (HTTP {http_status}, {what})", code=http_status)
        if http_status == 429:
            return BrokerUnavailable(f"{op}: Kite's rate limit was hit (429, {what})", code=429)
        if placement:
            return AmbiguousOrderState(
                f"{op}: outcome unknown after {what} (HTTP {http_status}); look it up by tag, do not resend", code=http_status
            )
        return BrokerUnavailable(f"{op}: Kite sent {what} (HTTP {http_status})", code=http_status)
    if isinstance(exc, requests.exceptions.RequestException):
        kind = type(exc).__name__
        if isinstance(exc, _NOT_SENT) or (isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc)):
            return BrokerUnavailable(f"{op}: could not reach Kite ({kind}); nothing was sent")
        if placement:
            return AmbiguousOrderState(f"{op}: outcome unknown after {kind} ({exc}); look it up by tag, do not resend")
        return BrokerUnavailable(f"{op}: Kite did not answer ({kind}: {exc})")
    if isinstance(exc, (ConnectionError, TimeoutError)):  # raw socket errors from a custom transport
        if placement:
            return AmbiguousOrderState(f"{op}: outcome unknown after {type(exc).__name__}; look it up by tag, do not resend")
        return BrokerUnavailable(f"{op}: {type(exc).__name__}: {exc}")
    return None


@contextlib.contextmanager
def kite_errors(op: str, *, placement: bool = False, response: Callable[[], int | None] | None = None) -> Iterator[None]:
    """Run a ``kiteconnect`` call, re-raising its failures as tradekit errors.

    ``response`` returns the HTTP status of the call's response when one arrived (the
    broker records it with a ``requests`` hook); it decides the client's traps.
    """
    try:
        yield
    except Exception as exc:
        status = response() if response is not None else None
        mapped = map_exception(exc, op, placement=placement, http_status=status)
        if mapped is None or mapped is exc:
            raise
        log.warning("%s", mapped)
        raise mapped from exc
