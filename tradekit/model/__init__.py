"""Domain value types, enums and the order state machine."""

from tradekit.model.charges import COMPONENTS as CHARGE_COMPONENTS
from tradekit.model.charges import NO_CHARGES, Charges
from tradekit.model.enums import (
    ApprovalMode,
    Exchange,
    InstrumentType,
    OrderType,
    Product,
    Segment,
    Side,
    TradingMode,
    Validity,
    Variety,
)
from tradekit.model.fill import Fill
from tradekit.model.instrument import Instrument
from tradekit.model.money import ZERO, dec, fmt_inr, paise, rupee
from tradekit.model.order import (
    KITE_STATUS_MAP,
    MAX_MODIFICATIONS,
    MAX_TAG_LENGTH,
    TERMINAL,
    TRANSITIONS,
    ClientOrderIdGenerator,
    Order,
    OrderRequest,
    OrderStatus,
    map_broker_status,
)
from tradekit.model.position import Position, position_key
from tradekit.model.signal import Signal

__all__ = [
    "ApprovalMode", "CHARGE_COMPONENTS", "Charges", "ClientOrderIdGenerator", "Exchange", "Fill",
    "Instrument", "InstrumentType", "KITE_STATUS_MAP", "MAX_MODIFICATIONS", "MAX_TAG_LENGTH",
    "NO_CHARGES", "Order", "OrderRequest", "OrderStatus", "OrderType", "Position", "Product",
    "Segment", "Side", "Signal", "TERMINAL", "TRANSITIONS", "TradingMode", "Validity", "Variety",
    "ZERO", "dec", "fmt_inr", "map_broker_status", "paise", "position_key", "rupee",
]
