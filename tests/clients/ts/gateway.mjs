// Starts a real `tollgated --dev` (from $TOLLGATED, else the workspace's
// target/debug/tollgated) on 127.0.0.1:0 for one test file, and stops it.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const WORKSPACE = resolve(here, "..", "..", "..");
export const API_KEY = "sk-tg-v1-demo"; // the key the README snippets use
export const ADMIN_KEY = "sk-tg-admin-clients-suite";
export const README_BASE = "http://127.0.0.1:8080/api/v1";

export const PNG_1PX =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8" +
  "BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

export async function startGateway() {
  const bin = process.env.TOLLGATED || join(WORKSPACE, "target", "debug", "tollgated");
  const child = spawn(bin, ["--dev", "--listen", "127.0.0.1:0", "--shutdown-grace", "2"], {
    env: { ...process.env, TOLLGATE_DEV_API_KEY: API_KEY, TOLLGATE_ADMIN_KEY: ADMIN_KEY,
           RUST_LOG: process.env.RUST_LOG || "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const baseURL = await new Promise((ok, fail) => {
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`tollgated exited (${code}) before listening`)));
    lines.once("line", (line) => {
      const m = /^Tollgate listening on (\S+)/.exec(line);
      m ? ok(m[1]) : fail(new Error(`unexpected first line: ${line}`));
    });
  });
  lines.on("line", () => {}); // keep draining
  const gw = {
    baseURL,
    apiKey: API_KEY,
    async request(method, path, body, key = API_KEY) {
      const res = await fetch(baseURL + path, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, headers: res.headers, body: await res.json() };
    },
    // GET /generation?id=, retried while it is not recorded yet, until `done(data)`.
    async generation(id, done = () => true, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await gw.request("GET", `/generation?id=${encodeURIComponent(id)}`);
        if (r.status === 200 && done(r.body.data)) return r.body.data;
        if (Date.now() > deadline) throw new Error(`generation ${id}: ${r.status} ${JSON.stringify(r.body)}`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
    },
    async brokeKey() {
      const r = await gw.request("POST", "/admin/accounts", { name: "clients-suite-broke" }, ADMIN_KEY);
      if (r.status !== 201) throw new Error(`admin: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.api_key;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((ok) => child.once("exit", ok));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(t);
    },
  };
  return gw;
}

// The README snippet tests/clients/snippets/NAME, pointed at the gateway.
export function snippet(name, gw) {
  const text = readFileSync(join(WORKSPACE, "tests", "clients", "snippets", name), "utf8");
  if (!text.includes(README_BASE) || !text.includes(API_KEY)) throw new Error(`${name}: no README address/key`);
  return text.replaceAll(README_BASE, gw.baseURL);
}

// Runs a snippet as its own ES module (node resolves its imports from this directory).
export async function runSnippet(name, gw) {
  const { execFile } = await import("node:child_process");
  const code = snippet(name, gw);
  return await new Promise((ok, fail) =>
    execFile(process.execPath, ["--input-type=module", "-e", code], { cwd: here, timeout: 30000 },
      (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : ok(stdout))));
}
