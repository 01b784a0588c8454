"""The websocket API: what clients send and what the gateway sends back, as msgspec structs.

Frames are JSON text by default; a client that asks for the `beacon.msgpack` subprotocol
gets MessagePack binary frames instead, with the same structures. Every message is an
object with a `type` field. Client requests carry a `req_id` (any string up to 64
characters) that the answer echoes. Every message the gateway sends carries `seq`,
numbered from 1 per connection, so a client can tell that it missed one.

Money and prices are integer fen, quantities shares. Unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta

from core.units import MAX_PRICE, MAX_QUANTITY

ReqId = Annotated[str, Meta(min_length=1, max_length=64)]
AccountId = Annotated[int, Meta(ge=0, le=2**31 - 1)]
Code = Annotated[str, Meta(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]
# ((?!\n) after $: in Python's regular expressions $ also matches before a final newline, which let
# "a\n" through; the lookahead means the same in the JSON schema's dialect, where $ has no such exception)
ClientOrderId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$(?!\n)")]
Price = Annotated[int, Meta(gt=0, le=MAX_PRICE)]
Qty = Annotated[int, Meta(gt=0, le=MAX_QUANTITY)]
OrderId = Annotated[int, Meta(ge=1, le=2**62)]

SUBPROTOCOL_MSGPACK = "beacon.msgpack"


# ------------------------------------------------------------------ client -> gateway
# Requests and pushes hold numbers, strings and lists of plain structs, never a cycle: gc=False
# keeps the several per order out of the cyclic collector's counts.
class Request(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True, gc=False):
    req_id: ReqId


class Login(Request, tag="login"):
    """Prove possession of the secret: signature = hex(HMAC-SHA256(secret, f"{nonce}\\n{api_key}\\n{timestamp_ms}"))
    with the nonce from `hello`; the timestamp must be within 30 s of the gateway's clock."""

    api_key: Annotated[str, Meta(min_length=1, max_length=128)]
    timestamp_ms: Annotated[int, Meta(ge=0, le=2**53)]
    signature: Annotated[str, Meta(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
    cancel_on_disconnect: bool = False


class NewOrder(Request, tag="new_order"):
    """A limit order; a market order (type "market", no price) becomes an aggressive limit inside the
    price band and collar, and the broker treats it as market-like (slippage)."""

    account: AccountId
    instrument: Annotated[str, Meta(min_length=6, max_length=6,  # and digits: __post_init__
                                    extra_json_schema={"pattern": r"^[0-9]{6}$"})]
    side: Literal["buy", "sell"]
    qty: Qty
    client_order_id: Annotated[str, Meta(min_length=1, max_length=64,  # and printable ASCII: __post_init__
                                         extra_json_schema={"pattern": r"^[\x21-\x7e]+$"})]
    order_type: Literal["limit", "market"] = "limit"
    price: Price | None = None

    def __post_init__(self):
        # The rules of Code and ClientOrderId, checked without their regular expressions: on every
        # order the two patterns were half the work of decoding it (docs/benchmarks.md). The same
        # strings pass and fail; the error names the field like msgspec's own.
        if not (self.instrument.isascii() and self.instrument.isdigit()):
            raise ValueError("Expected `str` of 6 digits (0-9) - at `$.instrument`")
        coid = self.client_order_id
        if not (coid.isascii() and coid.isprintable()) or " " in coid:
            raise ValueError("Expected `str` of printable ASCII characters (0x21-0x7e), no spaces - "
                             "at `$.client_order_id`")


class Cancel(Request, tag="cancel"):
    """Cancel by the client's order id, or by the gateway's order id."""

    account: AccountId
    client_order_id: ClientOrderId | None = None
    order_id: OrderId | None = None


class CancelAll(Request, tag="cancel_all"):
    account: AccountId
    instrument: Code | None = None


class QueryAccount(Request, tag="query_account"):
    account: AccountId


class QueryPositions(Request, tag="query_positions"):
    account: AccountId


class QueryOrders(Request, tag="query_orders"):
    account: AccountId
    open_only: bool = True


class QueryFills(Request, tag="query_fills"):
    account: AccountId


class QueryRisk(Request, tag="query_risk"):
    """DOMAIN.md section 8's figures for one of the client's accounts (docs/risk.md): leverage and
    ROE at the tier's rate for each gross return asked, VaR over `days` at `confidence`, the
    distance to each margin line."""

    account: AccountId
    gross_return_bp: Annotated[list[Annotated[int, Meta(ge=-100_000, le=100_000)]],
                               Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: [-2_000, -1_000, 0, 1_000, 2_000])
    days: Annotated[int, Meta(ge=1, le=250)] = 1
    confidence: Annotated[float, Meta(gt=0.5, lt=1)] = 0.95


class Subscribe(Request, tag="subscribe"):
    """Channels: market (instruments), account (balances after each change), orders (order updates and fills),
    alerts (margin states). Orders and alerts of the client's own accounts are on from login."""

    channel: Literal["market", "account", "orders", "alerts"]
    instruments: Annotated[list[Code], Meta(max_length=5000)] = []
    accounts: Annotated[list[AccountId], Meta(max_length=1000)] = []


class Unsubscribe(Subscribe, tag="unsubscribe"):
    pass


class Ping(Request, tag="ping"):
    pass


ClientMessage = Union[Login, NewOrder, Cancel, CancelAll, QueryAccount, QueryPositions, QueryOrders, QueryFills, QueryRisk,
                      Subscribe, Unsubscribe, Ping]


# ------------------------------------------------------------------ gateway -> client
class Push(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=False, gc=False):
    seq: int = 0  # set when the message is sent


class Hello(Push, tag="hello", kw_only=True):
    nonce: str
    server_time_ms: int
    heartbeat_s: float
    version: str = "1"


class LoginOk(Push, tag="login_ok", kw_only=True):
    req_id: str
    client: str
    accounts: list[int]


class Error(Push, tag="error", kw_only=True):
    """A request that could not be carried out; nothing changed. `code` is a stable name."""

    req_id: str | None = None
    code: str
    message: str


class Pong(Push, tag="pong", kw_only=True):
    req_id: str
    server_time_ms: int


class Heartbeat(Push, tag="heartbeat", kw_only=True):
    server_time_ms: int


class OrderAck(Push, tag="order_accepted", kw_only=True):
    req_id: str | None = None
    order_id: int
    client_order_id: str | None
    account: int
    instrument: str
    side: str
    qty: int
    price: int
    reserved: int
    status: str = "pending_new"
    liquidation: bool = False  # placed by the platform's automatic liquidation, not by the client


class OrderReject(Push, tag="order_rejected", kw_only=True):
    req_id: str | None = None
    client_order_id: str | None
    account: int
    code: int
    reason: str
    detail: str


class OrderUpdate(Push, tag="order_update", kw_only=True):
    """A change in an order's state: acknowledged by the broker, cancel pending, canceled, expired,
    refused by the broker, or a cancel refused."""

    order_id: int
    client_order_id: str | None
    account: int
    status: str
    filled: int
    remaining: int
    reason: str = ""
    req_id: str | None = None


class FillReport(Push, tag="fill", kw_only=True):
    order_id: int
    client_order_id: str | None
    account: int
    instrument: str
    side: str
    qty: int
    price: int
    exec_id: str
    commission: int
    stamp_duty: int
    transfer_fee: int
    filled: int
    remaining: int
    status: str


class AccountView(Push, tag="account", kw_only=True):
    req_id: str | None = None
    account: int
    tier: str
    state: str
    cash: int
    debt: int
    accrued_interest: int
    market_value: int
    assets: int
    liabilities: int
    equity: int
    collateral_ratio_bp: int  # -1: infinite (no debt)
    leverage_bp: int  # A / E in bp; -1 when equity <= 0
    credit_line: int
    buying_power: int
    reserved_buy: int
    reduce_only: bool
    frozen: bool
    margin_call_deadline_ms: int = 0
    receivable: int = 0  # a default's shortfall the platform covered and the client owes


class PositionView(msgspec.Struct, kw_only=True):
    instrument: str
    held: int
    sellable: int
    open_buy: int
    open_sell: int
    market_value: int
    mark: int


class Positions(Push, tag="positions", kw_only=True):
    req_id: str
    account: int
    positions: list[PositionView]


class OrderView(msgspec.Struct, kw_only=True):
    order_id: int
    client_order_id: str | None
    instrument: str
    side: str
    price: int
    qty: int
    filled: int
    remaining: int
    status: str
    broker_order_id: str
    reason: str


class Orders(Push, tag="orders", kw_only=True):
    req_id: str
    account: int
    orders: list[OrderView]


class FillView(msgspec.Struct, kw_only=True):
    order_id: int
    instrument: str
    side: str
    qty: int
    price: int
    exec_id: str
    commission: int
    stamp_duty: int
    transfer_fee: int
    ts_ms: int


class Fills(Push, tag="fills", kw_only=True):
    req_id: str
    account: int
    fills: list[FillView]


class MarginUpdate(Push, tag="margin", kw_only=True):
    account: int
    old_state: str
    new_state: str
    collateral_ratio_bp: int
    level: str  # info | warning | critical
    message: str
    deadline_ms: int = 0  # a margin call's deposit deadline: the next weekday's 09:30, confirmed by the day roll


class Market(Push, tag="market", kw_only=True):
    instrument: str
    last: int
    volume: int
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    lock: int
    ts_ms: int


class Subscribed(Push, tag="subscribed", kw_only=True):
    req_id: str
    channel: str
    instruments: list[str] = []
    accounts: list[int] = []


class CancelAck(Push, tag="cancel_accepted", kw_only=True):
    req_id: str
    order_ids: list[int]


class RiskView(Push, tag="risk", kw_only=True):
    """The answer to query_risk: the figures as GET /admin/accounts/{a}/risk gives them (docs/risk.md)."""
    req_id: str
    account: int
    figures: dict


ServerMessage = Union[Hello, LoginOk, Error, Pong, Heartbeat, OrderAck, OrderReject, OrderUpdate, FillReport,
                      AccountView, Positions, Orders, Fills, MarginUpdate, Market, Subscribed, CancelAck, RiskView]


# ------------------------------------------------------------------ codecs, built once
JSON_DECODER = msgspec.json.Decoder(ClientMessage)
MSGPACK_DECODER = msgspec.msgpack.Decoder(ClientMessage)
JSON_ENCODER = msgspec.json.Encoder()
MSGPACK_ENCODER = msgspec.msgpack.Encoder()
SERVER_JSON_DECODER = msgspec.json.Decoder(ServerMessage)  # for clients and tests
SERVER_MSGPACK_DECODER = msgspec.msgpack.Decoder(ServerMessage)


def schemas() -> dict:
    """JSON Schema of every message in both directions (from the msgspec types)."""
    (client, server), components = msgspec.json.schema_components([ClientMessage, ServerMessage],
                                                                  ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Beacon websocket API",
        "description": __doc__.strip(),
        "oneOf": [client, server],
        "$defs": {**components, "ClientMessage": client, "ServerMessage": server},
    }
