"""A TCP proxy on loopback that cuts a gateway's uplink on command.

Modes:
  pass       bytes flow both ways
  blackhole  connections stay open but nothing moves in either direction
             (what a dead radio link or a lost route looks like: only the
             keepalive notices); new connections are accepted and hang
  reset      every connection is reset (RST, SO_LINGER 0), and new ones are
             reset as soon as they are accepted

One thread with a selector; bounded buffers; stop() closes everything.
"""

import selectors
import socket
import struct
import threading
import time

PASS, BLACKHOLE, RESET = "pass", "blackhole", "reset"


def _rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    def __init__(self, target_port, target_host="127.0.0.1", port=0):
        self.target = (target_host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.mode = PASS
        self.accepted = 0
        self.resets = 0
        self._pairs = {}            # sock -> peer sock
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.lsock, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def set_mode(self, mode):
        assert mode in (PASS, BLACKHOLE, RESET), mode
        with self._lock:
            self.mode = mode
        self._wake_w.send(b"x")

    def retarget(self, port, host="127.0.0.1"):
        """New connections go to another upstream (existing ones stay)."""
        with self._lock:
            self.target = (host, port)

    def _close_pair(self, s, rst=False):
        peer = self._pairs.pop(s, None)
        for x in (s, peer):
            if x is None:
                continue
            self._pairs.pop(x, None)
            try:
                self._sel.unregister(x)
            except (KeyError, ValueError):
                pass
            if rst:
                _rst(x)
            else:
                try:
                    x.close()
                except OSError:
                    pass

    def _accept(self):
        try:
            c, _ = self.lsock.accept()
        except (BlockingIOError, OSError):
            return
        self.accepted += 1
        if self.mode == RESET:
            self.resets += 1
            _rst(c)
            return
        u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u.settimeout(2.0)
        try:
            u.connect(self.target)
        except OSError:
            _rst(c)                   # upstream down: the client sees a reset
            u.close()
            return
        for x in (c, u):
            x.setblocking(False)
        self._pairs[c] = u
        self._pairs[u] = c
        self._sel.register(c, selectors.EVENT_READ, "conn")
        self._sel.register(u, selectors.EVENT_READ, "conn")

    def _apply_mode(self):
        if self.mode == RESET:
            for s in list(self._pairs):
                if s in self._pairs:
                    self.resets += 1
                    self._close_pair(s, rst=True)

    def _forward(self, s):
        if self.mode == BLACKHOLE:
            return                    # leave the bytes in the kernel buffers
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        peer = self._pairs.get(s)
        if not data or peer is None:
            self._close_pair(s)
            return
        try:
            peer.setblocking(True)
            peer.settimeout(5.0)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._close_pair(s)

    def _run(self):
        while not self._stop:
            # In blackhole mode readable sockets stay readable: poll slowly.
            timeout = 0.05 if self.mode == BLACKHOLE else 0.5
            events = self._sel.select(timeout)
            with self._lock:
                self._apply_mode()
            for key, _ in events:
                if key.fileobj is self.lsock:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    try:
                        self._wake_r.recv(64)
                    except OSError:
                        pass
                elif key.fileobj in self._pairs:
                    self._forward(key.fileobj)
            if self.mode == BLACKHOLE and events:
                time.sleep(0.05)
        for s in list(self._pairs):
            if s in self._pairs:
                self._close_pair(s)

    def stop(self):
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        for s in (self.lsock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
