"""The radio end of a pseudo-terminal pair, for the MQTT-SN serial tests.

Tern opens the pty's slave through a symlink (as a config would name
/dev/serial/by-id/...); this module holds the master and speaks one framing
on it, written here independently of Tern's C code from the same rules
(issue 13, README "MQTT-SN over serial radios"):

  raw   MQTT-SN messages back to back by their own Length field
  slip  RFC 1055 END/ESC framing, message + CRC-16/CCITT-FALSE (MSB first)
  xbee  Digi API frames (mode 1 or 2); 0x90 receive packets in, 0x10
        transmit requests out

`link.sock(...)` gives a socket-like object sn_client.SNClient can use, so
every MQTT-SN step of sn_client.py works over the serial line unchanged:
a plain node, a node behind a forwarder (node_id: Encapsulated Messages,
section 5.5), or an XBee with its 64-bit address. A reader thread demuxes
what Tern writes to the right node. Everything is bounded in time.
"""

import os
import queue
import select
import socket
import struct
import threading
import time
import tty

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
XBEE_BROADCAST = b"\x00\x00\x00\x00\x00\x00\xff\xff"


def crc16(data):
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def slip_encode(msg):
    body = msg + struct.pack(">H", crc16(msg))
    out = bytearray([END])
    for b in body:
        if b == END:
            out += bytes([ESC, ESC_END])
        elif b == ESC:
            out += bytes([ESC, ESC_ESC])
        else:
            out.append(b)
    out.append(END)
    return bytes(out)


def xbee_escape(data):
    out = bytearray()
    for b in data:
        if b in (0x7E, 0x7D, 0x11, 0x13):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def xbee_frame(data, api=2):
    body = struct.pack(">H", len(data)) + data + bytes([0xFF - (sum(data) & 0xFF)])
    return b"\x7e" + (xbee_escape(body) if api == 2 else body)


def xbee_rx(src64, msg, api=2):
    """A 0x90 receive packet from src64 carrying msg."""
    return xbee_frame(b"\x90" + src64 + b"\xff\xfe\x01" + msg, api)


def msg_length(buf):
    """Total length of the MQTT-SN message at buf[0], or None if not known yet."""
    if not buf:
        return None
    if buf[0] == 1:
        return struct.unpack(">H", buf[1:3])[0] if len(buf) >= 3 else None
    if buf[0] >= 3 and len(buf) >= 2 and buf[1] == 0xFE:   # section 5.5 encapsulation
        inner = msg_length(buf[buf[0]:])
        return None if inner is None else buf[0] + inner
    return buf[0]


class _Decoder:
    """Tern -> radio: whole messages with their xbee destination (or None)."""

    def __init__(self, framing, api):
        self.framing, self.api = framing, api
        self.buf = bytearray()
        self.crc_errors = 0
        self.tx_frames = []          # (frame id, destination) of xbee transmit requests

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            m = getattr(self, "_next_" + self.framing)()
            if m is None:
                return out
            out.append(m)

    def _next_raw(self):
        n = msg_length(self.buf)
        if n is None or len(self.buf) < n:
            return None
        if n < 2:
            raise AssertionError("Tern wrote a raw message of length %d: %r" % (n, self.buf))
        m, self.buf = bytes(self.buf[:n]), self.buf[n:]
        return (m, None)

    def _next_slip(self):
        while True:
            if END not in self.buf:
                return None
            i = self.buf.index(END)
            raw, self.buf = self.buf[:i], self.buf[i + 1:]
            if not raw:
                continue
            body, j = bytearray(), 0
            while j < len(raw):
                if raw[j] == ESC:
                    j += 1
                    body.append(END if raw[j] == ESC_END else ESC)
                else:
                    body.append(raw[j])
                j += 1
            if len(body) < 4 or crc16(bytes(body[:-2])) != struct.unpack(">H", body[-2:])[0]:
                self.crc_errors += 1
                continue
            return (bytes(body[:-2]), None)

    def _unescaped(self):
        """The unescaped octets of the frame at buf[0] == 0x7E, and its size in buf."""
        out, j = bytearray(), 1
        while j < len(self.buf):
            b = self.buf[j]
            if self.api == 2 and b == 0x7D:
                if j + 1 >= len(self.buf):
                    break
                out.append(self.buf[j + 1] ^ 0x20)
                j += 2
            else:
                out.append(b)
                j += 1
            if len(out) >= 2 and len(out) == 2 + struct.unpack(">H", out[:2])[0] + 1:
                return bytes(out), j
        return None, 0

    def _next_xbee(self):
        while True:
            if 0x7E not in self.buf:
                self.buf.clear()
                return None
            del self.buf[:self.buf.index(0x7E)]
            f, used = self._unescaped()
            if f is None:
                return None
            del self.buf[:used]
            data = f[2:-1]
            assert (sum(data) + f[-1]) & 0xFF == 0xFF, "bad xbee checksum from Tern"
            assert data[0] == 0x10, "Tern sent xbee frame type 0x%02x" % data[0]
            assert data[10:14] == b"\xff\xfe\x00\x00", "16-bit dest, radius, options"
            self.tx_frames.append((data[1], data[2:10]))
            return (data[14:], data[2:10])


class VSock:
    """What SNClient needs of a socket, for one node on the serial link."""

    def __init__(self, link, node_id=None, xbee_addr=None):
        self.link, self.node_id, self.xbee_addr = link, node_id, xbee_addr
        self.q = queue.Queue()
        self.timeout = 5.0

    def sendto(self, data, _addr):
        self.link.send_msg(data, self.xbee_addr)

    def settimeout(self, t):
        self.timeout = t

    def recvfrom(self, _n):
        try:
            return self.q.get(timeout=max(self.timeout, 0.0)), None
        except queue.Empty:
            raise socket.timeout() from None

    def close(self):
        self.link.socks.discard(self)


class SerialLink:
    """One pty pair; Tern opens `path` (a symlink to the slave)."""

    def __init__(self, tmp_dir, name="radio", framing="raw", api=2):
        self.framing, self.api = framing, api
        self.path = os.path.join(str(tmp_dir), name)
        self.socks = set()
        self.broadcasts = []          # messages Tern sent to the xbee broadcast address
        self.unrouted = []
        self.lock = threading.Lock()
        self.master = self.slave = None
        self.thread = None
        self.decoder = _Decoder(framing, api)
        self.plug()

    # -- the "device" -----------------------------------------------------
    def plug(self):
        """A new pty behind the symlink (first plug, or re-plug)."""
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)        # raw before Tern ever opens it
        os.set_blocking(self.master, False)
        tmp = self.path + ".new"
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.path)    # atomic: Tern sees old or new, never none
        self.decoder = _Decoder(self.framing, self.api)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._reader, args=(self.master, self.stop),
                                       daemon=True)
        self.thread.start()

    def unplug(self):
        """Close the pty (as a USB dongle pulled out): Tern sees EIO / hang-up.
        The symlink goes too, as udev removes a by-id link, so Tern's
        re-opens cannot find another test's pty that reuses the number."""
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self.stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = None

    def close(self):
        if self.master is not None:
            self.unplug()
        for s in list(self.socks):
            s.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # -- traffic ----------------------------------------------------------
    def write(self, data):
        """Octets onto the line as they are (noise, hand-made frames)."""
        with self.lock:
            view = memoryview(data)
            deadline = time.monotonic() + 5
            while view:
                try:
                    n = os.write(self.master, view)
                    view = view[n:]
                except BlockingIOError:
                    assert time.monotonic() < deadline, "pty write stuck"
                    time.sleep(0.001)

    def frame(self, msg, xbee_addr=None):
        if self.framing == "slip":
            return slip_encode(msg)
        if self.framing == "xbee":
            return xbee_rx(xbee_addr, msg, self.api)
        return msg

    def send_msg(self, msg, xbee_addr=None):
        self.write(self.frame(msg, xbee_addr))

    def sock(self, node_id=None, xbee_addr=None):
        s = VSock(self, node_id, xbee_addr)
        self.socks.add(s)
        return s

    def _route(self, msg, dest):
        if dest is not None:
            if dest == XBEE_BROADCAST:
                self.broadcasts.append(msg)
                for s in list(self.socks):
                    s.q.put(msg)
                return
            targets = [s for s in self.socks if s.xbee_addr == dest]
        elif len(msg) >= 3 and msg[0] != 1 and msg[1] == 0xFE:
            node = msg[3:msg[0]]
            targets = [s for s in self.socks if s.node_id == node]
        else:
            targets = [s for s in self.socks if s.node_id is None and s.xbee_addr is None]
        if not targets:
            self.unrouted.append(msg)
        for s in targets:
            s.q.put(msg)

    def _reader(self, fd, stop):
        while not stop.is_set():
            r, _, _ = select.select([fd], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            for msg, dest in self.decoder.feed(data):
                self._route(msg, dest)
