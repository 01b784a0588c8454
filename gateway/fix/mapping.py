"""Beacon's broker messages to and from FIX 4.4 application messages, both ways, in one place.

| Beacon | FIX |
|---|---|
| `NewOrder` | NewOrderSingle (D): ClOrdID, Account, Symbol + SecurityExchange (XSHG / XSHE), Side, OrderQty, OrdType=2 (limit), Price, TimeInForce=0 (day), TransactTime |
| `CancelRequest` | OrderCancelRequest (F): a fresh ClOrdID (`<order>-C<n>`), OrigClOrdID, Side, Symbol, OrderQty |
| status request | OrderStatusRequest (H): ClOrdID, Side, Symbol (answered with ExecType=I) |
| `ExecutionReport` | ExecutionReport (8): ExecType / OrdStatus as below; LastQty, LastPx, CumQty, LeavesQty, AvgPx; Commission (CommType=3, absolute) and MiscFees: stamp duty (MiscFeeType 5) and the transfer fee (4); Text for a reason |
| cancel rejected | OrderCancelReject (9): CxlRejResponseTo=1, CxlRejReason, Text |

ExecType (150) and OrdStatus (39): new 0/0, partial fill F/1, fill F/2, canceled 4/4, rejected
8/8, expired C/C, order status I/(any). A-share codes map to the exchange by board: 60x and
688/689 to XSHG (Shanghai), 00x and 30x to XSHE (Shenzhen).

A "market-like" order is an aggressive limit on the wire (OrdType=2): the counterparty
decides by price how it trades, as a real exchange would.
"""

from __future__ import annotations

from simulators.broker.interface import CancelRequest, ExecutionReport, NewOrder

from . import tags as t
from ._codec import FixError, FixMessage

EXEC_TYPE_OUT = {"new": b"0", "partial_fill": b"F", "fill": b"F", "canceled": b"4", "rejected": b"8",
                 "expired": b"C", "status": b"I"}
ORD_STATUS_OUT = {"new": b"0", "partially_filled": b"1", "filled": b"2", "canceled": b"4", "rejected": b"8",
                  "expired": b"C"}
ORD_STATUS_IN = {v: k for k, v in ORD_STATUS_OUT.items()}
EXCHANGES = {b"XSHG", b"XSHE"}


def exchange_of(code: str) -> bytes:
    return b"XSHG" if code[:1] == "6" else b"XSHE"


def _side(side: int) -> bytes:
    if side not in (1, 2):
        raise FixError(f"side {side} is neither buy (1) nor sell (2)", t.SIDE)
    return b"1" if side == 1 else b"2"


# ------------------------------------------------------------------ orders: gateway -> broker
def new_order_single(order: NewOrder, now_ns: int) -> list:
    return [(t.CL_ORD_ID, order.cl_ord_id), (t.ACCOUNT, order.account), (t.HANDL_INST, b"1"),
            (t.SYMBOL, order.instrument), (t.SECURITY_EXCHANGE, exchange_of(order.instrument)),
            (t.SIDE, _side(order.side)), (t.TRANSACT_TIME, t.utc_timestamp(now_ns)), (t.ORDER_QTY, order.qty),
            (t.ORD_TYPE, b"2"), (t.PRICE, t.px(order.price)), (t.TIME_IN_FORCE, b"0")]


def order_cancel_request(request: CancelRequest, cancel_id: str, order: NewOrder, now_ns: int) -> list:
    return [(t.ORIG_CL_ORD_ID, request.cl_ord_id), (t.CL_ORD_ID, cancel_id), (t.ACCOUNT, order.account),
            (t.SYMBOL, order.instrument), (t.SECURITY_EXCHANGE, exchange_of(order.instrument)),
            (t.SIDE, _side(order.side)), (t.TRANSACT_TIME, t.utc_timestamp(now_ns)), (t.ORDER_QTY, order.qty)]


def order_status_request(order: NewOrder) -> list:
    return [(t.CL_ORD_ID, order.cl_ord_id), (t.ACCOUNT, order.account), (t.SYMBOL, order.instrument),
            (t.SECURITY_EXCHANGE, exchange_of(order.instrument)), (t.SIDE, _side(order.side))]


def _code(message: FixMessage) -> str:
    symbol = message[t.SYMBOL]
    if len(symbol) != 6 or not symbol.isdigit():
        raise FixError(f"Symbol must be a 6-digit A-share code, not {symbol.decode('latin-1')!r}", t.SYMBOL)
    exchange = message.get(t.SECURITY_EXCHANGE)
    if exchange is not None and exchange != exchange_of(symbol.decode()):
        raise FixError(f"{symbol.decode()} does not trade on {exchange.decode('latin-1')}", t.SECURITY_EXCHANGE)
    return symbol.decode()


def _side_in(message: FixMessage) -> int:
    side = message[t.SIDE]
    if side not in (b"1", b"2"):
        raise FixError(f"Side {side.decode('latin-1')!r} is not 1 (buy) or 2 (sell)", t.SIDE)
    return int(side)


def parse_new_order(message: FixMessage) -> NewOrder:
    """A NewOrderSingle to Beacon's order; FixError naming the tag that is missing or wrong."""
    ord_type = message[t.ORD_TYPE]
    if ord_type != b"2":
        raise FixError(f"OrdType {ord_type.decode('latin-1')} not supported: only limit orders (2)", t.ORD_TYPE)
    tif = message.get(t.TIME_IN_FORCE, b"0")
    if tif != b"0":
        raise FixError(f"TimeInForce {tif.decode('latin-1')} not supported: only day orders (0)", t.TIME_IN_FORCE)
    qty = message.get_int(t.ORDER_QTY)
    price = t.fen(message[t.PRICE], t.PRICE)
    if qty <= 0:
        raise FixError(f"OrderQty must be positive, not {qty}", t.ORDER_QTY)
    if price <= 0:
        raise FixError("Price must be positive", t.PRICE)
    return NewOrder(cl_ord_id=message.get_str(t.CL_ORD_ID) or _missing(t.CL_ORD_ID),
                    account=message.get_str(t.ACCOUNT) or _missing(t.ACCOUNT), instrument=_code(message),
                    side=_side_in(message), price=price, qty=qty)


def parse_cancel(message: FixMessage) -> tuple[str, str]:
    """An OrderCancelRequest: (the order's ClOrdID, the cancel's own ClOrdID)."""
    orig = message.get_str(t.ORIG_CL_ORD_ID) or _missing(t.ORIG_CL_ORD_ID)
    cancel_id = message.get_str(t.CL_ORD_ID) or _missing(t.CL_ORD_ID)
    _side_in(message)
    _code(message)
    return orig, cancel_id


def _missing(tag: int):
    raise FixError("required tag missing", tag)


# ------------------------------------------------------------------ executions: broker -> gateway
def execution_report(report: ExecutionReport, now_ns: int, status_request: bool = False) -> list:
    exec_type = "status" if status_request else report.exec_type
    fields = [(t.ORDER_ID, report.broker_order_id or b"NONE"), (t.CL_ORD_ID, report.cl_ord_id),
              (t.EXEC_ID, report.exec_id), (t.EXEC_TYPE, EXEC_TYPE_OUT[exec_type]),
              (t.ORD_STATUS, ORD_STATUS_OUT[report.status])]
    if report.account:
        fields.append((t.ACCOUNT, report.account))
    if report.instrument:
        fields += [(t.SYMBOL, report.instrument), (t.SECURITY_EXCHANGE, exchange_of(report.instrument))]
    fields.append((t.SIDE, _side(report.side) if report.side else b"1"))
    if report.qty:
        fields += [(t.ORDER_QTY, report.qty), (t.ORD_TYPE, b"2"), (t.PRICE, t.px(report.price))]
    if report.exec_type in ("partial_fill", "fill") and not status_request:
        fields += [(t.LAST_QTY, report.last_qty), (t.LAST_PX, t.px(report.last_px))]
    fields += [(t.LEAVES_QTY, report.leaves_qty), (t.CUM_QTY, report.cum_qty), (t.AVG_PX, t.px(report.avg_px))]
    if report.exec_type == "rejected":
        fields.append((t.ORD_REJ_REASON, b"99"))
    if report.reason:
        fields.append((t.TEXT, report.reason))
    fields.append((t.TRANSACT_TIME, t.utc_timestamp(report.ts or now_ns)))
    if (report.commission or report.stamp_duty or report.transfer_fee) and not status_request:
        fields += [(t.COMMISSION, t.px(report.commission)), (t.COMM_TYPE, b"3")]
        fees = [(t.FEE_STAMP, report.stamp_duty), (t.FEE_EXCHANGE, report.transfer_fee)]
        fees = [(kind, amount) for kind, amount in fees if amount]
        if fees:
            fields.append((t.NO_MISC_FEES, len(fees)))
            for kind, amount in fees:
                fields += [(t.MISC_FEE_AMT, t.px(amount)), (t.MISC_FEE_CURR, b"CNY"), (t.MISC_FEE_TYPE, kind)]
    return fields


def order_cancel_reject(report: ExecutionReport, cancel_id: str, now_ns: int) -> list:
    too_late = report.reason.startswith("TOO_LATE")
    return [(t.ORDER_ID, report.broker_order_id or b"NONE"), (t.CL_ORD_ID, cancel_id),
            (t.ORIG_CL_ORD_ID, report.cl_ord_id), (t.ORD_STATUS, ORD_STATUS_OUT.get(report.status, b"8")),
            (t.CXL_REJ_RESPONSE_TO, b"1"), (t.CXL_REJ_REASON, b"0" if too_late else b"1"),
            (t.TEXT, report.reason or "cancel rejected"), (t.TRANSACT_TIME, t.utc_timestamp(report.ts or now_ns))]


def parse_execution_report(message: FixMessage, known: NewOrder | None) -> tuple[ExecutionReport, bool]:
    """An ExecutionReport (8) to Beacon's; and whether it answers a status request (ExecType I)."""
    exec_type_raw = message[t.EXEC_TYPE]
    status = ORD_STATUS_IN.get(message[t.ORD_STATUS])
    if status is None:
        raise FixError(f"OrdStatus {message[t.ORD_STATUS].decode('latin-1')!r} not understood", t.ORD_STATUS)
    if exec_type_raw == b"F":
        exec_type = "fill" if status == "filled" else "partial_fill"
    else:
        exec_type = {b"0": "new", b"4": "canceled", b"8": "rejected", b"C": "expired", b"I": "status"}.get(
            exec_type_raw)
        if exec_type is None:
            raise FixError(f"ExecType {exec_type_raw.decode('latin-1')!r} not understood", t.EXEC_TYPE)
    last_qty = message.get_int(t.LAST_QTY, 0) if exec_type in ("fill", "partial_fill") else 0
    last_px = t.fen(message[t.LAST_PX], t.LAST_PX) if last_qty else 0
    if exec_type in ("fill", "partial_fill") and last_qty <= 0:
        raise FixError("a fill must have a positive LastQty", t.LAST_QTY)
    commission = t.fen(message[t.COMMISSION], t.COMMISSION) if t.COMMISSION in message else 0
    stamp = transfer = 0
    if t.NO_MISC_FEES in message:
        for fee in message.group(t.NO_MISC_FEES, t.MISC_FEE_AMT, (t.MISC_FEE_AMT, t.MISC_FEE_CURR, t.MISC_FEE_TYPE)):
            amount = t.fen(fee[t.MISC_FEE_AMT], t.MISC_FEE_AMT)
            kind = fee.get(t.MISC_FEE_TYPE)
            if kind == t.FEE_STAMP:
                stamp += amount
            elif kind == t.FEE_EXCHANGE:
                transfer += amount
            else:
                raise FixError(f"MiscFeeType {kind!r} not understood", t.MISC_FEE_TYPE)
    symbol = message.get_str(t.SYMBOL) or (known.instrument if known else "")
    side = int(message.get(t.SIDE, b"0")) if message.get(t.SIDE, b"0").isdigit() else 0
    report = ExecutionReport(
        cl_ord_id=message.get_str(t.CL_ORD_ID) or _missing(t.CL_ORD_ID),
        broker_order_id="" if message.get(t.ORDER_ID) == b"NONE" else message.get_str(t.ORDER_ID),
        exec_id=message.get_str(t.EXEC_ID) or _missing(t.EXEC_ID),
        exec_type="new" if exec_type == "status" else exec_type, status=status,
        account=message.get_str(t.ACCOUNT) or (known.account if known else ""), instrument=symbol,
        side=side or (known.side if known else 0),
        price=t.fen(message[t.PRICE], t.PRICE) if t.PRICE in message else (known.price if known else 0),
        qty=message.get_int(t.ORDER_QTY, 0) or (known.qty if known else 0),
        last_qty=last_qty, last_px=last_px, cum_qty=message.get_int(t.CUM_QTY), leaves_qty=message.get_int(t.LEAVES_QTY),
        avg_px=t.fen(message[t.AVG_PX], t.AVG_PX) if t.AVG_PX in message else 0,
        commission=commission, stamp_duty=stamp, transfer_fee=transfer, reason=message.get_str(t.TEXT),
        ts=t.parse_utc_timestamp(message[t.TRANSACT_TIME], t.TRANSACT_TIME) if t.TRANSACT_TIME in message else 0)
    return report, exec_type == "status"


def parse_cancel_reject(message: FixMessage) -> ExecutionReport:
    """An OrderCancelReject (9) as Beacon's cancel_rejected report for the original order."""
    status = ORD_STATUS_IN.get(message.get(t.ORD_STATUS, b"8"), "rejected")
    return ExecutionReport(cl_ord_id=message.get_str(t.ORIG_CL_ORD_ID) or _missing(t.ORIG_CL_ORD_ID),
                           broker_order_id="" if message.get(t.ORDER_ID) == b"NONE" else message.get_str(t.ORDER_ID),
                           exec_id=f"CXLREJ-{message.get_str(t.CL_ORD_ID)}", exec_type="cancel_rejected",
                           status=status, account="", instrument="", side=0, price=0, qty=0,
                           reason=message.get_str(t.TEXT))
