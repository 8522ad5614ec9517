#!/usr/bin/env python3
"""Hostile connections for bench/soak: hold --silent connections that send
nothing and --slow connections that trickle their headers (a request line,
then a header line every --trickle s, never the blank line that ends the
head) against a server, opening a new one whenever the server closes one,
so that the count stays up for --duration s.

Prints `READY` on stdout once every hostile connection is open, then, at
the end, writes JSON to --out: for each kind, how many connections were
opened, how many the server closed and how long those had lived (from the
connection's establishment to the server's close), how many were open when
the run ended; and the most descriptors --pid held.

One thread on raw non-blocking sockets and epoll (Linux), not asyncio: with
thousands of sockets churning, asyncio's per-connection objects made this
tool, not the server, the bottleneck, and its delays showed up as
lifetimes seconds too long. Standard library only; raise `ulimit -n` above
--silent + --slow first.
"""

import argparse
import errno
import heapq
import json
import math
import os
import select
import socket
import sys
import time
from pathlib import Path

SILENT, SLOW = "silent", "slow_headers"
REQUEST_LINE = b"GET /health HTTP/1.1\r\nHost: soak\r\n"
HEADER_LINE = b"x-soak: slowly\r\n"


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


class Conn:
    __slots__ = ("sock", "kind", "established", "t0")

    def __init__(self, sock, kind):
        self.sock = sock
        self.kind = kind
        self.established = False
        self.t0 = None


class Hostile:
    def __init__(self, host, port, trickle):
        self.addr = (host, port)
        self.trickle = trickle
        self.ep = select.epoll()
        self.conns = {}  # fd -> Conn
        self.stats = {
            k: {"opened": 0, "closed": 0, "failures": 0, "lifetimes": []} for k in (SILENT, SLOW)
        }
        self.pending = []  # (when, kind): connections to (re)open
        self.trickles = []  # (when, fd, t0): next header line of a slow connection

    def open(self, kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.stats[kind]["failures"] += 1
            heapq.heappush(self.pending, (time.monotonic() + 0.5, kind))
            return
        c = Conn(s, kind)
        self.conns[s.fileno()] = c
        self.ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLRDHUP)

    def drop(self, fd, by_server):
        c = self.conns.pop(fd)
        self.ep.unregister(fd)
        c.sock.close()
        st = self.stats[c.kind]
        if not c.established:
            st["failures"] += 1
            heapq.heappush(self.pending, (time.monotonic() + 0.5, c.kind))
            return
        if by_server:
            st["closed"] += 1
            st["lifetimes"].append(time.monotonic() - c.t0)
        heapq.heappush(self.pending, (time.monotonic(), c.kind))

    def on_event(self, fd, ev):
        c = self.conns.get(fd)
        if c is None:
            return
        now = time.monotonic()
        if not c.established:
            if ev & (select.EPOLLERR | select.EPOLLHUP):
                self.drop(fd, by_server=False)
                return
            if ev & select.EPOLLOUT:
                c.established = True
                c.t0 = now
                self.stats[c.kind]["opened"] += 1
                self.ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
                if c.kind == SLOW:
                    try:
                        c.sock.send(REQUEST_LINE)
                    except OSError:
                        self.drop(fd, by_server=True)
                        return
                    heapq.heappush(self.trickles, (now + self.trickle, fd, c.t0))
                if not ev & (select.EPOLLIN | select.EPOLLRDHUP):
                    return
        # Readable: the server answered (a bug for both kinds) or closed.
        try:
            data = c.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            print(f"hostile.py: a {c.kind} connection got {data[:80]!r}", file=sys.stderr)
        self.drop(fd, by_server=True)

    def run(self, silent, slow, duration, pid, out):
        for i in range(silent):
            heapq.heappush(self.pending, (0.0, SILENT))
        for i in range(slow):
            heapq.heappush(self.pending, (0.0, SLOW))
        ready = False
        ready_by = time.monotonic() + 60
        end = None
        peak = 0
        next_fds = 0.0
        while True:
            now = time.monotonic()
            # (Re)open what is due, a few hundred at a time.
            opened = 0
            while self.pending and self.pending[0][0] <= now and opened < 200:
                _, kind = heapq.heappop(self.pending)
                self.open(kind)
                opened += 1
            # Header lines due.
            while self.trickles and self.trickles[0][0] <= now:
                _, fd, t0 = heapq.heappop(self.trickles)
                c = self.conns.get(fd)
                if c is None or c.t0 != t0:
                    continue  # closed (the descriptor may be reused)
                try:
                    c.sock.send(HEADER_LINE)
                except BlockingIOError:
                    pass
                except OSError:
                    self.drop(fd, by_server=True)
                    continue
                heapq.heappush(self.trickles, (now + self.trickle, fd, t0))
            for fd, ev in self.ep.poll(0.01):
                self.on_event(fd, ev)
            if not ready:
                established = sum(1 for c in self.conns.values() if c.established)
                if established >= silent + slow or now > ready_by:
                    if established < silent + slow:
                        print(f"hostile.py: only {established} connections opened in 60 s", file=sys.stderr)
                    print("READY", flush=True)
                    ready = True
                    end = now + duration
            elif now >= end:
                break
            if pid and now >= next_fds:
                peak = max(peak, fd_count(pid) or 0)
                next_fds = now + 0.5
        t = os.times()
        result = {"gateway_peak_fds": peak or None, "cpu_s": round(t.user + t.system, 1)}
        for kind in (SILENT, SLOW):
            st = self.stats[kind]
            s = sorted(st["lifetimes"])
            r = lambda v: round(v, 3) if v is not None else None  # noqa: E731
            result[kind] = {
                "opened": st["opened"],
                "closed_by_server": st["closed"],
                "still_open_at_end": sum(
                    1 for c in self.conns.values() if c.kind == kind and c.established
                ),
                "connect_failures": st["failures"],
                "lifetime_s": {
                    "min": r(s[0] if s else None),
                    "p50": r(percentile(s, 50)),
                    "p99": r(percentile(s, 99)),
                    "max": r(s[-1] if s else None),
                },
            }
        for c in self.conns.values():
            c.sock.close()
        Path(out).write_text(json.dumps(result, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http://HOST:PORT of the server")
    ap.add_argument("--silent", type=int, default=2000)
    ap.add_argument("--slow", type=int, default=2000)
    ap.add_argument("--trickle", type=float, default=1.0, help="seconds between header lines")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--pid", type=int, default=0, help="the server's pid, for its descriptor count")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rest = a.url.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.partition(":")
    Hostile(host, int(port), a.trickle).run(a.silent, a.slow, a.duration, a.pid, a.out)


if __name__ == "__main__":
    main()
