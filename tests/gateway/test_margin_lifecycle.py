"""The margin lifecycle through the running gateway: a price crash takes a leveraged account
through warning, margin call (reduce-only) and staged liquidation back above its restore-to
line, each alert pushed once and POSTed once to a webhook; a margin call's deadline; a deposit
that lifts a call; pausing liquidation; a gap through zero equity into the default waterfall;
the end-of-day reconciliation.

Alice's account 0 is conservative (L_max 2.0, lines 150/140/130 %, restore-to 155 %) with
1,000,000.00 CNY. 301638 is a new listing with no daily limit (prev close 30.16), so one
tick can move it anywhere.
"""

import asyncio
import functools
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.session import shanghai_ns
from tests.gateway.harness import ROOT, Conn

CODE = "301638"
QTY = 64_000
SECRET = "webhook-secret-for-tests"
LIFECYCLE = {
    "engine": {"config": {"enforce_session": False, "liquidation_interval_s": 1, "liquidation_jitter_s": 0}},
    "market": {"clock_every_s": 0.2},
}


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 120))
    return run


class WebhookReceiver:
    """A loopback HTTP endpoint that records what the gateway POSTs (its own thread)."""

    def __init__(self):
        self.received: list[tuple[dict, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def market(server, price: int, size: int = 10_000_000) -> None:
    server.tick(CODE, price, bid=price - 1, ask=price, bid_size=size, ask_size=size, volume=10_000_000)


async def leveraged(server, conn: Conn) -> int:
    """Buy 64,000 x 301638 at 30.16 on credit, then roll the day so the shares are sellable;
    returns the liabilities D (fen)."""
    market(server, 3016)
    ack = await conn.order(0, CODE, "buy", QTY, 3016, "lev-1")
    assert ack["type"] == "order_accepted", ack
    await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"] and m["remaining"] == 0, 10)
    server.admin("/admin/market/day", {"day": "2026-01-06"})
    view = await conn.request({"type": "query_account", "account": 0})
    assert view["debt"] > 90_000_000 and view["state"] == "NORMAL"
    return view["liabilities"]


def price_for(ratio_bp: int, liabilities: int) -> int:
    """The price at which 64,000 shares make R = ratio (cash is 0)."""
    return -(-ratio_bp * liabilities // (10_000 * QTY))


def alerts(conn: Conn) -> list[tuple[str, str]]:
    return [(m["old_state"], m["new_state"]) for m in conn.received if m["type"] == "margin"]


@aio
async def test_a_crash_walks_the_account_through_every_state_and_liquidation_restores_it(fresh_server, webhook,
                                                                                        tmp_path):
    server = fresh_server(**LIFECYCLE, alerts={"webhook_url": webhook.url, "webhook_secret": SECRET,
                                               "backoff_s": 0.05})
    conn = await Conn.open(server)
    d = await leveraged(server, conn)
    market(server, price_for(14_500, d))  # R 145 %: under the warning line
    warning = await conn.until(lambda m: m["type"] == "margin")
    assert (warning["new_state"], warning["level"]) == ("WARNING", "warning")
    market(server, price_for(13_500, d))  # 135 %: margin call, reduce-only
    call = await conn.until(lambda m: m["type"] == "margin")
    assert (call["new_state"], call["level"]) == ("MARGIN_CALL", "critical")
    refused = await conn.order(0, CODE, "buy", 100, price_for(13_500, d), "more")
    assert (refused["type"], refused["reason"]) == ("order_rejected", "REDUCE_ONLY")
    market(server, price_for(12_500, d))  # 125 %: liquidation
    liquidating = await conn.until(lambda m: m["type"] == "margin")
    assert liquidating["new_state"] == "LIQUIDATING"
    # the liquidator's children arrive as the clock ticks; the broker fills them at the bid
    child = await conn.until(lambda m: m["type"] == "order_accepted" and m["liquidation"], 10)
    assert child["side"] == "sell" and child["client_order_id"] is None
    assert child["qty"] * child["price"] <= 50_000_000 + child["price"] * 100  # the child notional cap
    restored = await conn.until(lambda m: m["type"] == "margin", 20)
    assert restored["old_state"] == "LIQUIDATING" and restored["new_state"] in ("NORMAL", "WARNING")
    view = await conn.request({"type": "query_account", "account": 0})
    assert view["collateral_ratio_bp"] >= 15_500 and view["reduce_only"] is False
    children = [m for m in conn.received if m["type"] == "order_accepted" and m.get("liquidation")]
    fills = [m for m in conn.received if m["type"] == "fill" and m["side"] == "sell"]
    assert children and sum(f["qty"] for f in fills) < QTY  # staged, and stopped once restored
    await asyncio.sleep(1.5)  # more clock ticks: no more stages once restored
    assert len([m for m in conn.received if m["type"] == "order_accepted" and m.get("liquidation")]) == len(children)
    # every alert once, in order
    expected = [("NORMAL", "WARNING"), ("WARNING", "MARGIN_CALL"), ("MARGIN_CALL", "LIQUIDATING"),
                ("LIQUIDATING", restored["new_state"])]
    assert alerts(conn) == expected
    deadline = time.monotonic() + 10
    while len(webhook.received) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    posted = [json.loads(body) for _, body in webhook.received]
    assert [(p["old_state"], p["new_state"]) for p in posted] == expected
    assert len({p["event_id"] for p in posted}) == 4 and {p["client"] for p in posted} == {"alice"}
    for headers, body in webhook.received:
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Beacon-Signature"] == f"sha256={mac}"
    status, liquidations = server.http("GET", "/admin/liquidations")
    assert liquidations["accounts"] == [] and liquidations["paused"] is False
    kpis = server.admin("/admin/kpis")
    assert kpis["liquidation"]["liquidated_notional_fen"] == sum(f["qty"] * f["price"] for f in fills)
    await conn.close()
    server.stop()
    replayed = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", str(server.directory / "journal")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0 and "reproduced exactly" in replayed.stdout, replayed.stdout + replayed.stderr
    audit = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", str(server.directory / "journal"),
                            "--account", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "LIQUIDATION stage 1 of account 0" in audit.stdout and "child order" in audit.stdout, audit.stdout[-3000:]


@aio
async def test_a_margin_call_past_its_deadline_starts_liquidation(fresh_server):
    server = fresh_server(**LIFECYCLE)
    conn = await Conn.open(server)
    d = await leveraged(server, conn)
    server.admin("/admin/controls", {"pause_liquidation": True})  # watch the state, not the selling
    market(server, price_for(13_500, d))
    call = await conn.until(lambda m: m["type"] == "margin" and m["new_state"] == "MARGIN_CALL")
    # the push tells the deadline at once: the next weekday's 09:30 Shanghai (the day roll confirms it)
    deadline_ms = shanghai_ns(2026, 1, 7, 9, 30) // 1_000_000
    assert call["deadline_ms"] == deadline_ms
    view = await conn.request({"type": "query_account", "account": 0})
    assert view["state"] == "MARGIN_CALL" and view["reduce_only"] and view["margin_call_deadline_ms"] == deadline_ms
    server.admin("/admin/market/day", {"day": "2026-01-07"})
    # the deadline (2026-01-07 09:30 Shanghai) is behind this gateway's clock: the next clock tick
    late = await conn.until(lambda m: m["type"] == "margin" and m["new_state"] == "LIQUIDATING", 5)
    assert late["old_state"] == "MARGIN_CALL"
    status, liquidations = server.http("GET", "/admin/liquidations")
    assert liquidations["paused"] and [a["account"] for a in liquidations["accounts"]] == [0]
    assert not [m for m in conn.received if m["type"] == "order_accepted" and m.get("liquidation")]
    server.admin("/admin/controls", {"pause_liquidation": False})
    child = await conn.until(lambda m: m["type"] == "order_accepted" and m["liquidation"], 10)
    assert child["side"] == "sell"
    await conn.close()


@aio
async def test_a_deposit_that_restores_the_ratio_lifts_the_margin_call(fresh_server):
    server = fresh_server(**LIFECYCLE)
    conn = await Conn.open(server)
    d = await leveraged(server, conn)
    price = price_for(13_500, d)
    market(server, price)
    await conn.until(lambda m: m["type"] == "margin" and m["new_state"] == "MARGIN_CALL")
    assert (await conn.order(0, CODE, "buy", 100, price, "blocked"))["reason"] == "REDUCE_ONLY"
    # 700,000.00: R well above 152 % and leverage back under 2x, so a buy passes every check
    server.admin("/admin/accounts/0/deposit", {"amount": 70_000_000})
    lifted = await conn.until(lambda m: m["type"] == "margin" and m["old_state"] == "MARGIN_CALL")
    assert lifted["new_state"] == "NORMAL" and lifted["level"] == "info"
    allowed = await conn.order(0, CODE, "buy", 100, price, "allowed")
    assert allowed["type"] == "order_accepted", (allowed["reason"], allowed["detail"])
    await conn.close()


def metric(server, name: str) -> int:
    status, text = server.http("GET", "/metrics", token=None)
    line = next(l for l in text.splitlines() if l.startswith(name + " "))
    return int(float(line.split()[1]))


@aio
async def test_a_gap_through_zero_equity_defaults_and_the_waterfall_covers_the_shortfall(fresh_server):
    server = fresh_server(**LIFECYCLE)
    conn = await Conn.open(server)
    d = await leveraged(server, conn)
    pool = server.admin("/admin/kpis")["insurance_pool_fen"]
    status, bad = server.http("POST", "/admin/insurance-pool", {"amount": -5})
    assert status == 409 and bad["error"] == "INVALID_AMOUNT"
    status, bad = server.http("POST", "/admin/insurance-pool", {"amount": "lots"})
    assert status == 400 and "amount" in bad["message"]
    server.admin("/admin/insurance-pool", {"amount": 10_000_000})  # 100,000.00 CNY
    assert metric(server, "beacon_insurance_pool_fen") == pool + 10_000_000
    status, refused = server.http("POST", "/admin/accounts/0/clear-default", {})
    assert status == 409 and refused["error"] == "DEFAULT_NOT_CLEARABLE"
    gap = price_for(6_000, d)  # R 60 %: the equity is gone, whatever is sold
    market(server, gap)
    await conn.until(lambda m: m["type"] == "margin" and m["new_state"] == "DEFAULTED", 30)
    fills = [m for m in conn.received if m["type"] == "fill" and m["side"] == "sell"]
    assert sum(f["qty"] for f in fills) == QTY  # everything sellable was sold
    kpis = server.admin("/admin/kpis")
    waterfall = kpis["waterfall"]
    shortfall = waterfall["covered_by_pool"] + waterfall["covered_by_backstop"] + waterfall["covered_by_receivable"]
    # the shortfall is the debt and interest the sale did not repay, to the fen
    proceeds = sum(f["qty"] * f["price"] - f["commission"] - f["stamp_duty"] - f["transfer_fee"] for f in fills)
    assert shortfall == d - proceeds > pool + 10_000_000
    # the pool first, all of it (what was funded, plus its share of the interest the sale repaid)
    assert waterfall["covered_by_pool"] >= pool + 10_000_000 and kpis["insurance_pool_fen"] == 0
    assert waterfall["covered_by_backstop"] == shortfall - waterfall["covered_by_pool"]  # then the backstop
    assert waterfall["covered_by_receivable"] == 0 and waterfall["backstop_drawn"] == waterfall["covered_by_backstop"]
    assert metric(server, "beacon_backstop_drawn_fen") == waterfall["backstop_drawn"]
    assert metric(server, "beacon_insurance_pool_fen") == 0
    view = await conn.request({"type": "query_account", "account": 0})
    assert view["state"] == "DEFAULTED" and view["debt"] == 0 and view["liabilities"] == 0
    server.admin("/admin/accounts/0/clear-default", {})
    cleared = await conn.until(lambda m: m["type"] == "margin" and m["old_state"] == "DEFAULTED")
    assert cleared["new_state"] == "NORMAL"
    kpis = server.admin("/admin/kpis")  # a cleared default still happened
    assert kpis["accounts_by_state"]["DEFAULTED"] == 0 and kpis["defaulted_accounts"] == kpis["defaults"] == 1
    assert kpis["default_rate"] == 1 / kpis["accounts"]
    await conn.close()


@aio
async def test_the_risk_calculator_answers_for_an_account_and_for_a_what_if(fresh_server):
    from fractions import Fraction
    server = fresh_server(**LIFECYCLE)
    conn = await Conn.open(server)
    await leveraged(server, conn)
    market(server, 2_500)
    view = await conn.request({"type": "query_account", "account": 0})
    a, d, mv, e = view["assets"], view["liabilities"], view["market_value"], view["equity"]
    risk = server.admin("/admin/accounts/0/risk?gross_return_bp=1000&days=4&confidence=0.99")
    # DOMAIN.md section 8 from the account's own figures: L = MV / E, rf = 6 % (conservative)
    leverage = Fraction(mv, e)
    assert risk["leverage"] == float(leverage) and risk["financing_rate_bp"] == 600
    assert risk["roe"] == [{"gross_return_bp": 1000, "roe_pct": round(float(
        (leverage * 1000 - (leverage - 1) * 600) / 10_000) * 100, 4)}]
    liq = risk["distance"]["liquidation"]
    assert liq["line_bp"] == 13_000 and liq["distance_pct"] == round(float(Fraction(a * 10_000 - 13_000 * d,
                                                                                   10_000 * mv)) * 100, 4)
    sigma = risk["positions"][0]["sigma_daily_bp"]
    assert risk["var"]["z"] == 2.326 and risk["var"]["var_fen"] == round(2.326 * sigma / 10_000 * 2 * mv)
    # the client asks the same over the websocket, for its own account only
    mine = await conn.request({"type": "query_risk", "account": 0, "gross_return_bp": [1000], "days": 4,
                               "confidence": 0.99})
    assert mine["type"] == "risk" and mine["figures"] == risk, mine
    theirs = await conn.request({"type": "query_risk", "account": 3})
    assert theirs["type"] == "error" and theirs["code"] == "NOT_ENTITLED", theirs
    bad = await conn.request({"type": "query_risk", "account": 0, "confidence": 1.5})
    assert bad["type"] == "error" and "confidence" in bad["message"], bad
    # bad input is named, and changes nothing
    for query, word in [("days=0", "days"), ("confidence=2", "confidence"), ("gross_return_bp=ten", "gross_return_bp")]:
        status, bad = server.http("GET", f"/admin/accounts/0/risk?{query}")
        assert status == 400 and word in bad["message"], bad
    assert server.http("GET", "/admin/accounts/99/risk")[0] == 404
    what_if = server.admin("/admin/risk/what-if", {"own_capital": 1_000_000, "exposure": 3_000_000,
                                                    "gross_return_bp": 800, "financing_rate_bp": 800,
                                                    "sigma_daily_bp": 250, "liquidation_bp": 12_000})
    # L 3: 3 x 8 % - 2 x 8 % = 8 %; VaR 1.645 x 2.5 % = 4.1125 % of 30,000.00; (30,000 - 1.2 x 20,000) / 30,000 = 20 %
    assert (what_if["roe_pct"], what_if["var_pct"], what_if["var_fen"], what_if["distance_to_liquidation_pct"],
            what_if["fall_to_liquidation_fen"]) == (8.0, 4.1125, 123_375, 20.0, 600_000)
    status, bad = server.http("POST", "/admin/risk/what-if", {"own_capital": 0, "exposure": 1,
                                                             "gross_return_bp": 0, "financing_rate_bp": 0})
    assert status == 400 and "own_capital" in bad["message"]
    status, bad = server.http("POST", "/admin/risk/what-if", {"own_capital": 1, "surprise": 1})
    assert status == 400 and "surprise" in bad["message"]
    await conn.close()


@aio
async def test_the_end_of_day_reconciles_with_the_custodian(fresh_server):
    server = fresh_server(**LIFECYCLE)
    conn = await Conn.open(server)
    assert server.admin("/admin/reconciliation") == {"reconciled": False}
    await leveraged(server, conn)  # buys, fills, and a day close: reconciled
    report = server.admin("/admin/reconciliation")
    assert report["reconciled"] and report["day"] == "2026-01-05" and report["accounts"] == 6
    assert report["breaks"] == []
    status, now = server.http("POST", "/admin/reconciliation", {})
    assert status == 200 and now["day"] == "2026-01-06" and now["breaks"] == []
    await conn.close()
