"""Sends N identical chat requests one after another on one keep-alive
connection and checks each answer (bench/instructions).

usage: sequential.py PORT API_KEY BODY_FILE N
"""

import http.client
import sys


def main() -> int:
    port, key, body_file, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(body_file, "rb") as f:
        body = f.read()
    streamed = b'"stream":true' in body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(n):
        conn.request("POST", "/api/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            print(f"status {resp.status}: {data[:300]!r}", file=sys.stderr)
            return 1
        if streamed and b"data: [DONE]" not in data:
            print(f"stream without [DONE]: {data[-300:]!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
