"""The HTTP server: the websocket API, the admin API, health, metrics and the API documents."""

from __future__ import annotations

import asyncio
import os
import logging
import signal

import msgspec
import uvloop
from aiohttp import web

from . import admin, protocol
from .config import Config
from .service import Gateway
from .ws import close_all, websocket_handler

log = logging.getLogger("beacon")


async def health(request: web.Request) -> web.Response:
    gw: Gateway = request.app["gateway"]
    ready = gw.started and gw.committer is not None
    failed = ready and gw.committer.failed  # the journal stopped: nothing more is acknowledged
    body = {"status": "journal_failed" if failed else "ok" if ready else "starting",
            "journal_seq": gw.journaled.journal.seq if ready else 0,
            "safe_seq": gw.committer.safe_seq if ready else 0,
            # fsync'd: under interval it trails safe_seq by at most an interval, unless fsyncs fail
            "durable_seq": gw.journaled.journal.durable_seq if ready else 0, "connections": len(gw.sessions),
            "broker_connected": bool(gw.broker and gw.broker.connected)}
    if ready:  # where a restart would start: the newest snapshot (this run's, or the one recovered from)
        recovered = gw.journaled.recovered
        body["snapshot_seq"] = gw.committer.last_snapshot_seq or (recovered.snapshot_seq if recovered else 0)
        body["snapshots_written"] = gw.committer.snapshots
        body["snapshot_failures"] = gw.committer.snapshot_failures
        if recovered is not None:
            body["recovered"] = {"records": recovered.last_seq, "snapshot_seq": recovered.snapshot_seq,
                                 "replayed": recovered.replayed, "seconds": round(recovered.seconds, 3)}
    return web.json_response(body, status=200 if ready and not failed else 503)


async def metrics(request: web.Request) -> web.Response:
    gw: Gateway = request.app["gateway"]
    gw.metrics.journal_safe.set(gw.committer.safe_seq if gw.committer else 0)
    gw.metrics.journal_seq.set(gw.journaled.journal.seq if gw.journaled else 0)
    gw.metrics.journal_failed.set(1 if gw.committer and gw.committer.failed else 0)
    gw.metrics.journal_durable.set(gw.journaled.journal.durable_seq if gw.journaled else 0)
    return web.Response(body=gw.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type": "text/plain; version=0.0.4"})


async def ws_schema(request: web.Request) -> web.Response:
    return web.json_response(protocol.schemas())


async def asyncapi(request: web.Request) -> web.Response:
    return web.json_response(asyncapi_document())


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def asyncapi_document() -> dict:
    schema = protocol.schemas()
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "Beacon websocket API", "version": "1", "description": protocol.__doc__.strip()},
        "servers": {"local": {"url": "ws://127.0.0.1:8765/ws", "protocol": "ws"}},
        "channels": {"/ws": {
            "publish": {"summary": "Requests from the client", "message": {
                "name": "ClientMessage", "contentType": "application/json",
                "payload": {"$ref": "#/components/schemas/ClientMessage"}}},
            "subscribe": {"summary": "Answers and pushes from the gateway (each with seq)", "message": {
                "name": "ServerMessage", "contentType": "application/json",
                "payload": {"$ref": "#/components/schemas/ServerMessage"}}},
        }},
        "components": {"schemas": {k: _rewrite_refs(v, "#/components/schemas/") for k, v in schema["$defs"].items()}},
    }


def _rewrite_refs(node, prefix: str):
    if isinstance(node, dict):
        return {k: (prefix + v.split("/")[-1] if k == "$ref" else _rewrite_refs(v, prefix)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def openapi_document() -> dict:
    bodies = {name: getattr(admin, name) for name in ("NewAccount", "Amount", "TierChange", "Switch", "Halt",
                                                         "Controls", "Lines", "InjectTick", "InjectDay", "AdvanceClock",
                                                         "WhatIf", "Result")}
    schemas, components = msgspec.json.schema_components(list(bodies.values()),
                                                         ref_template="#/components/schemas/{name}")

    def post(summary: str, body: str | None, path_params: tuple = ()) -> dict:
        request = {} if body is None else {"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}}
        return {"post": {
            "summary": summary, "security": [{"bearer": []}],
            "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                           for n in path_params],
            **request,
            "responses": {"200": {"description": "done, durable in the journal", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Result"}}}},
                "400": {"description": "malformed request (the message names the problem)"},
                "401": {"description": "no or wrong admin token"},
                "409": {"description": "refused by the engine: error is the reject code's name"}}}}

    def get(summary: str, path_params: tuple = ()) -> dict:
        return {"get": {"summary": summary, "security": [{"bearer": []}],
                        "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                       for n in path_params],
                        "responses": {"200": {"description": "JSON"}, "401": {"description": "no admin token"}}}}

    paths = {
        "/admin/accounts": {**get("List accounts"), **post("Open an account for a client in a tier", "NewAccount")},
        "/admin/accounts/{account}": get("An account with its positions", ("account",)),
        "/admin/accounts/{account}/tier": post("Move an account to another tier", "TierChange", ("account",)),
        "/admin/accounts/{account}/deposit": post("Deposit (fen)", "Amount", ("account",)),
        "/admin/accounts/{account}/withdraw": post("Withdraw (fen) while R stays >= 300 %", "Amount", ("account",)),
        "/admin/accounts/{account}/freeze": post("Freeze or unfreeze", "Switch", ("account",)),
        "/admin/accounts/{account}/reduce-only": post("Set reduce-only", "Switch", ("account",)),
        "/admin/accounts/{account}/active": post("Activate or close", "Switch", ("account",)),
        "/admin/accounts/{account}/kill": post("Per-account kill switch (cancels open orders)", "Switch",
                                               ("account",)),
        "/admin/instruments/{code}/halt": post("Halt or resume an instrument", "Halt", ("code",)),
        "/admin/controls": post("Emergency controls", "Controls"),
        "/admin/lines": post("Raise all margin lines by N bp", "Lines"),
        "/admin/accounts/{account}/clear-default": post("End a default once nothing is owed on the margin book",
                                                        None, ("account",)),
        "/admin/insurance-pool": post("Pay fen into the insurance pool", "Amount"),
        "/admin/liquidations": get("Accounts in automatic liquidation"),
        "/admin/reconciliation": {**get("The last end-of-day reconciliation"),
                                  **post("Reconcile with the custodian's books now", None)},
        "/admin/clock": post("Advance simulated time (when market injection is allowed)", "AdvanceClock"),
        "/admin/kpis": get("Platform KPIs"),
        "/admin/accounts/{account}/risk": get("Risk-return figures of an account (query: gross_return_bp, days, "
                                              "confidence)", ("account",)),
        "/admin/risk/what-if": {"post": {**post("", "WhatIf")["post"], "summary": "The risk-return calculator on "
                                         "the caller's figures (answers the figures; changes nothing)"}},
        "/admin/market/tick": post("Inject a market tick (when allowed)", "InjectTick"),
        "/admin/market/day": post("Roll the trading day (when market injection is allowed)", "InjectDay"),
        "/health": {"get": {"summary": "Liveness and readiness", "responses": {
            "200": {"description": "ok"},
            "503": {"description": "starting, or journal_failed: a journal write failed and nothing more "
                                   "is acknowledged"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
    }
    return {"openapi": "3.1.0", "info": {"title": "Beacon admin API", "version": "1",
                                         "description": admin.__doc__.strip()},
            "paths": paths,
            "components": {"schemas": components,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


def make_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    gateway = Gateway(config)
    app["gateway"] = gateway
    app.router.add_get("/ws", websocket_handler)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/schema/ws.json", ws_schema)
    app.router.add_get("/asyncapi.json", asyncapi)
    app.router.add_get("/openapi.json", openapi)
    admin.add_routes(app)

    app["background"] = []  # tasks that run beside the server (the demo strategy), stopped first

    async def on_startup(app):
        await gateway.start()

    async def on_shutdown(app):
        for task in app["background"]:
            task.cancel()
        await asyncio.gather(*app["background"], return_exceptions=True)
        await close_all(gateway)

    async def on_cleanup(app):
        await gateway.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(config: Config, ready=None) -> None:
    """Run until SIGINT or SIGTERM."""
    app = make_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    log.info("listening on %s:%s", config.server.host, port)
    order_server, order_line = None, ""
    if config.server.order_port >= 0:
        from .orderport import serve_order_port

        order_server = await serve_order_port(app["gateway"], config.server.host, config.server.order_port)
        app["order_port"] = order_server.sockets[0].getsockname()[1]
        order_line = f"  order-port ws://{config.server.host}:{app['order_port']}/ws"
    print(f"beacon: serving ws://{config.server.host}:{port}/ws  admin http://{config.server.host}:{port}/admin/  "
          f"journal {config.journal.dir}{order_line}", flush=True)
    if ready is not None:
        await ready(app, port)
    # Everything built so far (the universe, the engine, the recovered state, the libraries)
    # lives as long as the process: move it out of the cyclic collector's scans, so a full
    # collection under load walks only what was made since.
    import gc
    gc.collect()
    gc.freeze()
    if os.environ.get("BEACON_GC_PROBE"):  # diagnosis: log every collection over 1 ms (or the value given, in ms)
        import time as _time
        starts = {}
        try:
            over_s = float(os.environ["BEACON_GC_PROBE"]) / 1e3
        except ValueError:
            over_s = 0.001

        def probe(phase, info):
            if phase == "start":
                starts["t"] = _time.perf_counter()
            elif _time.perf_counter() - starts.get("t", 0) > over_s:
                log.warning("gc gen%d took %.1f ms (%d collected)", info["generation"],
                            (_time.perf_counter() - starts["t"]) * 1e3, info["collected"])
        gc.callbacks.append(probe)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if order_server is not None:
            order_server.close()  # no new connections; the open ones are closed with the others
        await runner.cleanup()


def run(config: Config, ready=None) -> None:
    if os.environ.get("BEACON_CPROFILE"):  # diagnosis only: a deterministic profile of the whole run
        import cProfile
        cProfile.runctx("uvloop.run(serve(config, ready))", globals(), locals(), os.environ["BEACON_CPROFILE"])
        return
    uvloop.run(serve(config, ready))
