"""The default waterfall (DOMAIN.md section 7), computed by hand, on both backends.

300002 is a new listing with no daily limit (prev close 30.00), so one tick can take an
account through LIQUIDATING into DEFAULTED, and shares bought today cannot be sold (T+1).
Conservative tier: L_max 2.0, 6 % a year, lines 150/140/130, restore 155, one name may be
100 % of assets. Fees: commission 250 ppm (min 5.00), stamp duty 500 ppm on sells,
transfer 10 ppm.
"""

from core import MarginState, RejectCode, Side, WaterfallStep, cny
from tests.core.helpers import NOW, buy_filled, covers, funded, next_day

CODE = "300002"


def _defaulted_account(engine):
    """100,000.00 deposited, 6,000 shares bought at 30.00 on credit, then a trade at 12.00."""
    acct = funded(engine, "conservative")
    buy_filled(engine, acct, CODE, 6_000, 3000)
    # 180,000.00 + commission 45.00 + transfer 1.80: cash 100,000.00 pays first, the rest is debt
    assert (engine.account(acct)["cash"], engine.account(acct)["debt"]) == (0, cny("80046.80"))
    changes = engine.tick(CODE, 1200)
    return acct, changes


@covers(RejectCode.DEFAULT_NOT_CLEARABLE)
def test_a_default_is_covered_by_the_pool_then_the_backstop_then_a_receivable(make_engine):
    engine = make_engine(backstop_line=cny("5000"))
    acct, changes = _defaulted_account(engine)
    # A = 6,000 x 12.00 = 72,000.00, D = 80,046.80: E = -8,046.80, R = 89.94 %. Below the
    # liquidation line; nothing sellable (bought today): LIQUIDATING, then DEFAULTED.
    assert [(c.old, c.new) for c in changes] == [(MarginState.NORMAL, MarginState.LIQUIDATING),
                                                 (MarginState.LIQUIDATING, MarginState.DEFAULTED)]
    # The pool is empty; the backstop line gives its 5,000.00; 3,046.80 is owed by the client.
    assert engine.waterfall() == (WaterfallStep(acct, "cover", cny("8046.80"), 0, cny("5000"), cny("3046.80")),)
    view = engine.account(acct)
    assert (view["debt"], view["equity"], view["receivable"]) == (cny("72000"), 0, cny("3046.80"))
    platform = engine.platform()
    assert (platform["backstop_drawn"], platform["receivables"], platform["insurance_pool"]) == \
        (cny("5000"), cny("3046.80"), 0)
    # a default is left only by an operator, and only once nothing is owed on the margin book
    refused = engine.clear_default(acct)
    assert refused.code == RejectCode.DEFAULT_NOT_CLEARABLE
    assert refused.detail == f"account={acct}, state=4, liabilities={cny('72000')}"

    # Next day: interest on 72,000.00 at 6 % for one day = 12.00; the shares are sellable now.
    next_day(engine)
    assert engine.account(acct)["accrued_interest"] == cny("12")
    assert engine.waterfall() == ()  # E = -12.00, but shares can still be sold: no cover yet
    engine.tick(CODE, 1300)
    sell = engine.place(acct, CODE, Side.SELL, 1300, 6_000, "recover", NOW + 86_400 * 10**9)
    assert sell.accepted, sell.rejection
    result = engine.fill(sell.order_id, 6_000, 1300)
    # 78,000.00 - commission 19.50 - stamp 39.00 - transfer 0.78 = 77,940.72: interest 12.00
    # (1.20 to the pool), debt 72,000.00, then 5,928.72 cash, of which 3,046.80 repays the receivable.
    assert (result.interest_repaid, result.debt_repaid, result.to_insurance_pool) == \
        (cny("12"), cny("72000"), cny("1.20"))
    assert engine.waterfall() == (WaterfallStep(acct, "recover", cny("3046.80"), 0, 0, cny("-3046.80")),)
    view = engine.account(acct)
    assert (view["cash"], view["debt"], view["receivable"], view["state"]) == \
        (cny("2881.92"), 0, 0, MarginState.DEFAULTED)
    assert engine.platform()["receivables_recovered"] == cny("3046.80")
    assert engine.clear_default(acct) is None
    assert engine.account(acct)["state"] == MarginState.NORMAL


def test_the_pool_pays_before_the_backstop_and_an_exhausted_backstop_leaves_a_receivable(make_engine):
    engine = make_engine(backstop_line=cny("5000"))
    first, _ = _defaulted_account(engine)  # backstop fully drawn (5,000.00), pool empty
    engine.waterfall()
    next_day(engine)
    engine.tick(CODE, 1300)
    sell = engine.place(first, CODE, Side.SELL, 1300, 6_000, "s", NOW + 86_400 * 10**9)
    engine.fill(sell.order_id, 6_000, 1300)  # repays 12.00 interest: 1.20 into the pool
    assert engine.platform()["insurance_pool"] == cny("1.20")
    second = funded(engine, "conservative")
    buy_filled(engine, second, CODE, 14_000, 1300, now=NOW + 86_400 * 10**9)
    # 182,000.00 + 45.50 + 1.82: debt 82,047.32. At 5.00: A = 70,000.00, E = -12,047.32.
    changes = engine.tick(CODE, 500)
    assert [c.new for c in changes] == [MarginState.LIQUIDATING, MarginState.DEFAULTED]
    assert engine.waterfall() == (WaterfallStep(second, "cover", cny("12047.32"), cny("1.20"), 0,
                                                cny("12046.12")),)
    platform = engine.platform()
    assert (platform["insurance_pool"], platform["backstop_drawn"], platform["covered_by_pool"]) == \
        (0, cny("5000"), cny("1.20"))
    assert platform["receivables"] == cny("12046.12")
    assert engine.account(second)["debt"] == cny("70000")


def test_a_defaulted_account_keeps_its_state_through_ticks_and_rolls(make_engine):
    engine = make_engine()
    acct, _ = _defaulted_account(engine)
    engine.waterfall()
    for price in (2000, 3000, 800):
        engine.tick(CODE, price)
        assert engine.account(acct)["state"] == MarginState.DEFAULTED
    next_day(engine)
    assert engine.account(acct)["state"] == MarginState.DEFAULTED
    assert engine.place(acct, CODE, Side.BUY, 800, 100, "b", NOW + 86_400 * 10**9).rejection.code == \
        RejectCode.REDUCE_ONLY
