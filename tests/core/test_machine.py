"""The machine: one entry point, commands in, outcomes and events out."""

import datetime as dt

import msgspec
import pytest

from core import DEFAULT_TIERS, EngineConfig
from core.commands import (
    CancelOrder, ClockAdvance, DayRoll, Deposit, Fill, Genesis, HaltInstrument, Marks, OpenAccount, OrderClosed,
    Outcome, PlaceOrder, RaiseLines, Reconfigure, SetAccountFlag, SetControl, SetTier, Tick, Withdraw,
)
from core.events import (
    AccountFlagSet, AccountOpened, Alert, CancelRequested, CommandRefused, ControlSet, DayRolled, Deposited,
    InstrumentHalted, LinesRaised, MarginStateChanged, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected,
    Reconfigured, TierSet, Withdrawn,
)
from core.machine import Machine
from core.tiers import Tier
from tests.conftest import NOW, TRADING_DAY, small_universe


@pytest.fixture(params=["python", "cython"])
def machine(request):
    genesis = Genesis(instruments=list(small_universe()), tiers=list(DEFAULT_TIERS), config=EngineConfig(),
                      trading_day=TRADING_DAY.toordinal())
    return Machine(genesis, request.param)


def kinds(events):
    return [type(e) for e in events]


def test_a_session_in_events(machine):
    _, ev = machine.apply(OpenAccount(tier="conservative", name="ACC-1"), 2)
    assert ev == [AccountOpened(seq=2, account=0, tier="conservative", name="ACC-1")]
    _, ev = machine.apply(Deposit(account=0, amount=10_000_000))
    assert ev == [Deposited(account=0, amount=10_000_000, cash=10_000_000)]
    outcome, ev = machine.apply(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=6_600,
                                           client_order_id="a", ts=NOW))
    assert outcome == Outcome(1) and kinds(ev) == [OrderAccepted] and ev[0].reserved == 19_805_148
    outcome, ev = machine.apply(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=150,
                                           client_order_id="b", ts=NOW))
    assert outcome.result == -502
    assert ev == [OrderRejected(account=0, instrument="300002", side=1, price=3000, qty=150, client_order_id="b",
                                code=502, reason="INVALID_LOT", detail="qty=150, sellable=0")]
    outcome, ev = machine.apply(Fill(order=1, qty=6_600, price=3000, exec_id="E1", ts=NOW))
    assert outcome.detail == (4_950, 0, 198, 9_805_148, 0, 0, 0)
    assert ev[0] == OrderFilled(order=1, account=0, instrument="300002", side="buy", qty=6_600, price=3000,
                                exec_id="E1", commission=4_950, stamp_duty=0, transfer_fee=198, debt_drawn=9_805_148,
                                interest_repaid=0, debt_repaid=0, to_insurance_pool=0, filled=6_600, remaining=0)
    outcome, ev = machine.apply(Tick(instrument="300002", price=2079))
    assert outcome.changes == ((0, 0, 2, 13_994),)
    assert ev == [MarginStateChanged(account=0, old="NORMAL", new="MARGIN_CALL", collateral_ratio_bp=13_994),
                  Alert(account=0, level="critical", state="MARGIN_CALL", collateral_ratio_bp=13_994,
                        message="margin call: reduce-only until the ratio is restored; deposit by the deadline")]
    _, ev = machine.apply(DayRoll(day=TRADING_DAY.toordinal() + 1))
    assert ev == [DayRolled(day="2026-01-06")]
    _, ev = machine.apply(ClockAdvance(ts=NOW + 86_400 * 10**9))  # Tuesday 10:00: past the 09:30 deadline
    assert [e.new for e in ev if isinstance(e, MarginStateChanged)] == ["LIQUIDATING"]


def test_orders_cancels_and_refusals(machine):
    machine.execute(OpenAccount(tier="standard"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    machine.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=100, client_order_id="a",
                               ts=NOW))
    assert machine.apply(CancelOrder(order=1))[1] == [CancelRequested(order=1, account=0)]
    assert machine.apply(OrderClosed(order=1, reason="canceled"))[1] == [
        OrderCanceled(order=1, account=0, reason="canceled", canceled_qty=100)]
    outcome, ev = machine.apply(CancelOrder(order=1))
    assert outcome == Outcome(902, (1,))
    assert ev == [CommandRefused(command="CancelOrder", code=902, reason="ORDER_NOT_OPEN", detail="order=1")]
    assert machine.apply(CancelOrder(order=77))[0] == Outcome(901, (77,))
    assert machine.apply(Fill(order=77, qty=1, price=1))[1][0].reason == "UNKNOWN_ORDER"
    assert machine.apply(Tick(instrument="600000", price=5))[1][0].reason == "TICK_PRICE_INVALID"
    assert machine.apply(Tick(instrument="999999", price=5))[0] == Outcome(401, (-1,))
    assert machine.apply(Marks(prices=[1]))[1][0].reason == "TICK_PRICE_INVALID"
    assert machine.apply(Withdraw(account=0, amount=0))[1][0].detail == "amount=0"
    assert machine.apply(OpenAccount(tier="platinum"))[1][0].reason == "UNKNOWN_TIER"
    assert machine.apply(DayRoll(day=1))[1][0].reason == "DAY_ROLL_INVALID"


def test_admin_commands(machine):
    machine.execute(OpenAccount(tier="standard"))
    assert machine.apply(SetTier(account=0, tier="aggressive"))[1] == [TierSet(account=0, tier="aggressive")]
    assert machine.engine.account(0)["tier"] == 2
    assert machine.apply(SetAccountFlag(account=0, flag="frozen", on=True))[1] == [
        AccountFlagSet(account=0, flag="frozen", on=True)]
    assert machine.engine.account(0)["frozen"]
    assert machine.apply(SetControl(control="halt_buys", on=True))[1] == [ControlSet(control="halt_buys", on=True)]
    assert machine.engine.platform()["halt_buys"]
    assert machine.apply(RaiseLines(bp=300))[1] == [LinesRaised(bp=300)]
    assert machine.apply(HaltInstrument(instrument="600000", halted=True))[1] == [
        InstrumentHalted(instrument="600000", halted=True)]
    assert machine.engine.instrument(0)["halted"]


def test_reconfigure_keeps_accounts_in_their_tiers_by_name(machine):
    machine.execute(OpenAccount(tier="aggressive"))
    machine.execute(Deposit(account=0, amount=1_000_000))
    vip = Tier(name="vip", max_leverage_bp=25_000, annual_rate_bp=500, warning_bp=14_000, margin_call_bp=13_000,
               liquidation_bp=12_500, restore_bp=14_500, max_single_name_bp=8_000, max_order_notional=800_000_000)
    tiers = [vip, *reversed(DEFAULT_TIERS)]  # new order: vip, aggressive, standard, conservative
    outcome, ev = machine.apply(Reconfigure(config=EngineConfig(price_collar_bp=1_000), tiers=tiers))
    assert outcome == Outcome() and ev == [Reconfigured(tiers=["vip", "aggressive", "standard", "conservative"])]
    assert machine.tiers[machine.engine.account(0)["tier"]].name == "aggressive"
    assert machine.engine.account(0)["cash"] == 1_000_000
    assert machine.apply(OpenAccount(tier="vip"))[0] == Outcome(1)
    # a table that drops a tier in use is refused and changes nothing
    outcome, _ = machine.apply(Reconfigure(config=EngineConfig(), tiers=[vip]))
    assert outcome.result == 805 and machine.tiers[0].name == "vip" and len(machine.tiers) == 4


@pytest.mark.parametrize("backend", ["python", "cython"])
def test_a_tier_change_re_reserves_the_fees_of_open_buys(backend):
    """An open buy reserves the fees its tier would charge (DOMAIN.md section 4); moved to a tier
    with other fees, it reserves those. 1,000 x 600000 at 10.00: notional 10,000.00."""
    from core.fees import FeeSchedule
    cheap = Tier(name="cheap", max_leverage_bp=30_000, annual_rate_bp=800, warning_bp=13_000, margin_call_bp=12_500,
                 liquidation_bp=12_000, restore_bp=13_500, max_single_name_bp=10_000, max_order_notional=300_000_000,
                 fees=FeeSchedule(commission_ppm=100, commission_min=100))
    genesis = Genesis(instruments=list(small_universe()), tiers=[*DEFAULT_TIERS, cheap], config=EngineConfig(),
                      trading_day=TRADING_DAY.toordinal())
    machine = Machine(genesis, backend)
    machine.execute(OpenAccount(tier="standard"))
    machine.execute(Deposit(account=0, amount=2_000_000))
    order = machine.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=1_000,
                                       client_order_id="a", ts=NOW)).result
    # standard: commission max(5.00, 2.50) = 5.00, transfer 0.10
    assert machine.engine.account(0)["reserved_buy"] == 1_000_000 + 500 + 10
    machine.execute(SetTier(account=0, tier="cheap"))
    # cheap: commission max(1.00, 1.00) = 1.00, transfer 0.10
    assert machine.engine.account(0)["reserved_buy"] == 1_000_000 + 100 + 10
    machine.execute(Fill(order=order, qty=1_000, price=1000, exec_id="f1"))
    view = machine.engine.account(0)
    assert (view["reserved_buy"], view["cash"], view["debt"]) == (0, 2_000_000 - 1_000_110, 0)


def test_snapshot_round_trip_through_the_machine(machine):
    machine.execute(OpenAccount(tier="standard", name="N"))
    machine.execute(Deposit(account=0, amount=5_000_000))
    state = machine.export_state()
    again = Machine.from_state(state, machine.backend)
    assert again.export_state() == state and again.account_names == ["N"]


from core.commands import BrokerAck, BrokerCancelReject  # noqa: E402
from core.events import CancelRejected, OrderAcknowledged  # noqa: E402
from core.orders import OrderState  # noqa: E402
from core.rejects import RejectCode as RC  # noqa: E402
from tests.core.helpers import covers  # noqa: E402


def place(machine, qty=1_000, clid="a", side=1, price=1000):
    return machine.execute(PlaceOrder(account=0, instrument="600000", side=side, price=price, qty=qty,
                                      client_order_id=clid, ts=NOW)).result


def state_of(machine, order):
    return machine.registry.orders[order].state


@covers(RC.DUPLICATE_EXECUTION)
def test_an_orders_life_and_a_resent_execution(machine):
    machine.execute(OpenAccount(tier="conservative", client="alice"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    order = place(machine)
    assert state_of(machine, order) is OrderState.PENDING_NEW
    assert machine.registry.find(0, "a").order == order
    _, ev = machine.apply(BrokerAck(order=order, broker_order_id="XSHG-1"))
    assert ev == [OrderAcknowledged(order=order, account=0, broker_order_id="XSHG-1")]
    assert state_of(machine, order) is OrderState.NEW
    machine.execute(Fill(order=order, qty=400, price=1000, exec_id="E1"))
    assert state_of(machine, order) is OrderState.PARTIALLY_FILLED
    cash = machine.engine.account(0)["cash"]
    outcome = machine.execute(Fill(order=order, qty=400, price=1000, exec_id="E1"))  # the same report again
    assert outcome == Outcome(907, (order,)) and machine.engine.account(0)["cash"] == cash
    machine.execute(Fill(order=order, qty=600, price=1000, exec_id="E2"))
    assert state_of(machine, order) is OrderState.FILLED and machine.registry.orders[order].filled == 1_000
    assert [f.exec_id for f in machine.registry.fills] == ["E1", "E2"]
    assert machine.account_clients == ["alice"]


def test_cancel_pending_then_refused_or_done(machine):
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    first, second = place(machine, clid="a"), place(machine, clid="b")
    machine.execute(BrokerAck(order=first, broker_order_id="X1"))
    machine.execute(CancelOrder(order=first))
    assert state_of(machine, first) is OrderState.CANCEL_PENDING
    _, ev = machine.apply(BrokerCancelReject(order=first, reason="TOO_LATE"))
    assert ev == [CancelRejected(order=first, account=0, reason="TOO_LATE", state="new")]
    machine.execute(CancelOrder(order=second))  # before the broker's ack
    machine.execute(OrderClosed(order=second, reason="canceled"))
    assert state_of(machine, second) is OrderState.CANCELED
    assert machine.execute(BrokerCancelReject(order=second)).result == 902  # no cancel pending
    machine.execute(OrderClosed(order=first, reason="rejected", detail="INSUFFICIENT_POSITION"))
    assert state_of(machine, first) is OrderState.REJECTED and machine.registry.orders[first].reason == \
        "INSUFFICIENT_POSITION"
    assert machine.execute(BrokerAck(order=first, broker_order_id="X1")).result == 902
    assert machine.execute(BrokerAck(order=99, broker_order_id="X")).result == 901


def test_the_day_roll_ends_todays_book(machine):
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    place(machine)
    machine.execute(DayRoll(day=TRADING_DAY.toordinal() + 1))
    assert machine.registry.orders == {} and machine.registry.find(0, "a") is None


def test_the_registry_survives_a_snapshot(machine):
    machine.execute(OpenAccount(tier="conservative", client="bob"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    order = place(machine)
    machine.execute(Fill(order=order, qty=100, price=1000, exec_id="E9"))
    again = Machine.from_state(machine.export_state(), machine.backend)
    assert again.registry.orders == machine.registry.orders and again.registry.exec_ids == {"E9"}
    assert again.account_clients == ["bob"]
    assert again.execute(Fill(order=order, qty=100, price=1000, exec_id="E9")).result == 907


@covers(RC.BROKER_UNAVAILABLE)
def test_an_order_refused_while_the_broker_is_down_still_uses_its_client_order_id(machine):
    """DOMAIN.md section 6: every client order id the gateway has answered, accepted or rejected, is
    remembered for the trading day; a refusal before the checks is an answer too."""
    from core.commands import RefuseOrder
    machine.execute(OpenAccount(tier="standard"))
    machine.execute(Deposit(account=0, amount=5_000_000))
    refusal = RefuseOrder(account=0, instrument="600000", side=1, price=1000, qty=100, client_order_id="r", ts=NOW)
    outcome, events = machine.apply(refusal)
    assert outcome.result == -908
    assert [(e.code, e.reason, e.detail, e.client_order_id) for e in events] == [
        (908, "BROKER_UNAVAILABLE", "the broker connection is down; the order was not sent", "r")]
    assert machine.engine.account(0)["cash"] == 5_000_000 and machine.registry.orders == {}
    # the id is taken: a later order with it is a duplicate, whether or not the broker is back
    assert place(machine, qty=100, clid="r") == -RC.DUPLICATE_CLIENT_ORDER_ID
    assert machine.apply(refusal)[0].result == -RC.DUPLICATE_CLIENT_ORDER_ID
    assert machine.apply(msgspec.structs.replace(refusal, account=9))[0].result == -RC.UNKNOWN_ACCOUNT
    # and it survives a snapshot, until the day rolls
    again = Machine.from_state(machine.export_state(), machine.backend)
    assert again.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=100,
                                    client_order_id="r", ts=NOW)).result == -RC.DUPLICATE_CLIENT_ORDER_ID
    machine.execute(DayRoll(day=TRADING_DAY.toordinal() + 1))
    assert place(machine, qty=100, clid="r") > 0
