-- wrk script shared by every target of bench/run: the direct mock, nginx and
-- the gateways get byte-for-byte the same request apart from the URL and the
-- bearer key, so the only difference measured is the hop in between.
--
-- Environment (set by bench/run):
--   BENCH_BODY   the JSON request body
--   BENCH_AUTH   the bearer key for this target (optional)
--   BENCH_LABEL  target/scenario/cN, echoed in the result line
--   BENCH_HEADERS extra "Name: value" headers, one per line (the peer
--                gateways' routing headers; optional)

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end

-- One machine-readable line; bench/run and bench/lib/report.py look for the
-- prefix. Latencies are in microseconds (wrk's unit), rps over the measured
-- time. `non2xx` counts responses with status >= 400 (wrk's errors.status);
-- any non-zero error count makes the cell invalid.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "TOLLGATE_BENCH label=%s requests=%d duration_s=%.3f rps=%.1f " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f " ..
    "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    os.getenv("BENCH_LABEL") or "-", summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
