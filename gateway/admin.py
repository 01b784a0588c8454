"""The admin API (REST, JSON) for operators: accounts, money, controls, KPIs.

Every request carries `Authorization: Bearer <admin token>`. Admin tokens cannot trade
and client API keys cannot use this API. Each state-changing call becomes a journaled
command and answers once it is durable; a refused command answers 409 with the engine's
reject code and detail. Malformed requests answer 400 naming the problem.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from typing import Literal

import msgspec
from aiohttp import web

from core.commands import (
    ClearDefault, Deposit, FundInsurancePool, HaltInstrument, OpenAccount, RaiseLines, SetAccountFlag, SetControl, SetTier, Withdraw,
)
from core.events import CommandRefused
from core.margin import MarginState
from simulators.market.messages import DayClose, DayOpen, Tick

from . import protocol as p
from .kpis import platform_kpis
from core import riskcalc


class NewAccount(msgspec.Struct, forbid_unknown_fields=True):
    tier: str
    client: str
    name: str = ""


class Amount(msgspec.Struct, forbid_unknown_fields=True):
    amount: int  # fen


class TierChange(msgspec.Struct, forbid_unknown_fields=True):
    tier: str


class Switch(msgspec.Struct, forbid_unknown_fields=True):
    on: bool


class Halt(msgspec.Struct, forbid_unknown_fields=True):
    halted: bool


class Controls(msgspec.Struct, forbid_unknown_fields=True):
    global_kill: bool | None = None
    halt_buys: bool | None = None
    halt_deposits: bool | None = None
    halt_accounts: bool | None = None
    pause_liquidation: bool | None = None


class Lines(msgspec.Struct, forbid_unknown_fields=True):
    raise_bp: int


class InjectTick(msgspec.Struct, forbid_unknown_fields=True):
    instrument: str
    last: int
    bid: int = 0
    bid_size: int = 0
    ask: int = 0
    ask_size: int = 0
    volume: int = 0
    lock: Literal[-1, 0, 1] = 0


class AdvanceClock(msgspec.Struct, forbid_unknown_fields=True):
    seconds: float  # of simulated time, > 0


class InjectDay(msgspec.Struct, forbid_unknown_fields=True):
    day: str  # ISO date of the new trading day


class WhatIf(msgspec.Struct, forbid_unknown_fields=True):
    """The calculator's inputs (DOMAIN.md section 8): money in fen, rates and lines in bp."""
    own_capital: int
    exposure: int
    gross_return_bp: int
    financing_rate_bp: int
    sigma_daily_bp: int = 0
    days: int = 1
    confidence: float = 0.95
    liquidation_bp: int = 0


class Result(msgspec.Struct):
    ok: bool
    seq: int
    account: int | None = None


def _token_ok(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    return any(hmac.compare_digest(token, t) for t in request.app["gateway"].config.admin.tokens) and bool(token)


@web.middleware
async def admin_auth(request: web.Request, handler):
    if request.path.startswith("/admin/"):
        if not _token_ok(request):
            return _problem(401, "UNAUTHORIZED", "an admin token is required: Authorization: Bearer <token>")
        committer = request.app["gateway"].committer
        if committer is not None and committer.failed:
            # a change could not be acknowledged, and a read answers once the journal has caught up
            return _problem(503, "JOURNAL_FAILED", "the journal has stopped after a failed write: nothing can be "
                                                   "acknowledged until the gateway is restarted (see /health)")
    return await handler(request)


def _problem(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


async def _body(request: web.Request, kind):
    data = await request.read()
    if len(data) > 65_536:
        raise web.HTTPRequestEntityTooLarge(max_size=65_536, actual_size=len(data))
    try:
        return msgspec.json.decode(data or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _Bad(str(exc)) from None


class _Bad(Exception):
    pass


def _int(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise _Bad(f"{name} must be an integer") from None
    if value < 0 or value > 2**31:
        raise _Bad(f"{name} out of range")
    return value


async def _apply(gateway, command, account: int | None = None) -> web.Response:
    """Submit a command, wait until it is durable, answer with its result or its refusal."""
    seq, outcome, events = gateway.submit(command)
    await gateway.settled()
    refused = [e for e in events if isinstance(e, CommandRefused)]
    if refused:
        r = refused[0]
        return _problem(409, r.reason, f"{r.reason}: {r.detail}" if r.detail else r.reason, reject_code=r.code, seq=seq)
    return web.json_response(msgspec.to_builtins(Result(ok=True, seq=seq, account=account)))


def _handler(fn):
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await fn(request, request.app["gateway"])
        except _Bad as exc:
            return _problem(400, "BAD_REQUEST", str(exc))
    wrapped.__doc__ = fn.__doc__
    return wrapped


@_handler
async def open_account(request, gw):
    """Open an account for a client in a tier."""
    body = await _body(request, NewAccount)
    if body.client not in gw.clients:
        raise _Bad(f"unknown client {body.client!r}; configured: {', '.join(gw.clients)}")
    seq, outcome, _ = gw.submit(OpenAccount(tier=body.tier, name=body.name, client=body.client))
    await gw.settled()
    if outcome.result < 0:
        from core.rejects import RejectCode, format_detail

        code = RejectCode(-outcome.result)
        return _problem(409, code.name, f"{code.name}: {format_detail(code, outcome.detail)}", reject_code=int(code))
    return web.json_response(msgspec.to_builtins(Result(ok=True, seq=seq, account=outcome.result)))


@_handler
async def set_tier(request, gw):
    return await _apply(gw, SetTier(account=_int(request, "account"), tier=(await _body(request, TierChange)).tier))


@_handler
async def deposit(request, gw):
    """Deposit fen into the account's cash (custodian books credited too)."""
    account, body = _int(request, "account"), await _body(request, Amount)
    response = await _apply(gw, Deposit(account=account, amount=body.amount))
    if response.status == 200 and gw.broker.books is not None:
        gw.broker.books.credit(str(account), body.amount)
    return response


@_handler
async def withdraw(request, gw):
    """Withdraw fen, if free cash covers it and the collateral ratio stays at or above 300 %."""
    account, body = _int(request, "account"), await _body(request, Amount)
    response = await _apply(gw, Withdraw(account=account, amount=body.amount))
    if response.status == 200 and gw.broker.books is not None:
        gw.broker.books.credit(str(account), -body.amount)
    return response


def _flag(flag: str):
    @_handler
    async def set_flag(request, gw):
        body = await _body(request, Switch)
        return await _apply(gw, SetAccountFlag(account=_int(request, "account"), flag=flag, on=body.on))
    return set_flag


@_handler
async def halt_instrument(request, gw):
    code = request.match_info["code"]
    if code not in gw.universe:
        raise _Bad(f"unknown instrument {code!r}")
    return await _apply(gw, HaltInstrument(instrument=code, halted=(await _body(request, Halt)).halted))


@_handler
async def controls(request, gw):
    """Emergency controls: global kill switch, halt new buys, halt new deposits, halt new accounts,
    pause (or resume) automatic liquidation."""
    body = await _body(request, Controls)
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not None}
    if not changes:
        raise _Bad("name at least one control")
    seq = 0
    for control, on in changes.items():
        seq, _, _ = gw.submit(SetControl(control=control, on=on))
        if control == "global_kill" and on:
            _cancel_all_client_orders(gw)
    await gw.settled()
    return web.json_response({"ok": True, "seq": seq, **changes})


def _cancel_all_client_orders(gw, account: int | None = None) -> None:
    """A kill switch cancels every open client order (the platform's liquidation orders are kept)."""
    for record in gw.machine.registry.records(account):
        if record.state.open and not record.liquidation and record.state.value != "cancel_pending":
            gw.cancel(record.order)


@_handler
async def kill_account(request, gw):
    account = _int(request, "account")
    body = await _body(request, Switch)
    response = await _apply(gw, SetAccountFlag(account=account, flag="kill", on=body.on))
    if response.status == 200 and body.on:
        _cancel_all_client_orders(gw, account)
        await gw.settled()
    return response


@_handler
async def raise_lines(request, gw):
    """Raise every tier's warning, margin-call, liquidation and restore lines by raise_bp (0 resets)."""
    return await _apply(gw, RaiseLines(bp=(await _body(request, Lines)).raise_bp))


@_handler
async def fund_insurance_pool(request, gw):
    """The platform pays fen into the insurance pool (the first line of the default waterfall)."""
    body = await _body(request, Amount)
    return await _apply(gw, FundInsurancePool(amount=body.amount))


@_handler
async def clear_default(request, gw):
    """End an account's default (once it owes nothing on the margin book)."""
    return await _apply(gw, ClearDefault(account=_int(request, "account")))


@_handler
async def liquidations(request, gw):
    """Accounts the liquidator is working on: state, ratio, what is left to sell, the next stage."""
    await gw.settled()
    engine, liquidator = gw.machine.engine, gw.machine.liquidator
    out = []
    for account, st in sorted(liquidator.state.accounts.items()):
        view = engine.account(account)
        to_sell, everything = engine.liquidation_amount(account)
        working = [r.order for r in gw.machine.registry.open_orders(account) if r.liquidation]
        out.append({"account": account, "state": MarginState(view["state"]).name,
                    "collateral_ratio_bp": view["collateral_ratio_bp"], "equity": view["equity"],
                    "to_sell": to_sell, "everything": everything, "stages": st.stage,
                    "next_stage_ms": st.next_ns // 1_000_000, "waiting": st.waiting_epoch == liquidator.state.epoch,
                    "working_orders": working})
    return web.json_response({"paused": liquidator.state.paused, "accounts": out})


@_handler
async def reconciliation(request, gw):
    """The last end-of-day reconciliation with the custodian's books (POST: run one now)."""
    if gw.broker.books is None:
        return _problem(409, "RECONCILIATION_UNAVAILABLE",
                        "reconciliation needs the custodian's books, which a FIX broker does not send")
    if request.method == "POST":
        gw.reconcile()
    await gw.settled()
    last = gw.machine.reconciliation
    if last is None:
        return web.json_response({"reconciled": False})
    return web.json_response({
        "reconciled": True, "day": dt.date.fromordinal(last.day).isoformat(), "accounts": last.accounts,
        "breaks": [{"account": b.account, "item": b.item, "ours": b.ours, "theirs": b.theirs,
                    "difference": b.ours - b.theirs} for b in last.breaks]})


@_handler
async def advance_clock(request, gw):
    """Move simulated time forward (drills and tests, with market injection allowed)."""
    _market_allowed(gw)
    body = await _body(request, AdvanceClock)
    if not 0 < body.seconds <= 7 * 86_400:
        raise _Bad("seconds must be in (0, 604800]")
    gw.clock.advance(gw.clock.now() + int(body.seconds * 1e9))
    gw.advance_clock()
    await asyncio.sleep(0)
    await gw.settled()
    return web.json_response({"ok": True, "seq": gw.journaled.journal.seq, "now_ms": gw.now() // 1_000_000})


@_handler
async def get_account(request, gw):
    account = _int(request, "account")
    if account >= gw.machine.engine.platform()["accounts"]:
        return _problem(404, "UNKNOWN_ACCOUNT", f"no account {account}")
    await gw.settled()
    view = msgspec.to_builtins(gw.account_view(account))
    view.update(name=gw.machine.account_names[account], client=gw.machine.account_clients[account])
    view["positions"] = msgspec.to_builtins(gw.positions_view(account, "admin").positions)
    return web.json_response(view)


def _query_number(request, name: str, kind, default):
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise _Bad(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None


@_handler
async def account_risk(request, gw):
    """An account's risk-return figures (DOMAIN.md section 8): leverage and ROE at its tier's rate
    for a range of gross returns, VaR, the distance to each line."""
    account = _int(request, "account")
    if account >= gw.machine.engine.platform()["accounts"]:
        return _problem(404, "UNKNOWN_ACCOUNT", f"no account {account}")
    days = _query_number(request, "days", int, 1)
    confidence = _query_number(request, "confidence", float, 0.95)
    raw = request.query.get("gross_return_bp")
    try:
        returns = tuple(int(x) for x in raw.split(",")) if raw else (-2_000, -1_000, 0, 1_000, 2_000)
    except ValueError:
        raise _Bad(f"gross_return_bp must be integers (bp) separated by commas, got {raw!r}") from None
    if not 1 <= days <= 250:
        raise _Bad(f"days must be in 1..250, got {days}")
    if not 0.5 < confidence < 1:
        raise _Bad(f"confidence must be in (0.5, 1), got {confidence}")
    if not 1 <= len(returns) <= 20 or any(abs(r) > 100_000 for r in returns):
        raise _Bad("gross_return_bp: 1 to 20 values, each within +-100000 bp")
    await gw.settled()
    return web.json_response(riskcalc.account_risk(gw.machine, account, returns, days, confidence))


@_handler
async def what_if(request, gw):
    """The calculator on figures the caller gives: a position of `exposure` fen on `own_capital`."""
    body = await _body(request, WhatIf)
    try:
        return web.json_response(riskcalc.what_if(**msgspec.structs.asdict(body)))
    except ValueError as exc:  # the calculator names the input out of range
        raise _Bad(str(exc)) from None


@_handler
async def list_accounts(request, gw):
    await gw.settled()
    engine = gw.machine.engine
    out = []
    for a in range(engine.platform()["accounts"]):
        v = engine.account(a)
        out.append({"account": a, "name": gw.machine.account_names[a], "client": gw.machine.account_clients[a],
                    "tier": gw.machine.tiers[v["tier"]].name, "state": MarginState(v["state"]).name,
                    "equity": v["equity"], "collateral_ratio_bp": v["collateral_ratio_bp"]})
    return web.json_response(out)


@_handler
async def kpis(request, gw):
    """The platform's KPIs (DOMAIN.md section 9)."""
    await gw.settled()
    return web.json_response(platform_kpis(gw.machine, gw.alert_counts))


def _market_allowed(gw):
    if not gw.config.market.allow_injection:
        raise _Bad("market injection is off (market.allow_injection = false)")


@_handler
async def inject_tick(request, gw):
    """Inject a trade and L1 quote, as if the market had sent it (tests and drills only)."""
    _market_allowed(gw)
    body = await _body(request, InjectTick)
    if body.instrument not in gw.universe:
        raise _Bad(f"unknown instrument {body.instrument!r}")
    gw.on_market(Tick(ts=gw.now(), instrument=body.instrument, last=body.last,
                      volume=body.volume, bid=body.bid, bid_size=body.bid_size, ask=body.ask, ask_size=body.ask_size,
                      lock=body.lock))
    await asyncio.sleep(0)  # let the broker's reports in
    await gw.settled()
    return web.json_response({"ok": True, "seq": gw.journaled.journal.seq})


@_handler
async def inject_day(request, gw):
    """Close the trading day and open the next (expiries, interest, T+1)."""
    _market_allowed(gw)
    import datetime as dt

    body = await _body(request, InjectDay)
    try:
        day = dt.date.fromisoformat(body.day).toordinal()
    except ValueError:
        raise _Bad(f"day {body.day!r} is not an ISO date") from None
    now = gw.now()
    gw.on_market(DayClose(ts=now, day=gw.machine.engine.platform()["trading_day"]))
    await asyncio.sleep(0)
    gw.on_market(DayOpen(ts=now, day=day))
    if gw.reconciling is not None:
        await gw.reconciling  # the close's reconciliation is part of the day's end
    await gw.settled()
    return web.json_response({"ok": True, "seq": gw.journaled.journal.seq,
                              "trading_day": gw.machine.engine.platform()["trading_day"]})


def add_routes(app: web.Application) -> None:
    app.middlewares.append(admin_auth)
    app.router.add_get("/admin/accounts", list_accounts)
    app.router.add_post("/admin/accounts", open_account)
    app.router.add_get("/admin/accounts/{account}", get_account)
    app.router.add_post("/admin/accounts/{account}/tier", set_tier)
    app.router.add_get("/admin/accounts/{account}/risk", account_risk)
    app.router.add_post("/admin/risk/what-if", what_if)
    app.router.add_post("/admin/accounts/{account}/deposit", deposit)
    app.router.add_post("/admin/accounts/{account}/withdraw", withdraw)
    app.router.add_post("/admin/accounts/{account}/freeze", _flag("frozen"))
    app.router.add_post("/admin/accounts/{account}/reduce-only", _flag("reduce_only"))
    app.router.add_post("/admin/accounts/{account}/active", _flag("active"))
    app.router.add_post("/admin/accounts/{account}/kill", kill_account)
    app.router.add_post("/admin/accounts/{account}/clear-default", clear_default)
    app.router.add_post("/admin/insurance-pool", fund_insurance_pool)
    app.router.add_get("/admin/liquidations", liquidations)
    app.router.add_get("/admin/reconciliation", reconciliation)
    app.router.add_post("/admin/reconciliation", reconciliation)
    app.router.add_post("/admin/clock", advance_clock)
    app.router.add_post("/admin/instruments/{code}/halt", halt_instrument)
    app.router.add_post("/admin/controls", controls)
    app.router.add_post("/admin/lines", raise_lines)
    app.router.add_get("/admin/kpis", kpis)
    app.router.add_post("/admin/market/tick", inject_tick)
    app.router.add_post("/admin/market/day", inject_day)
