"""The order path's compiled parts, glued by as little Python as can call them: a floor.

    python -m bench.order_floor [--orders 10000] [--reps 5] [--beside-path] [--pin CPU]

Per order, the parts that every order needs and that are already compiled: the frame decoded
(msgspec, with the gateway's own decoder and NewOrder checks), the pre-trade checks and the
order opened in the Cython engine, its journal record framed (the command and its outcome
encoded, the chain and CRC), the acknowledgement encoded (msgspec); then the broker's half: the
order taken by the simulated broker's compiled core, the broker's acknowledgement journaled
and the `new` update encoded. Nothing else: no session, no registry, no events, no loop turns,
no websocket framing, and the journal written once per repetition. The same
gateway set-up, frames and journal code as `bench.order_path` (whose gateway it starts; the
orders go to its engine directly and their records to a journal file of their own).

It is not a path the gateway could take as it is. It says how much of `bench.order_path`'s CPU
per order is the compiled work, and so how much a leaner order path has to win in the layers
between the parts (dispatch, records, events, callbacks, publishing). Minimum of --reps
repetitions after one of warm-up, µs of the thread's CPU per order. `--beside-path` also runs
`bench.order_path` at one order per turn in the same process and prints the ratio of the two
(`make bench` does). `--pin` keeps the process on one CPU (the last one by default; `--pin -1`
leaves it where the scheduler puts it, which is noisier).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time

import msgspec
import uvloop

from core.commands import BrokerAck, Outcome, PlaceOrder, encode_entry
from gateway import protocol as p
from gateway.journal.file import FileJournal
from simulators.broker.interface import NewOrder as BrokerOrder

from .order_path import measure as measure_path
from .order_path import order_frames, started_gateway


async def measure(orders: int, reps: int, directory: str | None = None) -> dict:
    """{"cpu_us": µs of CPU per order for each repetition, "records": records journaled, "journal": its path}.
    The journal and the gateway's own are written in `directory`, which stays the caller's; without one, in a
    temporary directory that is removed at the end (and "journal" is None)."""
    if directory is not None:
        return await _measure(orders, reps, directory)
    scratch = tempfile.mkdtemp(prefix="beacon-order-floor-")
    try:
        return {**await _measure(orders, reps, scratch), "journal": None}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _measure(orders: int, reps: int, directory: str) -> dict:
    gateway = await started_gateway("none", directory)
    engine, instrument, ts = gateway.machine.engine, gateway.machine.instrument_id("600036"), gateway.now()
    broker, acknowledged = gateway.broker.core, Outcome()
    journal = FileJournal(f"{directory}/floor.log", "none")
    decode, encode = p.JSON_DECODER.decode, msgspec.json.Encoder().encode
    cpu_us = []
    for rep in range(reps + 1):  # the first is warm-up
        frames = order_frames(orders, rep * orders)
        gc.collect()
        before = time.thread_time()
        for frame in frames:
            request = decode(frame)
            order = engine.place_order(request.account, instrument, 1, request.price, request.qty,
                                       request.client_order_id, ts, False)
            command = PlaceOrder(account=request.account, instrument=request.instrument, side=1, price=request.price,
                                 qty=request.qty, client_order_id=request.client_order_id, ts=ts)
            journal.append(encode_entry(command, Outcome(order)))
            encode(p.OrderAck(req_id=request.req_id, order_id=order, client_order_id=request.client_order_id,
                              account=request.account, instrument=request.instrument, side=request.side,
                              qty=request.qty, price=request.price, reserved=engine.order_reserved(order)))
            report = broker.submit(BrokerOrder(cl_ord_id=str(order), account=str(request.account),
                                               instrument=request.instrument, side=1, price=request.price,
                                               qty=request.qty), ts)[0]
            journal.append(encode_entry(BrokerAck(order=order, broker_order_id=report.broker_order_id, ts=ts),
                                        acknowledged))
            encode(p.OrderUpdate(order_id=order, client_order_id=request.client_order_id, account=request.account,
                                 status=report.exec_type, filled=0, remaining=request.qty))
        elapsed = time.thread_time() - before
        if order <= 0 or report.exec_type != "new":
            raise SystemExit(f"the engine or the broker refused the floor's orders ({order}, {report.exec_type}): "
                             "the figure would mean nothing")
        journal.write_batch(*journal.take_batch(), sync=False)
        if rep:
            cpu_us.append(elapsed / orders * 1e6)
    records = journal.seq
    journal.close()
    await gateway.stop()
    return {"cpu_us": cpu_us, "records": records, "journal": f"{directory}/floor.log"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--beside-path", action="store_true",
                        help="also measure bench.order_path (one order per turn) and print the ratio")
    parser.add_argument("--pin", type=int, default=(os.cpu_count() or 1) - 1,
                        help="the CPU to run on (-1: do not pin)")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.reps < 1:
        parser.error("need --orders >= 1 and --reps >= 1")
    if args.pin >= 0 and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {args.pin})
        except OSError as exc:
            parser.error(f"cannot run on CPU {args.pin}: {exc}")
    cpu_us = uvloop.run(measure(args.orders, args.reps))["cpu_us"]
    print(f"order floor (the compiled parts alone): min {min(cpu_us):.2f} µs CPU per order "
          f"({' '.join(f'{x:.2f}' for x in cpu_us)})")
    if args.beside_path:
        path = uvloop.run(measure_path("none", 1, args.orders, args.reps))
        print(f"order path (bench.order_path, one order per turn): min {path['min']:.2f} µs CPU per order; "
              f"{path['min'] / min(cpu_us):.1f}x its compiled parts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
