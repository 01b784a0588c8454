"""A FIX counterparty on the QuickFIX engine, run as its own process by the interop tests.

QuickFIX calls its Python application from its own C++ threads; sharing a process with an
asyncio loop that runs Python at the same time crashed it here (a segfault in stop()), so
the peer lives apart, and its main thread only waits. It takes commands as JSON lines on
stdin and reports what its callbacks saw as JSON lines on stdout.

    python quickfix_peer.py acceptor|initiator PORT SENDER TARGET DIR DICTIONARY

Commands: {"order": {...}}, {"cancel": {...}}, {"gap": n} (skip n outgoing sequence
numbers), {"stop": true}. Events: {"event": "logon"|"logout"}, {"event": "admin_in"|
"admin_out"|"app_in", "type": MsgType, "raw": message}.

As an acceptor it plays a minimal broker: every order is acknowledged, and filled at its
price when priced at 10.00 or more (with commission and a MiscFees group); cancels are
confirmed.
"""

import json
import os
import sys
import threading
import time

import quickfix as fix

_out = threading.Lock()


def emit(**event) -> None:
    with _out:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def _type(message) -> str:
    return message.getHeader().getField(35)


def _soh(message) -> str:
    return message.toString()


class Peer(fix.Application):
    def __init__(self, broker: bool):
        super().__init__()
        self.broker = broker
        self.session_id = None
        self.n = 0

    def onCreate(self, session_id):
        self.session_id = fix.SessionID(session_id.getBeginString().getValue(),
                                        session_id.getSenderCompID().getValue(),
                                        session_id.getTargetCompID().getValue())

    def onLogon(self, session_id):
        emit(event="logon")

    def onLogout(self, session_id):
        emit(event="logout")

    def toAdmin(self, message, session_id):
        emit(event="admin_out", type=_type(message), raw=_soh(message))

    def fromAdmin(self, message, session_id):
        emit(event="admin_in", type=_type(message), raw=_soh(message))

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        emit(event="app_in", type=_type(message), raw=_soh(message))
        if self.broker:
            self._answer(message, session_id)

    # ------------------------------------------------------------------ the broker's side
    def _report(self, request, exec_type, status, cl, last_qty=0, cum=0, leaves=0, fees=False):
        self.n += 1
        report = fix.Message()
        report.getHeader().setField(fix.MsgType("8"))
        fields = [(37, f"QF-{cl}"), (11, cl), (17, f"QFX-{self.n}"), (150, exec_type), (39, status),
                  (55, request.getField(55)), (54, request.getField(54)), (151, str(leaves)), (14, str(cum)),
                  (6, request.getField(44) if request.isSetField(44) else "0")]
        if request.isSetField(1):
            fields.append((1, request.getField(1)))
        if request.isSetField(207):
            fields.append((207, request.getField(207)))
        for tag, value in fields:
            report.setField(fix.StringField(tag, value))
        if last_qty:
            report.setField(fix.StringField(32, str(last_qty)))
            report.setField(fix.StringField(31, request.getField(44)))
        if fees:
            report.setField(fix.StringField(12, "5.00"))
            report.setField(fix.StringField(13, "3"))
            report.setField(fix.StringField(136, "1"))
            group = fix.Group(136, 137)
            group.setField(fix.StringField(137, "0.01"))
            group.setField(fix.StringField(138, "CNY"))
            group.setField(fix.StringField(139, "4"))
            report.addGroup(group)
        return report

    def _answer(self, message, session_id):
        kind = _type(message)
        if kind == "D":
            cl, qty = message.getField(11), int(message.getField(38))
            fix.Session.sendToTarget(self._report(message, "0", "0", cl, leaves=qty), session_id)
            if float(message.getField(44)) >= 10.0:
                fix.Session.sendToTarget(self._report(message, "F", "2", cl, last_qty=qty, cum=qty, fees=True),
                                         session_id)
        elif kind == "F":
            fix.Session.sendToTarget(self._report(message, "4", "4", message.getField(41)), session_id)

    # ------------------------------------------------------------------ the client's side
    def send(self, msg_type: str, fields: dict) -> None:
        message = fix.Message()
        message.getHeader().setField(fix.MsgType(msg_type))
        for tag, value in fields.items():
            message.setField(fix.StringField(int(tag), str(value)))
        fix.Session.sendToTarget(message, self.session_id)


def settings(role, port, sender, target, directory, dictionary) -> str:
    lines = ["[DEFAULT]", f"ConnectionType={role}", "StartTime=00:00:00", "EndTime=00:00:00", "HeartBtInt=1",
             f"FileStorePath={directory}/store", f"FileLogPath={directory}/log", "UseDataDictionary=Y",
             f"DataDictionary={dictionary}", "ValidateUserDefinedFields=Y", "ReconnectInterval=1",
             "[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={sender}", f"TargetCompID={target}"]
    lines += [f"SocketAcceptPort={port}"] if role == "acceptor" else [f"SocketConnectPort={port}",
                                                                     "SocketConnectHost=127.0.0.1"]
    path = os.path.join(directory, f"quickfix-{role}.cfg")
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def main() -> None:
    role, port, sender, target, directory, dictionary = sys.argv[1:7]
    application = Peer(broker=role == "acceptor")
    config = fix.SessionSettings(settings(role, port, sender, target, directory, dictionary))
    store, log = fix.FileStoreFactory(config), fix.FileLogFactory(config)
    engine = (fix.SocketAcceptor if role == "acceptor" else fix.SocketInitiator)(application, store, config, log)
    engine.start()
    emit(event="started")
    for line in sys.stdin:
        command = json.loads(line)
        if "order" in command:
            application.send("D", command["order"])
        elif "cancel" in command:
            application.send("F", command["cancel"])
        elif "gap" in command:
            session = fix.Session.lookupSession(application.session_id)
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + int(command["gap"]))
            emit(event="gapped")
        elif "stop" in command:
            break
    engine.stop()
    emit(event="stopped")
    time.sleep(0.1)
    os._exit(0)  # skip QuickFIX's destructors at interpreter exit


if __name__ == "__main__":
    main()
