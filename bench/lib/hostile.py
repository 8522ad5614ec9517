#!/usr/bin/env python3
"""Hostile connections for bench/soak: hold --silent connections that send
nothing and --slow connections that trickle their headers (a request line,
then a header line every --trickle s, never the blank line that ends the
head) against a server, opening a new one whenever the server closes one,
so that the count stays up for --duration s. Meanwhile a monitor sends
`GET /health` on a new connection every --health-every s.

Prints `READY` on stdout once every hostile connection is open, then, at
the end, writes JSON to --out: for the silent connections, how many were
opened and how many the server closed, and how long each closed one had
lived (from connect to the server's close); the same for the slow ones;
the health checks (answered 200, failed, slowest); the most descriptors
--pid held. Standard library only; raise `ulimit -n` above
--silent + --slow first.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpc  # noqa: E402


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Kind:
    """The connections of one kind: counts and lifetimes."""

    def __init__(self):
        self.opened = 0
        self.closed_by_server = 0
        self.connect_failures = 0
        self.lifetimes = []  # seconds, of those the server closed
        self.open = 0


async def hold(host, port, kind, stop, trickle=None):
    """One slot: a connection, and a new one each time the server closes it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        except (OSError, asyncio.TimeoutError):
            kind.connect_failures += 1
            await asyncio.sleep(0.5)
            continue
        t0 = time.monotonic()
        kind.opened += 1
        kind.open += 1
        closed = False
        try:
            if trickle is None:
                # Wait for the server to close it (or the end of the run).
                read = asyncio.ensure_future(reader.read(1))
                stopped = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if read in done:
                    closed = True
                    try:
                        read.result()
                    except OSError:
                        pass
                else:
                    read.cancel()
                stopped.cancel()
            else:
                writer.write(b"GET /health HTTP/1.1\r\nHost: soak\r\n")
                await writer.drain()
                while not stop.is_set():
                    try:
                        data = await asyncio.wait_for(reader.read(1 << 12), trickle)
                        # Anything but a timeout: the server answered or closed.
                        closed = True
                        if data:
                            # An answer before the head ended would be a bug.
                            print(f"hostile.py: a slow-header connection got {data[:80]!r}", file=sys.stderr)
                        break
                    except asyncio.TimeoutError:
                        pass
                    writer.write(b"x-soak: slowly\r\n")
                    await writer.drain()
        except OSError:
            closed = True
        finally:
            kind.open -= 1
            writer.close()
        if closed:
            kind.closed_by_server += 1
            kind.lifetimes.append(time.monotonic() - t0)


async def monitor_health(host, port, every, stop, out):
    while not stop.is_set():
        t0 = time.monotonic()
        ok = False
        try:
            reader, writer = await httpc.connect(host, port, timeout=5)
            try:
                writer.write(b"GET /health HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
                await writer.drain()
                status, _, _ = await httpc.read_head(reader, bytearray(), time.monotonic() + 5)
                ok = status == 200
            finally:
                writer.close()
        except (OSError, asyncio.TimeoutError, httpc.HttpError):
            ok = False
        took = time.monotonic() - t0
        if ok:
            out["ok"] += 1
            out["slowest_s"] = max(out["slowest_s"], round(took, 4))
        else:
            out["failed"] += 1
        await asyncio.sleep(every)


def lifetimes(kind):
    s = sorted(kind.lifetimes)
    pick = lambda q: round(httpc.percentile(s, q), 3) if s else None  # noqa: E731
    return {
        "opened": kind.opened,
        "closed_by_server": kind.closed_by_server,
        "still_open_at_end": kind.open,
        "connect_failures": kind.connect_failures,
        "lifetime_s": {
            "min": round(s[0], 3) if s else None,
            "p50": pick(50),
            "p99": pick(99),
            "max": round(s[-1], 3) if s else None,
        },
    }


async def run(args):
    host, port, _ = httpc.split_url(args.url)
    stop = asyncio.Event()
    silent, slow = Kind(), Kind()
    health = {"ok": 0, "failed": 0, "slowest_s": 0.0}
    tasks = []
    # Open them in bursts so the listen backlog is not the bottleneck.
    for i in range(args.silent):
        tasks.append(asyncio.ensure_future(hold(host, port, silent, stop)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    for i in range(args.slow):
        tasks.append(asyncio.ensure_future(hold(host, port, slow, stop, trickle=args.trickle)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while silent.open + slow.open < args.silent + args.slow:
        if time.monotonic() > deadline:
            print(f"hostile.py: only {silent.open} silent and {slow.open} slow connections opened in 60 s", file=sys.stderr)
            break
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    tasks.append(asyncio.ensure_future(monitor_health(host, port, args.health_every, stop, health)))
    peak_fds = 0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        if args.pid:
            peak_fds = max(peak_fds, fd_count(args.pid) or 0)
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    result = {
        "silent": lifetimes(silent),
        "slow_headers": lifetimes(slow),
        "health": health,
        "gateway_peak_fds": peak_fds or None,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http://HOST:PORT of the server")
    ap.add_argument("--silent", type=int, default=2000)
    ap.add_argument("--slow", type=int, default=2000)
    ap.add_argument("--trickle", type=float, default=1.0, help="seconds between header lines")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--health-every", type=float, default=0.2)
    ap.add_argument("--pid", type=int, default=0, help="the server's pid, for its descriptor count")
    ap.add_argument("--out", required=True)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
