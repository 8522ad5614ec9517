"""Starts one real `tollgated --dev` for the whole session and hands the
clients its address and keys.

The binary is `$TOLLGATED`, else `<workspace>/target/debug/tollgated`
(tests/clients/run builds it when it is missing). It listens on
127.0.0.1:0; its first stdout line says where.
"""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

WORKSPACE = pathlib.Path(__file__).resolve().parents[3]
API_KEY = "sk-tg-v1-demo"  # the key the README snippets use
ADMIN_KEY = "sk-tg-admin-clients-suite"
README_BASE = "http://127.0.0.1:8080/api/v1"  # the address the snippets use


class Gateway:
    def __init__(self, base_url, api_key, admin_key, log):
        self.base_url = base_url
        self.api_key = api_key
        self.admin_key = admin_key
        self.log = log

    def request(self, method, path, body=None, key=None):
        """A plain HTTP call: (status, headers, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {key or self.api_key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, json.loads(e.read() or b"null")

    def generation(self, gen_id, timeout=10.0):
        """GET /generation?id=, retried while it is not recorded yet (404)."""
        deadline = time.monotonic() + timeout
        while True:
            status, _, body = self.request("GET", f"/generation?id={gen_id}")
            if status == 200:
                return body["data"]
            if time.monotonic() > deadline:
                raise AssertionError(f"generation {gen_id}: still {status} {body}")
            time.sleep(0.1)

    def new_account_key(self, name):
        """A fresh account (no credits) and its inference key."""
        status, _, body = self.request(
            "POST", "/admin/accounts", {"name": name}, key=self.admin_key
        )
        assert status == 201, body
        return body["api_key"]


def _binary():
    path = os.environ.get("TOLLGATED") or str(WORKSPACE / "target" / "debug" / "tollgated")
    if not os.access(path, os.X_OK):
        pytest.exit(f"tollgated not found at {path}: run `cargo build -p tollgated` "
                    "or set TOLLGATED", returncode=2)
    return path


@pytest.fixture(scope="session")
def gateway():
    env = dict(os.environ)
    env.update(TOLLGATE_DEV_API_KEY=API_KEY, TOLLGATE_ADMIN_KEY=ADMIN_KEY,
               RUST_LOG=env.get("RUST_LOG", "error"))
    proc = subprocess.Popen(
        [_binary(), "--dev", "--listen", "127.0.0.1:0", "--shutdown-grace", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    log = []
    first = proc.stdout.readline()
    log.append(first)
    prefix = "Tollgate listening on "
    if not first.startswith(prefix):
        proc.kill()
        rest = proc.stdout.read()
        pytest.exit(f"tollgated did not start: {first}{rest}", returncode=2)
    base_url = first[len(prefix):].strip()
    # Keep draining the output so the daemon never blocks on a full pipe.
    threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
    gw = Gateway(base_url, API_KEY, ADMIN_KEY, log)
    try:
        yield gw
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def broke_key(gateway):
    """The inference key of an account with no credits."""
    return gateway.new_account_key("clients-suite-broke")


def snippet(name, gateway):
    """The README snippet `tests/clients/snippets/NAME`, pointed at `gateway`."""
    text = (WORKSPACE / "tests" / "clients" / "snippets" / name).read_text()
    assert README_BASE in text and API_KEY in text, name
    return text, text.replace(README_BASE, gateway.base_url)
