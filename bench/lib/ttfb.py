#!/usr/bin/env python3
"""Streaming time to first byte, which wrk cannot measure.

Sends streaming requests one after the other (concurrency 1) on one
keep-alive HTTP/1.1 connection, like wrk's connections, and records for each:

  ttfb   request written -> first byte of body content (after the head;
         chunk framing is not content)
  head   request written -> end of the response head
  total  request written -> last byte of the body
  gap    the longest wait between two reads of the body (a stalled
         stream shows here: e.g. ~40 ms of Nagle + delayed ACK)

Every response must be a 200 ending with `data: [DONE]`; the first one that
is not stops the run (exit 1) with what came back. Writes a JSON summary
(microseconds) to --out. Standard library only.

    ttfb.py --url http://127.0.0.1:9000/v1/chat/completions --key KEY \
        --body-file body.json --requests 500 --warmup 50 --label direct \
        --out ttfb-direct.json
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", default="")
    ap.add_argument("--header", action="append", default=[], help="an extra 'Name: value' header")
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    ap.add_argument("--label", default="-")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.requests < 1 or args.warmup < 0:
        ap.error("--requests must be at least 1 and --warmup at least 0")
    try:
        result = asyncio.run(run(args))
    except httpc.HttpError as e:
        print(f"ttfb.py [{args.label}]: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ttfb.py [{args.label}]: cannot talk to {args.url}: {e}", file=sys.stderr)
        return 1
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    t, tot = result["ttfb_us"], result["total_us"]
    print(
        f"ttfb.py [{args.label}]: {result['requests']} streams: ttfb p50 {t['p50']:.0f} us, "
        f"p99 {t['p99']:.0f} us; total p50 {tot['p50']:.0f} us, p99 {tot['p99']:.0f} us",
        file=sys.stderr,
    )
    return 0


async def run(args):
    host, port, path = httpc.split_url(args.url)
    body = Path(args.body_file).read_bytes()
    request = httpc.build_request(host, port, path, body, key=args.key, headers=args.header)
    ttfb, head, total, gap = [], [], [], []
    events = None
    reconnects = 0
    conn = None
    try:
        for i in range(args.warmup + args.requests):
            if conn is None:
                conn = await httpc.connect(host, port)
                if i > 0:
                    reconnects += 1
            reader, writer = conn
            ex = await httpc.exchange(reader, writer, request, timeout=args.timeout)
            if ex.status != 200 or not ex.body.rstrip().endswith(b"data: [DONE]"):
                raise httpc.HttpError(
                    f"request {i + 1} to {args.url} answered {ex.status}"
                    f"{'' if ex.status != 200 else ' without a final data: [DONE]'}; "
                    f"body starts: {ex.body[:600]!r}"
                )
            if events is None:
                events = ex.body.count(b"data: ")
            if ex.headers.get("connection", "").lower() == "close":
                writer.close()
                conn = None
            if i < args.warmup:
                continue
            ttfb.append(ex.ttfb_us())
            head.append((ex.t_head - ex.t_sent) / 1000)
            total.append(ex.total_us())
            gap.append(ex.max_gap_us())
    finally:
        if conn is not None:
            conn[1].close()
    return {
        "label": args.label,
        "url": args.url,
        "requests": args.requests,
        "warmup": args.warmup,
        "reconnects": reconnects,
        "sse_events_per_response": events,
        "ttfb_us": httpc.summary(ttfb),
        "head_us": httpc.summary(head),
        "total_us": httpc.summary(total),
        "max_gap_us": httpc.summary(gap),
    }


if __name__ == "__main__":
    sys.exit(main())
