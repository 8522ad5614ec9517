#!/usr/bin/env python3
"""bench/run's report: reads what the run left in its results directory,
prints the tables and the issue's targets, and writes results.json.

Inputs in DIR (all optional except meta.txt):
  meta.txt          key=value lines about the run (commit, machine, knobs)
  wrk/*.txt         wrk's output per cell, with one `TOLLGATE_BENCH ...` line
                    (bench/lib/request.lua) whose label is target/scenario/cN
  ttfb-TARGET.json  bench/lib/ttfb.py's summaries
  idle.json         bench/lib/idle.py's result

Exit status: 0; 1 when a cell saw errors (the run is invalid); 3 when
--strict and a target is not met.
"""

import argparse
import json
import re
import sys
from pathlib import Path

BASELINES = ("direct", "nginx")
# The peer gateways: in the tables for comparison, never judged against the
# targets, and their errors (a peer falling over under load) are noted
# rather than invalidating the run.
PEERS = ("portkey", "litellm")
TARGET_ORDER = ("direct", "nginx", "sqlite", "postgres", "replicas") + PEERS
REPLICAS = 2  # tollgated replicas behind the `replicas` target's nginx
SCENARIO_ORDER = ("chat", "stream")
ERROR_FIELDS = ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts")

# The targets (issue 10).
ADDED_P50_X_NGINX = 2.0  # gateway-added p50 within 2x nginx-added p50, c=1
ADDED_P99_US = 1000.0  # gateway-added p99 under 1 ms, c=1
RPS_VS_NGINX = 0.5  # c=32 throughput at least 50% of nginx's
TTFB_ADDED_US = 1000.0  # streaming TTFB adds under 1 ms
STREAM_RPS_VS_NGINX = 0.7  # 200-token streams at c=32: at least 70% of nginx's (issue 23)
PG_VS_SQLITE = 0.85  # PostgreSQL's c=32 throughput within 15% of SQLite's (issue 23)
IDLE_STREAMS = 10000
IDLE_KB = 50.0  # per idle stream
MIN_NGINX_ADDED_US = 10  # a smaller nginx-added latency is noise, not a bar
STALL_US = 20000  # a direct stream pausing this long is the upstream stalling


def order(seq, known):
    return sorted(seq, key=lambda x: (known.index(x) if x in known else len(known), x))


def read_meta(d):
    meta = {}
    path = d / "meta.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                meta[k.strip()] = v.strip()
    return meta


def parse_wrk(d):
    cells = {}
    for f in sorted((d / "wrk").glob("*.txt")) if (d / "wrk").is_dir() else []:
        line = next((l for l in f.read_text().splitlines() if l.startswith("TOLLGATE_BENCH ")), None)
        if line is None:
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
        m = re.fullmatch(r"([\w-]+)/([\w-]+)/c(\d+)", kv.get("label", ""))
        if not m:
            continue
        target, scenario, conc = m.group(1), m.group(2), int(m.group(3))
        cell = {
            "target": target,
            "scenario": scenario,
            "concurrency": conc,
            "requests": int(kv["requests"]),
            "duration_s": float(kv["duration_s"]),
            "rps": float(kv["rps"]),
            "p50_us": int(kv["p50_us"]),
            "p90_us": int(kv["p90_us"]),
            "p99_us": int(kv["p99_us"]),
            "max_us": int(kv["max_us"]),
            "mean_us": float(kv["mean_us"]),
            "errors": {k: int(kv.get(k, 0)) for k in ERROR_FIELDS},
        }
        cell["cpu_us_per_req"] = cpu_per_request(f, cell["requests"])
        cells[(target, scenario, conc)] = cell
    return cells


def cpu_per_request(wrk_file, requests):
    """CPU microseconds per request of each process group (bench/lib/cpu.py
    snapshots beside wrk's output), only those that did work; {} without
    snapshots."""
    try:
        before = json.loads(Path(f"{wrk_file}.cpu0").read_text())
        after = json.loads(Path(f"{wrk_file}.cpu1").read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for name, t1 in after["ticks"].items():
        t0 = before["ticks"].get(name)
        if t0 is None or requests <= 0 or t1 <= t0:
            continue
        out[name] = round((t1 - t0) * 1e6 / after["tick_hz"] / requests, 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def enrich(cells):
    """Adds the comparisons against direct and nginx to every cell."""
    for (target, scenario, conc), c in cells.items():
        d = cells.get(("direct", scenario, conc))
        n = cells.get(("nginx", scenario, conc))
        c["added_p50_us"] = c["p50_us"] - d["p50_us"] if d else None
        c["added_p99_us"] = c["p99_us"] - d["p99_us"] if d else None
        c["rps_vs_direct"] = ratio(c["rps"], d["rps"]) if d else None
        c["rps_vs_nginx"] = ratio(c["rps"], n["rps"]) if n else None
        # how the gateway's added latency compares with nginx's
        if d and n and target not in BASELINES:
            # below MIN_NGINX_ADDED_US nginx added nothing measurable: no ratio
            def vs_nginx(q):
                nginx_added = n[q] - d[q]
                if nginx_added < MIN_NGINX_ADDED_US:
                    return None
                return ratio(c[q] - d[q], nginx_added)

            c["added_vs_nginx_added_p50"] = vs_nginx("p50_us")
            c["added_vs_nginx_added_p99"] = vs_nginx("p99_us")
        else:
            c["added_vs_nginx_added_p50"] = None
            c["added_vs_nginx_added_p99"] = None
    return cells


def ttfb_results(d):
    out = {}
    for f in sorted(d.glob("ttfb-*.json")):
        r = json.loads(f.read_text())
        out[f.stem[len("ttfb-"):]] = r
    for target, r in out.items():
        for base in BASELINES:
            b = out.get(base)
            for q in ("p50", "p99"):
                key = f"added_ttfb_{q}_us_vs_{base}"
                ok = b and base != target and target != "direct"
                r[key] = round(r["ttfb_us"][q] - b["ttfb_us"][q], 1) if ok else None
    return out


def fmt(v, spec="{:.0f}", none="-"):
    return none if v is None else spec.format(v)


def check_targets(cells, ttfb, idle, gateways):
    """The issue's targets, for each gateway target measured."""
    checks = []

    def add(ident, target, ok, value, threshold, text, partial=False):
        status = "n/a" if ok is None else ("MET" if ok else "NOT MET")
        if ok and partial:
            status = "MET*"
        checks.append({
            "id": ident, "target": target, "status": status,
            "value": value, "threshold": threshold, "detail": text,
        })

    for g in gateways:
        c = cells.get((g, "chat", 1))
        d = cells.get(("direct", "chat", 1))
        n = cells.get(("nginx", "chat", 1))
        if c and d and n:
            nginx_added = n["p50_us"] - d["p50_us"]
            limit = ADDED_P50_X_NGINX * nginx_added
            add("added-p50-c1", g, c["added_p50_us"] <= limit, c["added_p50_us"], limit,
                f"added p50 at c=1 (non-streaming) {c['added_p50_us']} us <= 2 x nginx-added "
                f"{nginx_added} us = {limit:.0f} us")
        else:
            add("added-p50-c1", g, None, None, None, "needs direct, nginx and this target, chat, c=1")
        if c and d:
            add("added-p99-c1", g, c["added_p99_us"] < ADDED_P99_US, c["added_p99_us"], ADDED_P99_US,
                f"added p99 at c=1 (non-streaming) {c['added_p99_us']} us < {ADDED_P99_US:.0f} us")
        else:
            add("added-p99-c1", g, None, None, None, "needs direct and this target, chat, c=1")
        c32 = cells.get((g, "chat", 32))
        n32 = cells.get(("nginx", "chat", 32))
        if c32 and n32:
            r = c32["rps_vs_nginx"]
            add("rps-c32", g, r >= RPS_VS_NGINX, round(r, 4), RPS_VS_NGINX,
                f"throughput at c=32 (non-streaming) {c32['rps']:.0f} req/s = {r:.0%} of nginx's "
                f"{n32['rps']:.0f} (>= {RPS_VS_NGINX:.0%})")
        else:
            add("rps-c32", g, None, None, None, "needs nginx and this target, chat, c=32")
        s32 = cells.get((g, "stream", 32))
        ns32 = cells.get(("nginx", "stream", 32))
        if s32 and ns32:
            r = s32["rps_vs_nginx"]
            add("stream-c32", g, r >= STREAM_RPS_VS_NGINX, round(r, 4), STREAM_RPS_VS_NGINX,
                f"streams at c=32 {s32['rps']:.0f} /s = {r:.0%} of nginx's {ns32['rps']:.0f} "
                f"(>= {STREAM_RPS_VS_NGINX:.0%})")
        else:
            add("stream-c32", g, None, None, None, "needs nginx and this target, stream, c=32")
        if g == "postgres":
            sq = cells.get(("sqlite", "chat", 32))
            if c32 and sq:
                r = ratio(c32["rps"], sq["rps"])
                add("pg-vs-sqlite", g, r >= PG_VS_SQLITE, round(r, 4), PG_VS_SQLITE,
                    f"throughput at c=32 (non-streaming) {c32['rps']:.0f} req/s = {r:.0%} of SQLite's "
                    f"{sq['rps']:.0f} (>= {PG_VS_SQLITE:.0%})")
            else:
                add("pg-vs-sqlite", g, None, None, None, "needs sqlite and postgres, chat, c=32")
        t = ttfb.get(g)
        if t and t.get("added_ttfb_p50_us_vs_direct") is not None:
            v = t["added_ttfb_p50_us_vs_direct"]
            add("ttfb-added", g, v < TTFB_ADDED_US, v, TTFB_ADDED_US,
                f"streaming TTFB added p50 {v:.0f} us (p99 {t['added_ttfb_p99_us_vs_direct']:.0f} us) "
                f"vs direct < {TTFB_ADDED_US:.0f} us")
        else:
            add("ttfb-added", g, None, None, None, "needs the ttfb scenario on direct and this target")
        if idle and idle.get("label") == g:
            kb = idle["kb_per_stream"]
            partial = idle["streams"] < IDLE_STREAMS
            text = (f"{idle['streams']} idle streams: {kb:.1f} KB each "
                    f"(RSS {idle['rss_before_kb']} -> {idle['rss_during_kb']} kB) < {IDLE_KB:.0f} KB")
            if partial:
                why = idle.get("note") or "IDLE_STREAMS was set lower"
                text += f"; * only {idle['streams']} of {IDLE_STREAMS} streams: {why}"
            add("idle-kb", g, kb < IDLE_KB, kb, IDLE_KB, text, partial=partial)
        else:
            add("idle-kb", g, None, None, None, "the idle scenario ran on another target or not at all")
    return checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--strict", action="store_true", help="exit 3 when a target is not met")
    args = ap.parse_args()
    d = Path(args.dir)
    meta = read_meta(d)
    cells = enrich(parse_wrk(d))
    ttfb = ttfb_results(d)
    idle = json.loads((d / "idle.json").read_text()) if (d / "idle.json").exists() else None
    if idle and meta.get("idle_note"):
        idle["note"] = meta["idle_note"]
    targets_seen = {k[0] for k in cells} | set(ttfb) | ({idle["label"]} if idle else set())
    gateways = [t for t in order(targets_seen, TARGET_ORDER) if t not in BASELINES + PEERS]

    invalid, peer_errors = [], []
    for c in cells.values():
        n = sum(c["errors"].values())
        if n:
            line = f"{c['target']}/{c['scenario']}/c{c['concurrency']}: {n} errors {c['errors']}"
            (peer_errors if c["target"] in PEERS else invalid).append(line)

    out = []
    p = out.append
    p("")
    p(f"Tollgate bench suite: {meta.get('stamp', '?')}, commit {meta.get('commit', '?')}"
      f"{' (dirty tree)' if meta.get('dirty') == 'true' else ''}, {meta.get('cpus', '?')} CPUs, "
      f"load {meta.get('loadavg_start', '?')} -> {meta.get('loadavg_end', '?')}")
    p(f"upstream: mock-provider (openai dialect, zero latency); wrk {meta.get('wrk', '?')}, "
      f"{meta.get('duration', '?')} s per cell; nginx {meta.get('nginx', '-')}; "
      f"tollgated worker threads: {meta.get('gateway_worker_threads', 'per CPU')}")
    if meta.get("portkey", "-") != "-" or meta.get("litellm", "-") != "-":
        p(f"peers: Portkey gateway {meta.get('portkey', '-')} (npm, --headless); "
          f"LiteLLM proxy {meta.get('litellm', '-')} (PyPI, 1 worker, no database)")
    for note in filter(None, meta.get("peer_notes", "").split("|")):
        p(f"note: {note}")
    if cells:
        p("")
        p("Load (wrk: whole responses; latencies in us; 'added' = this target minus direct;")
        p("      'x ngx-add' = this gateway's added latency / nginx's added latency)")
        hdr = "{:<9} {:<6} {:>4} | {:>7} {:>7} {:>8} | {:>7} {:>7} | {:>9} {:>9} | {:>7} {:>7}"
        p(hdr.format("target", "scen", "conc", "p50", "p99", "req/s", "+p50", "+p99",
                     "x ngx-add", "x ngx-add", "rps", "rps"))
        p(hdr.format("", "", "", "", "", "", "vs dir", "vs dir", "p50", "p99", "/direct", "/nginx"))
        p("-" * 104)
        scenarios = order({k[1] for k in cells}, SCENARIO_ORDER)
        concs = sorted({k[2] for k in cells})
        for s in scenarios:
            for conc in concs:
                for t in order({k[0] for k in cells}, TARGET_ORDER):
                    c = cells.get((t, s, conc))
                    if not c:
                        continue
                    bad = " !" if sum(c["errors"].values()) else ""
                    p(hdr.format(
                        t, s, conc, c["p50_us"], c["p99_us"], f"{c['rps']:.0f}",
                        fmt(c["added_p50_us"]) if t != "direct" else "-",
                        fmt(c["added_p99_us"]) if t != "direct" else "-",
                        fmt(c["added_vs_nginx_added_p50"], "{:.2f}"),
                        fmt(c["added_vs_nginx_added_p99"], "{:.2f}"),
                        fmt(c["rps_vs_direct"], "{:.3f}") if t != "direct" else "-",
                        fmt(c["rps_vs_nginx"], "{:.3f}") if t not in BASELINES else "-",
                    ) + bad)
                p("")
    cpu_cells = [c for c in cells.values() if c.get("cpu_us_per_req")]
    if cpu_cells:
        p("CPU per request (us of CPU time per completed request, by process: what the")
        p("      two cores were spent on; wrk's own share is not counted)")
        for s_ in order({c["scenario"] for c in cpu_cells}, SCENARIO_ORDER):
            for c in sorted((c for c in cpu_cells if c["scenario"] == s_),
                            key=lambda c: (c["concurrency"], order([c["target"]], TARGET_ORDER))):
                cpu = c["cpu_us_per_req"]
                parts = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
                p(f"  {c['target']:<9} {s_:<6} c={c['concurrency']:<4} total {sum(cpu.values()):>7.0f} = {parts}")
        p("")
    for c in sorted((c for c in cells.values() if c["target"] == "replicas"), key=lambda c: (c["scenario"], c["concurrency"])):
        single = cells.get(("postgres", c["scenario"], c["concurrency"]))
        text = (f"scale-out ({c['scenario']}, c={c['concurrency']}): {c['rps']:.0f} req/s through nginx over "
                f"{REPLICAS} replicas = {c['rps'] / REPLICAS:.0f} per replica")
        if single:
            text += f"; one replica alone (postgres) {single['rps']:.0f} req/s: x{c['rps'] / single['rps']:.2f}"
        p(text)
    if any(c["target"] == "replicas" for c in cells.values()):
        p("")
    if ttfb:
        p(f"Streaming time to first byte (bench/lib/ttfb.py: concurrency 1, "
          f"{next(iter(ttfb.values()))['requests']} sequential streams per target; us)")
        hdr = "{:<9} | {:>7} {:>7} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>7}"
        p(hdr.format("target", "ttfb", "ttfb", "total", "total", "+ttfb", "+ttfb", "+ttfb", "+ttfb",
                     "max gap"))
        p(hdr.format("", "p50", "p99", "p50", "p99", "p50 dir", "p99 dir", "p50 ngx", "p99 ngx", "p50"))
        p("-" * 97)
        for t in order(ttfb, TARGET_ORDER):
            r = ttfb[t]
            p(hdr.format(
                t, fmt(r["ttfb_us"]["p50"]), fmt(r["ttfb_us"]["p99"]),
                fmt(r["total_us"]["p50"]), fmt(r["total_us"]["p99"]),
                fmt(r["added_ttfb_p50_us_vs_direct"]), fmt(r["added_ttfb_p99_us_vs_direct"]),
                fmt(r["added_ttfb_p50_us_vs_nginx"]), fmt(r["added_ttfb_p99_us_vs_nginx"]),
                fmt(r.get("max_gap_us", {}).get("p50")),
            ))
        gap = ttfb.get("direct", {}).get("max_gap_us", {}).get("p50")
        if gap is not None and gap >= STALL_US:
            p(f"WARNING: streams straight from the mock stall for {gap / 1000:.0f} ms (max gap p50): the")
            p("  upstream holds chunks back (Nagle + delayed ACK: a socket without TCP_NODELAY), so the")
            p("  stream rows and 'total' measure that stall more than the hop; TTFB is unaffected.")
        p("")
    if idle:
        p(f"Idle streams (bench/lib/idle.py, through {idle['label']}; upstream sleeping)")
        p(f"  {idle['streams']} streams open after {idle['ramp_s']} s; gateway RSS "
          f"{idle['rss_before_kb'] / 1024:.1f} MiB before, {idle['rss_during_kb'] / 1024:.1f} MiB "
          f"while open, {fmt(idle.get('rss_after_close_kb'), '{:.0f}')} kB after closing; "
          f"{idle['kb_per_stream']:.1f} KB per stream; fds {idle['fds_before']} -> {idle['fds_during']}")
        if idle.get("upstream_rss_during_kb"):
            p(f"  (mock-provider RSS {idle['upstream_rss_before_kb']} -> {idle['upstream_rss_during_kb']} kB)")
        if idle.get("note"):
            p(f"  note: {idle['note']}")
        p("")
    checks = check_targets(cells, ttfb, idle, gateways)
    if checks:
        p("Targets (issues 10 and 23):")
        for c in checks:
            p(f"  {c['status']:<8} {c['target']:<9} {c['id']:<13} {c['detail']}")
        p("")
    if peer_errors:
        p("Peer cells with errors (their figures count the failed requests too):")
        for line in peer_errors:
            p(f"  {line}")
        p("")
    if invalid:
        p("INVALID: these cells saw errors, so their numbers do not measure successful requests:")
        for line in invalid:
            p(f"  {line}")
        p("")
    text = "\n".join(out)
    print(text)
    (d / "table.txt").write_text(text + "\n")

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v

    result = {
        "suite": "tollgate-bench",
        "meta": {k: num(v) if k.startswith("loadavg") else v for k, v in meta.items()},
        "valid": not invalid,
        "invalid": invalid,
        "peer_errors": peer_errors,
        "load": [cells[k] for k in sorted(cells, key=lambda k: (
            SCENARIO_ORDER.index(k[1]) if k[1] in SCENARIO_ORDER else 9, k[2],
            TARGET_ORDER.index(k[0]) if k[0] in TARGET_ORDER else 9))],
        "ttfb": [ttfb[t] | {"target": t} for t in order(ttfb, TARGET_ORDER)],
        "idle": idle,
        "targets": checks,
    }
    for c in result["load"]:
        for k, v in list(c.items()):
            if isinstance(v, float):
                c[k] = round(v, 4)
    (d / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    if invalid:
        return 1
    if args.strict and any(c["status"] == "NOT MET" for c in checks):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
