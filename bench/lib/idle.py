#!/usr/bin/env python3
"""Memory per idle stream: hold N concurrent streams open through a server
and measure its resident memory (VmRSS in /proc/PID/status) before and
while they are open.

Each stream is one HTTP/1.1 connection with one streaming request whose
upstream never answers (the mock's `[mock:sleep_ms=N]` directive); the
gateway commits the stream (200 + `: OPENROUTER PROCESSING` comments) after
`server.stream_keepalive_secs`. A stream counts as open once its `200`
head has arrived; the client then keeps reading (and discarding) whatever
comes. Any other status, or a connection closed early, stops the run
(exit 1) with what came back.

Steps: RSS before -> open --streams streams, at most --window of them
waiting for their head at once -> wait --settle s -> --samples RSS samples
1 s apart (the median is "during") -> close every stream -> wait --settle s
-> RSS after. Writes JSON to --out. Standard library only; raise
`ulimit -n` above --streams first.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpc  # noqa: E402


def status_kb(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Failed(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", default="")
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--pid", type=int, required=True, help="the server whose memory is measured")
    ap.add_argument("--upstream-pid", type=int, default=0, help="reported for information")
    ap.add_argument("--window", type=int, default=1000,
                    help="most streams waiting for their response head at once")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds for all streams to open")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--label", default="-")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.streams < 1 or args.window < 1 or args.samples < 1:
        ap.error("--streams, --window and --samples must be at least 1")
    if not Path(f"/proc/{args.pid}/status").exists():
        print(f"idle.py: error: no process {args.pid} to measure", file=sys.stderr)
        return 1
    try:
        result = asyncio.run(run(args))
    except Failed as e:
        print(f"idle.py [{args.label}]: error: {e}", file=sys.stderr)
        return 1
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"idle.py [{args.label}]: {result['streams']} idle streams: RSS "
        f"{result['rss_before_kb'] / 1024:.1f} MiB -> {result['rss_during_kb'] / 1024:.1f} MiB, "
        f"{result['kb_per_stream']:.1f} KB per stream",
        file=sys.stderr,
    )
    return 0


def say(label, text):
    print(f"idle.py [{label}]: {text}", file=sys.stderr, flush=True)


async def run(args):
    host, port, path = httpc.split_url(args.url)
    body = Path(args.body_file).read_bytes()
    request = httpc.build_request(host, port, path, body, key=args.key)
    pid = args.pid

    rss_before = status_kb(pid, "VmRSS")
    fds_before = fd_count(pid)
    upstream_before = status_kb(args.upstream_pid, "VmRSS") if args.upstream_pid else None
    say(args.label, f"RSS before: {rss_before} kB, {fds_before} fds; opening {args.streams} streams")

    window = asyncio.Semaphore(args.window)
    opened = asyncio.Event()
    state = {"open": 0, "failed": 0, "errors": []}
    conns = []
    tasks = []

    async def stream(i):
        async with window:
            try:
                reader, writer = await httpc.connect(host, port, timeout=30)
            except (OSError, asyncio.TimeoutError) as e:
                fail(f"stream {i}: connect: {e!r}")
                return
            conns.append(writer)
            try:
                writer.write(request)
                await writer.drain()
                buf = bytearray()
                deadline = time.monotonic() + args.timeout
                status, _headers, _t = await httpc.read_head(reader, buf, deadline)
            except (OSError, httpc.HttpError) as e:
                fail(f"stream {i}: {e}")
                return
            if status != 200:
                rest = bytes(buf)
                try:
                    rest += await asyncio.wait_for(reader.read(2000), 2)
                except (OSError, asyncio.TimeoutError):
                    pass
                fail(f"stream {i}: HTTP {status}: {rest[:600]!r}")
                return
            state["open"] += 1
            if state["open"] == args.streams:
                opened.set()
        # open: read and discard until the server closes or we cancel
        try:
            while await reader.read(1 << 14):
                pass
        except OSError:
            pass
        if not state.get("closing"):
            fail(f"stream {i}: the server closed an open stream")

    def fail(message):
        state["failed"] += 1
        if len(state["errors"]) < 5:
            state["errors"].append(message)
        opened.set()

    started = time.monotonic()
    for i in range(args.streams):
        tasks.append(asyncio.create_task(stream(i)))

    async def progress():
        while True:
            await asyncio.sleep(5)
            say(args.label, f"{state['open']} open, {state['failed']} failed, "
                f"{time.monotonic() - started:.0f} s, RSS {status_kb(pid, 'VmRSS')} kB")

    reporter = asyncio.create_task(progress())
    try:
        try:
            await asyncio.wait_for(opened.wait(), args.timeout)
        except asyncio.TimeoutError:
            raise Failed(
                f"only {state['open']} of {args.streams} streams opened within {args.timeout:.0f} s"
            ) from None
        if state["failed"]:
            raise Failed(
                f"{state['failed']} streams failed (of {args.streams}); first: "
                + " | ".join(state["errors"])
            )
        ramp = time.monotonic() - started
        say(args.label, f"all {args.streams} streams open after {ramp:.1f} s; settling {args.settle:.0f} s")
        await asyncio.sleep(args.settle)
        samples = []
        for _ in range(args.samples):
            samples.append(status_kb(pid, "VmRSS"))
            await asyncio.sleep(1)
        if state["failed"]:
            raise Failed("streams closed while being measured: " + " | ".join(state["errors"]))
        rss_during = int(statistics.median(samples))
        fds_during = fd_count(pid)
        hwm = status_kb(pid, "VmHWM")
        upstream_during = status_kb(args.upstream_pid, "VmRSS") if args.upstream_pid else None
    finally:
        reporter.cancel()
        state["closing"] = True
        for w in conns:
            w.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # the server notices a closed stream at its next write (keep-alive tick)
    await asyncio.sleep(args.settle)
    rss_after = status_kb(pid, "VmRSS")
    per_stream = (rss_during - rss_before) / args.streams
    return {
        "label": args.label,
        "url": args.url,
        "streams": args.streams,
        "ramp_s": round(ramp, 2),
        "rss_before_kb": rss_before,
        "rss_during_kb": rss_during,
        "rss_during_samples_kb": samples,
        "rss_after_close_kb": rss_after,
        "vm_hwm_kb": hwm,
        "kb_per_stream": round(per_stream, 2),
        "fds_before": fds_before,
        "fds_during": fds_during,
        "upstream_rss_before_kb": upstream_before,
        "upstream_rss_during_kb": upstream_during,
    }


if __name__ == "__main__":
    sys.exit(main())
