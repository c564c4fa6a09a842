#!/usr/bin/env python3
"""A PDU-aware fault-injecting TCP relay for iSCSI (RFC 7143 framing), for end-to-end tests.

    iscsi-fault-proxy.py --listen 127.0.0.1:0 --target 127.0.0.1:3260 \
        --rule corrupt-data:to-initiator:DataIn:3 [--rule ...]

Each accepted connection is relayed to --target. Both directions are framed PDU by PDU: the 48-byte BHS
(TotalAHSLength in byte 4, DataSegmentLength in bytes 5..7), the AHS, a header digest, the data segment padded
to 4 bytes and a data digest. Digests are absent during login; the values the target answered for HeaderDigest
and DataDigest ("CRC32C" = on) apply from the first PDU after the final Login Response (T=1, NSG=3, status
class 0), per connection.

A rule is ACTION:DIRECTION:OPCODE:NTH and fires once, on the NTH full-feature PDU with that opcode in that
direction, counted over all connections since the proxy started:
    ACTION     drop | corrupt-data | corrupt-header | kill
               drop            the PDU is not forwarded (the stream stays framed)
               corrupt-data    one byte of the data segment is flipped (a data digest error if DataDigest is on)
               corrupt-header  the low byte of the ITT (BHS byte 19) is flipped (a header digest error if HeaderDigest is on)
               kill            both sockets of that connection are reset instead of forwarding the PDU
    DIRECTION  to-target | to-initiator
    OPCODE     a name (DataIn, DataOut, ScsiCommand, ScsiResponse, R2T, NopIn, NopOut, ...) or hex (0x25)

Prints exactly one line "listening HOST:PORT" on stdout when ready; logs connections and every fired rule on
stderr; relays until SIGTERM or SIGINT, then exits 0. Standard library only.
"""

import argparse
import asyncio
import signal
import socket
import struct
import sys

OPCODES = {
    "nopout": 0x00, "scsicommand": 0x01, "scsicmd": 0x01, "taskmgmt": 0x02, "taskmanagementrequest": 0x02,
    "loginreq": 0x03, "loginrequest": 0x03, "textreq": 0x04, "textrequest": 0x04, "dataout": 0x05,
    "logout": 0x06, "logoutrequest": 0x06, "snack": 0x10, "snackrequest": 0x10,
    "nopin": 0x20, "scsiresponse": 0x21, "taskmgmtresp": 0x22, "taskmanagementresponse": 0x22,
    "loginresp": 0x23, "loginresponse": 0x23, "textresp": 0x24, "textresponse": 0x24, "datain": 0x25,
    "logoutresp": 0x26, "logoutresponse": 0x26, "r2t": 0x31, "readytotransfer": 0x31,
    "async": 0x32, "asyncmessage": 0x32, "reject": 0x3f,
}
NAMES = {0x00: "NopOut", 0x01: "ScsiCommand", 0x02: "TaskMgmt", 0x03: "LoginReq", 0x04: "TextReq", 0x05: "DataOut",
         0x06: "Logout", 0x10: "SNACK", 0x20: "NopIn", 0x21: "ScsiResponse", 0x22: "TaskMgmtResp", 0x23: "LoginResp",
         0x24: "TextResp", 0x25: "DataIn", 0x26: "LogoutResp", 0x31: "R2T", 0x32: "Async", 0x3f: "Reject"}
ACTIONS = ("drop", "corrupt-data", "corrupt-header", "kill")
DIRECTIONS = ("to-target", "to-initiator")
LOGIN_RESPONSE = 0x23


def log(message):
    print(message, file=sys.stderr, flush=True)


def opcode_name(opcode):
    return NAMES.get(opcode, "opcode 0x%02x" % opcode)


class Rule:
    def __init__(self, text):
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError("a rule is ACTION:DIRECTION:OPCODE:NTH, not %r" % text)
        action, direction, opcode, nth = parts
        if action not in ACTIONS:
            raise ValueError("unknown action %r (one of %s)" % (action, ", ".join(ACTIONS)))
        if direction not in DIRECTIONS:
            raise ValueError("unknown direction %r (to-target or to-initiator)" % direction)
        if opcode.lower() in OPCODES:
            self.opcode = OPCODES[opcode.lower()]
        else:
            try:
                self.opcode = int(opcode, 16)
            except ValueError:
                raise ValueError("unknown opcode %r (a name such as DataIn, or hex such as 0x25)" % opcode) from None
            if not 0 <= self.opcode <= 0x3f:
                raise ValueError("opcode %r is outside 0x00..0x3f" % opcode)
        self.nth = int(nth)
        if self.nth < 1:
            raise ValueError("NTH counts from 1, not %r" % nth)
        self.action, self.direction, self.text = action, direction, text
        self.fired = False


class Proxy:
    def __init__(self, target_host, target_port, rules):
        self.target_host, self.target_port, self.rules = target_host, target_port, rules
        self.counts = {}
        self.connections = 0

    def pick(self, direction, opcode):
        """Counts the PDU; returns (rule or None, its number among PDUs of that opcode and direction)."""
        key = (direction, opcode)
        nth = self.counts.get(key, 0) + 1
        self.counts[key] = nth
        for rule in self.rules:
            if not rule.fired and rule.direction == direction and rule.opcode == opcode and nth >= rule.nth:
                rule.fired = True
                return rule, nth
        return None, nth

    async def handle(self, client_reader, client_writer):
        self.connections += 1
        cid = self.connections
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError as e:
            log("connection %d: could not reach the target %s:%d: %s" % (cid, self.target_host, self.target_port, e))
            client_writer.close()
            return
        for writer in (client_writer, up_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log("connection %d: accepted" % cid)
        state = {"full_feature": False, "header_digest": False, "data_digest": False, "killed": False}
        writers = (client_writer, up_writer)
        await asyncio.gather(
            self.pump(cid, state, client_reader, up_writer, "to-target", writers),
            self.pump(cid, state, up_reader, client_writer, "to-initiator", writers))
        for writer in writers:
            writer.close()
        log("connection %d: %s" % (cid, "reset" if state["killed"] else "closed"))

    @staticmethod
    def kill(state, writers):
        state["killed"] = True
        for writer in writers:
            sock = writer.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            writer.transport.abort()

    async def pump(self, cid, state, reader, writer, direction, writers):
        login_text = b""
        answered = {"HeaderDigest": "None", "DataDigest": "None"}
        try:
            while True:
                try:
                    bhs = await reader.readexactly(48)
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        writer.write(e.partial)
                    break
                full_feature = state["full_feature"]
                hd = full_feature and state["header_digest"]
                dd = full_feature and state["data_digest"]
                ahs_length = bhs[4] * 4
                data_length = int.from_bytes(bhs[5:8], "big")
                header_length = 48 + ahs_length + (4 if hd else 0)
                rest = header_length - 48
                if data_length:
                    rest += (data_length + 3) & ~3
                    if dd:
                        rest += 4
                try:
                    pdu = bytearray(bhs + await reader.readexactly(rest))
                except asyncio.IncompleteReadError as e:
                    writer.write(bhs + e.partial)
                    break
                opcode = bhs[0] & 0x3f
                if not full_feature:
                    if direction == "to-initiator" and opcode == LOGIN_RESPONSE:
                        login_text += bytes(pdu[header_length:header_length + data_length])
                        if not bhs[1] & 0x40:  # C bit clear: the text is complete
                            for pair in login_text.split(b"\0"):
                                key, eq, value = pair.decode("utf-8", "replace").partition("=")
                                if eq and key in answered:
                                    answered[key] = value
                            login_text = b""
                        if bhs[1] & 0x80 and bhs[1] & 0x03 == 3 and bhs[36] == 0:
                            state["header_digest"] = answered["HeaderDigest"] == "CRC32C"
                            state["data_digest"] = answered["DataDigest"] == "CRC32C"
                            state["full_feature"] = True
                            log("connection %d: full feature phase, HeaderDigest=%s DataDigest=%s"
                                % (cid, answered["HeaderDigest"], answered["DataDigest"]))
                    writer.write(pdu)
                    await writer.drain()
                    continue
                rule, nth = self.pick(direction, opcode)
                if rule is not None:
                    what = "%s #%d %s ITT 0x%08x" % (opcode_name(opcode), nth, direction, int.from_bytes(bhs[16:20], "big"))
                    if opcode in (0x25, 0x05, 0x31):
                        what += " %s %d offset %d" % ("R2TSN" if opcode == 0x31 else "DataSN",
                                                      int.from_bytes(bhs[36:40], "big"), int.from_bytes(bhs[40:44], "big"))
                    if rule.action == "drop":
                        log("rule %s fired: dropped %s" % (rule.text, what))
                        continue
                    if rule.action == "kill":
                        log("rule %s fired: killed connection %d at %s" % (rule.text, cid, what))
                        self.kill(state, writers)
                        return
                    if rule.action == "corrupt-data":
                        if data_length:
                            pdu[header_length + data_length // 2] ^= 0xFF
                            log("rule %s fired: corrupted data byte %d of %d in %s"
                                % (rule.text, data_length // 2, data_length, what))
                        else:
                            log("rule %s fired: %s has no data segment, forwarded unchanged" % (rule.text, what))
                    elif rule.action == "corrupt-header":
                        pdu[19] ^= 0xFF
                        log("rule %s fired: corrupted header byte 19 (ITT) of %s" % (rule.text, what))
                writer.write(pdu)
                await writer.drain()
        except OSError:
            pass  # a reset or a kill: the relay ends; the other direction sees it too
        if not state["killed"]:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass


def endpoint(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError("expected HOST:PORT, not %r" % text)
    return host.strip("[]"), int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=endpoint, default=("127.0.0.1", 0), help="HOST:PORT to listen on (port 0: any)")
    parser.add_argument("--target", type=endpoint, required=True, help="HOST:PORT of the iSCSI target")
    parser.add_argument("--rule", action="append", default=[], help="ACTION:DIRECTION:OPCODE:NTH (repeatable)")
    args = parser.parse_args()
    try:
        rules = [Rule(r) for r in args.rule]
    except ValueError as e:
        parser.error(str(e))

    async def run():
        proxy = Proxy(args.target[0], args.target[1], rules)
        server = await asyncio.start_server(proxy.handle, args.listen[0], args.listen[1])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host, port = server.sockets[0].getsockname()[:2]
        print("listening %s:%d" % (host, port), flush=True)
        await stop.wait()
        server.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
