"""A minimal HTTP/1.1 client on asyncio streams, for bench/run's own tools.

Standard library only (Python 3.8+). It does exactly what the benchmark
tools need and no more: one request at a time on a keep-alive connection,
`Content-Length` or `chunked` bodies, and the time at which the response
head and the first body byte arrived. No TLS, no redirects, no proxies.
"""

import asyncio
import math
import socket
import time
from urllib.parse import urlsplit

now_ns = time.perf_counter_ns


class HttpError(Exception):
    """A protocol error, a closed connection or an unexpected status."""


def split_url(url):
    """`http://host:port/path` -> (host, port, path)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs are supported, got {url!r}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"the URL needs a host and a port, got {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, parts.port, path


def build_request(host, port, path, body, key=None, accept="text/event-stream", headers=()):
    """The bytes of a `POST` with a JSON body (keep-alive); `headers` are
    extra `Name: value` lines (a peer gateway's routing headers)."""
    if isinstance(body, str):
        body = body.encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Accept: {accept}",
        f"Content-Length: {len(body)}",
    ]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def connect(host, port, timeout=10.0):
    """Opens a TCP connection with Nagle off (requests are small writes)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=1 << 20), timeout
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def parse_head(head):
    """Status code and lower-cased headers of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0]!r}")
    try:
        status = int(parts[1])
    except ValueError as e:
        raise HttpError(f"bad status line: {lines[0]!r}") from e
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_head(reader, buf, deadline=None):
    """Reads until the end of the response head; `buf` keeps what follows.

    Returns (status, headers, arrival time of the read that completed it).
    """
    t = now_ns()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = await _read(reader, deadline)
        t = now_ns()
        if not data:
            raise HttpError("connection closed before the response head")
        buf += data
    head = bytes(buf[:end])
    del buf[: end + 4]
    status, headers = parse_head(head)
    return status, headers, t


async def _read(reader, deadline):
    if deadline is None:
        return await reader.read(1 << 16)
    left = deadline - time.monotonic()
    if left <= 0:
        raise HttpError("timed out")
    try:
        return await asyncio.wait_for(reader.read(1 << 16), left)
    except asyncio.TimeoutError as e:
        raise HttpError("timed out") from e


class Exchange:
    """The timings and body of one request/response."""

    __slots__ = ("status", "headers", "t_sent", "t_head", "t_first", "t_end", "max_gap", "body")

    def ttfb_us(self):
        """Request written -> first body byte, in microseconds."""
        return (self.t_first - self.t_sent) / 1000

    def total_us(self):
        """Request written -> last body byte, in microseconds."""
        return (self.t_end - self.t_sent) / 1000

    def max_gap_us(self):
        """The longest wait between two reads of the body, in microseconds."""
        return self.max_gap / 1000


async def exchange(reader, writer, request, timeout=30.0, keep_body=True):
    """Sends `request` and reads the whole response.

    `t_first` is when the read that delivered the first byte of body
    *content* returned (chunk framing is not content), `t_end` when the body
    was complete; both from `time.perf_counter_ns`.
    """
    deadline = time.monotonic() + timeout
    ex = Exchange()
    buf = bytearray()
    ex.t_sent = now_ns()
    writer.write(request)
    await writer.drain()
    ex.status, ex.headers, ex.t_head = await read_head(reader, buf, deadline)
    body = bytearray()
    ex.t_first = None
    ex.max_gap = 0
    t_read = ex.t_head

    async def read():
        nonlocal t_read
        data = await _read(reader, deadline)
        t = now_ns()
        ex.max_gap = max(ex.max_gap, t - t_read)
        t_read = t
        return data
    te = ex.headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        decoder = Chunked()
        while True:
            out = decoder.feed(buf)
            buf.clear()
            if out:
                if ex.t_first is None:
                    ex.t_first = t_read
                if keep_body:
                    body += out
            if decoder.done:
                break
            data = await read()
            if not data:
                raise HttpError("connection closed in the middle of a chunked body")
            buf += data
    else:
        length = int(ex.headers.get("content-length", "0"))
        while len(buf) < length:
            data = await read()
            if not data:
                raise HttpError("connection closed in the middle of the body")
            if ex.t_first is None:
                ex.t_first = t_read
            buf += data
        if length and ex.t_first is None:
            ex.t_first = t_read
        if keep_body:
            body += buf[:length]
    ex.t_end = t_read
    if ex.t_first is None:
        ex.t_first = ex.t_end
    ex.body = bytes(body)
    return ex


class Chunked:
    """Incremental decoder of a `Transfer-Encoding: chunked` body."""

    def __init__(self):
        self.pending = bytearray()
        self.state = "size"  # size | data | crlf | trailer | done
        self.left = 0  # bytes left in the current chunk
        self.done = False

    def feed(self, data):
        """Consumes `data`; returns the content bytes it completed."""
        p = self.pending
        p += data
        out = bytearray()
        while True:
            if self.state == "size":
                eol = p.find(b"\r\n")
                if eol < 0:
                    break
                size_text = bytes(p[:eol]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError as e:
                    raise HttpError(f"bad chunk size line {bytes(p[:eol])!r}") from e
                del p[: eol + 2]
                self.left = size
                self.state = "data" if size else "trailer"
            elif self.state == "data":
                take = min(self.left, len(p))
                if take == 0:
                    break
                out += p[:take]
                del p[:take]
                self.left -= take
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(p) < 2:
                    break
                if p[:2] != b"\r\n":
                    raise HttpError("chunk data not followed by CRLF")
                del p[:2]
                self.state = "size"
            elif self.state == "trailer":
                # trailer lines (rare), then an empty line
                eol = p.find(b"\r\n")
                if eol < 0:
                    break
                empty = eol == 0
                del p[: eol + 2]
                if empty:
                    self.state = "done"
                    self.done = True
            else:
                break
        return bytes(out)


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def summary(values):
    """p50/p90/p99/min/max/mean of a list of numbers, rounded to 0.1."""
    s = sorted(values)
    if not s:
        return {}
    return {
        "n": len(s),
        "p50": round(percentile(s, 50), 1),
        "p90": round(percentile(s, 90), 1),
        "p99": round(percentile(s, 99), 1),
        "min": round(s[0], 1),
        "max": round(s[-1], 1),
        "mean": round(sum(s) / len(s), 1),
    }
