// The web dashboard in a real browser: Debian's headless Chromium driven by
// playwright-core (no browser download), against a real `tollgated --dev`.
// One browser session runs every check; screenshots of each page, light
// and dark, go to target/screenshots/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const WORKSPACE = resolve(here, "..", "..");
const SHOTS = join(WORKSPACE, "target", "screenshots");
const API_KEY = "sk-tg-v1-browser-suite-demo-key";
const PROVISIONING_KEY = "sk-tg-v1-browser-suite-demo-provisioning";
const ADMIN_KEY = "sk-tg-admin-browser-suite";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

async function startGateway() {
  const bin = process.env.TOLLGATED || join(WORKSPACE, "target", "debug", "tollgated");
  const child = spawn(bin, ["--dev", "--listen", "127.0.0.1:0", "--shutdown-grace", "2"], {
    env: { ...process.env, TOLLGATE_DEV_API_KEY: API_KEY,
           TOLLGATE_DEV_PROVISIONING_KEY: PROVISIONING_KEY, TOLLGATE_ADMIN_KEY: ADMIN_KEY,
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
  lines.on("line", () => {});
  return {
    origin: new URL(baseURL).origin,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((ok) => child.once("exit", ok));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

test("the dashboard in headless Chromium", { timeout: 180000 }, async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const gw = await startGateway();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.after(async () => { await browser.close(); await gw.stop(); });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();

  // Every console error, page error and request leaving 127.0.0.1 fails.
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()} (${page.url()})`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message} (${page.url()})`));
  context.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol === "data:" || url.protocol === "blob:") return;
    if (url.hostname !== "127.0.0.1") problems.push(`request left 127.0.0.1: ${r.url()}`);
  });
  const url = (path) => gw.origin + path;

  // Visits `path`: 200, under 100 KB, screenshots light and dark.
  async function visit(path, name, status = 200) {
    const res = await page.goto(url(path));
    assert.equal(res.status(), status, `${path}: ${res.status()}`);
    const body = await res.body();
    assert.ok(body.length < 100 * 1024, `${path} weighs ${body.length} bytes`);
    await shoot(name);
  }
  async function shoot(name) {
    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`), fullPage: true });
    }
    await page.emulateMedia({ colorScheme: "light" });
  }
  async function signIn(key) {
    await page.goto(url("/"));
    assert.match(page.url(), /\/signin$/);
    await page.getByLabel("API key or admin key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => !u.pathname.endsWith("/signin"));
  }
  async function signOut() {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/signin$/);
  }

  await t.test("sign in with the --dev key", async () => {
    await page.goto(url("/"));
    assert.match(page.url(), /\/signin$/);
    await shoot("signin");
    await signIn(API_KEY);
    assert.match(page.url(), /\/activity$/);
    const keyInStorage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!keyInStorage.includes(API_KEY), "no key in web storage");
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "tollgate_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
    assert.ok(!cookies.some((c) => c.value.includes(API_KEY)), "no key in cookies");
  });

  await t.test("the playground streams a reply from mock/echo and shows its cost", async () => {
    await visit("/playground?model=mock/echo", "playground-empty");
    await page.getByLabel("System prompt (optional)").fill("Be brief.");
    await page.getByLabel("Message").fill("Hello from the browser test");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForFunction(() => document.getElementById("stat-cost").textContent.startsWith("$"), null, { timeout: 20000 });
    await page.waitForFunction(() => !document.getElementById("send").disabled);
    const reply = await page.locator(".msg.assistant .text").last().textContent();
    assert.ok(reply.length > 0, "a reply was streamed");
    assert.match(await page.locator("#stat-cost").textContent(), /^\$\d/);
    assert.match(await page.locator("#stat-provider").textContent(), /mock/i);
    assert.match(await page.locator("#stat-tokens").textContent(), /^\d+ \/ \d+$/);
    const href = await page.locator("#stat-generation").getAttribute("href");
    assert.match(href, /\/generations\/gen-/);
    await shoot("playground");
    // The generation's page (recorded behind the reply: retried briefly).
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await page.goto(url(href))).status();
      if (status !== 200) await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.equal(status, 200);
    assert.match(await page.locator("#generation-id").textContent(), /^gen-/);
    await shoot("generation");
  });

  await t.test("the stop button cancels the stream upstream", async () => {
    await page.goto(url("/playground?model=mock/echo"));
    await page.getByLabel("Message").fill("[mock:endless] [mock:slow] go on");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForFunction(() => {
      const t = document.querySelectorAll(".msg.assistant .text");
      return t.length && t[t.length - 1].textContent.length > 0;
    }, null, { timeout: 20000 });
    await page.getByRole("button", { name: "Stop" }).click();
    await page.waitForFunction(() => !document.getElementById("send").disabled);
    assert.match(await page.locator(".msg.assistant .text").last().textContent(), /\[stopped\]$/);
    // The gateway records the generation as cancelled once the body is dropped.
    let cancelled = 0;
    for (let i = 0; i < 50 && cancelled === 0; i++) {
      await page.goto(url("/generations"));
      cancelled = await page.locator("#generations tbody tr", { hasText: "cancelled" }).count();
      if (cancelled === 0) await new Promise((ok) => setTimeout(ok, 200));
    }
    assert.equal(cancelled, 1, "the stopped generation is listed as cancelled");
  });

  await t.test("every account page renders", async () => {
    for (const [path, name] of [["/activity", "activity"], ["/models", "models"],
      ["/models/mock/echo", "model"], ["/generations", "generations"], ["/credits", "credits"],
      ["/byok", "byok"], ["/keys", "keys"]]) {
      await visit(path, name);
    }
    const models = await page.goto(url("/models?q=echo&sort=price"));
    assert.equal(models.status(), 200);
    assert.ok((await page.locator("#models tbody tr").count()) >= 1);
  });

  await t.test("an inference key's session sees the keys read-only", async () => {
    await page.goto(url("/keys"));
    await page.getByText("Managing keys needs a provisioning key: sign in with one").waitFor();
    assert.equal(await page.getByRole("button", { name: "Create key" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: /^(Disable|Enable) key/ }).count(), 0);
    // Even with the session's token, the server refuses to mint a key.
    const before = problems.length;
    const status = await page.evaluate(async () => {
      const csrf = document.querySelector("meta[name=csrf-token]").content;
      const r = await fetch(document.body.dataset.base + "/keys", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "name=leaked&csrf=" + encodeURIComponent(csrf),
      });
      return r.status;
    });
    assert.equal(status, 403);
    const logged = problems.splice(before);
    assert.ok(logged.every((p) => p.includes("status of 403")), JSON.stringify(logged));
    await page.goto(url("/keys"));
    assert.equal(await page.locator("tr", { hasText: "leaked" }).count(), 0);
    await page.goto(url("/byok"));
    assert.equal(await page.getByRole("button", { name: "Store key" }).count(), 0);
    await signOut();
  });

  await t.test("create a key and see it listed", async () => {
    await signIn(PROVISIONING_KEY);
    await page.goto(url("/playground"));
    await page.getByText("Provisioning keys cannot call models").waitFor();
    await page.goto(url("/keys"));
    await page.getByLabel("Name").fill("browser-made");
    await page.getByLabel("Credit limit (USD, optional)").fill("3");
    await page.getByLabel("Limit resets").selectOption("weekly");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.waitForSelector("#new-key");
    assert.match(await page.locator("#new-key").textContent(), /^sk-tg-v1-/);
    await shoot("key-created");
    await page.goto(url("/keys"));
    const row = page.locator("tr", { hasText: "browser-made" });
    assert.equal(await row.count(), 1);
    assert.match(await row.textContent(), /\$3\.00 weekly/);
    // Delete asks first.
    await row.getByRole("link", { name: "Delete key browser-made" }).click();
    await shoot("key-delete");
    await page.getByRole("button", { name: "Delete key" }).click();
    await page.waitForURL(/\/keys$/);
    assert.equal(await page.locator("tr", { hasText: "browser-made" }).count(), 0);
  });

  await t.test("a form posted without its CSRF token is refused", async () => {
    await page.goto(url("/keys"));
    const before = problems.length;
    const status = await page.evaluate(async () => {
      const r = await fetch(document.body.dataset.base + "/keys", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "name=forged",
      });
      return r.status;
    });
    assert.equal(status, 403);
    // The browser logs the refused request; that one is expected.
    const logged = problems.splice(before);
    assert.ok(logged.every((p) => p.includes("status of 403")), JSON.stringify(logged));
    await page.goto(url("/keys"));
    assert.equal(await page.locator("tr", { hasText: "forged" }).count(), 0);
  });

  let availableBefore;
  await t.test("logout ends the session", async () => {
    await page.goto(url("/credits"));
    availableBefore = Number((await page.locator("#available").textContent()).replace(/[^0-9.]/g, ""));
    await signOut();
    const res = await page.goto(url("/credits"));
    assert.match(page.url(), /\/signin$/, `after sign-out /credits went to ${page.url()} (${res.status()})`);
  });

  await t.test("an operator top-up appears on the account's credits", async () => {
    await signIn(ADMIN_KEY);
    assert.match(page.url(), /\/operator$/);
    await shoot("operator");
    const row = page.locator("#accounts tbody tr", { hasText: "demo" });
    await row.getByLabel("Amount in USD for demo").fill("7");
    await row.getByLabel("Note").fill("browser top-up");
    await row.getByRole("button", { name: "Add" }).click();
    await page.waitForSelector("text=Added $7.00 to demo.");
    await page.getByRole("button", { name: "Reload the catalog" }).click();
    await page.waitForSelector("[role=status], [role=alert]");
    await signOut();

    await signIn(API_KEY);
    await page.goto(url("/credits"));
    const after = Number((await page.locator("#available").textContent()).replace(/[^0-9.]/g, ""));
    assert.ok(Math.abs(after - availableBefore - 7) < 1e-9, `available ${availableBefore} → ${after}`);
    assert.equal(await page.locator("#ledger tr", { hasText: "browser top-up" }).count(), 1);
    await shoot("credits-after-top-up");
  });

  await t.test("no console error and no request left 127.0.0.1", () => {
    assert.deepEqual(problems, []);
  });
});
