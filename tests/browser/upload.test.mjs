// A real browser against `private-uploads up`: Debian's Chromium driven by playwright-core
// (no browser download). Alice uploads a PNG, sees it listed and shown through the CDN
// stand-in; Bob sees none of it; a slow upload shows its progress on the way; the token
// command `up` prints works; stopping the stack leaves no process behind.
//
// Run by ./scripts/test. Needs PRIVATE_UPLOADS_BIN (the built CLI) and Chromium at
// CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, execSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BIN = process.env.PRIVATE_UPLOADS_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PORT = Number(process.env.BROWSER_TEST_PORT || 3710);
const REPO = fileURLToPath(new URL("../..", import.meta.url));

// 1×1 red PNG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
  "base64",
);

let up;
let upExit;
let upStdout = "";
let browser;
let dataDir;
const apiUrl = `http://127.0.0.1:${PORT}`;
const cdnUrl = `http://127.0.0.1:${PORT + 2}`;

before(async () => {
  assert.ok(BIN && existsSync(BIN), `PRIVATE_UPLOADS_BIN must name the built CLI (got ${BIN}); run ./scripts/test`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM)`);
  dataDir = mkdtempSync(join(tmpdir(), "private-uploads-browser-"));
  up = spawn(BIN, ["up", "--port", String(PORT), "--data-dir", dataDir], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  upExit = new Promise((done) => up.on("exit", (code, signal) => done({ code, signal })));
  let stderr = "";
  up.stderr.on("data", (chunk) => (stderr += chunk));
  await new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`up did not start in 120 s:\n${upStdout}\n${stderr}`)), 120_000);
    up.stdout.on("data", (chunk) => {
      upStdout += chunk;
      if (upStdout.includes("Stop: Ctrl-C")) {
        clearTimeout(timer);
        ready();
      }
    });
    up.on("exit", (code) => fail(new Error(`up exited with ${code}:\n${upStdout}\n${stderr}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (up && up.exitCode === null) up.kill("SIGKILL");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function signIn(page, user) {
  await page.fill("#dev-user", user);
  await page.click("#dev-signin-button");
  await page.waitForFunction((u) => document.querySelector("#signed-in")?.textContent.includes(u), user);
}

test("alice uploads a PNG, sees it listed and shown through the CDN; bob sees none of it", async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(apiUrl);
  await page.waitForSelector("#dev-user", { state: "visible" });

  await signIn(page, "alice");
  await page.setInputFiles("#file-input", { name: "red dot.png", mimeType: "image/png", buffer: PNG });
  await page.click("#upload-button");

  const row = page.locator('#file-list tr[data-status="ready"]');
  await row.first().waitFor({ timeout: 30_000 });
  assert.equal(await row.count(), 1);
  assert.match(await row.first().textContent(), /red dot\.png/);
  const fileId = await row.first().getAttribute("data-file-id");
  const progress = page.locator("progress.upload-progress").first();
  assert.equal(await progress.evaluate((p) => p.value === p.max && p.max > 0), true, "the progress bar completed");

  await row.first().locator(".open-button").click();
  const image = page.locator("#preview-image");
  await image.waitFor();
  const src = await image.getAttribute("src");
  assert.ok(src.startsWith(`${cdnUrl}/users/alice/${fileId}?Expires=`), src);
  await page.waitForFunction(() => document.querySelector("#preview-image")?.complete);
  assert.equal(await image.evaluate((img) => img.naturalWidth), 1, "the image loaded through the CDN stand-in");
  await page.screenshot({ path: join(dataDir, "alice.png"), fullPage: true });
  if (process.env.BROWSER_SCREENSHOT) await page.screenshot({ path: process.env.BROWSER_SCREENSHOT, fullPage: true });

  // The same URL without its signature is refused by the CDN.
  assert.equal((await fetch(src.split("?")[0])).status, 403);
  assert.equal((await fetch(src)).status, 200);

  await signIn(page, "bob");
  await page.locator("#file-list-empty").waitFor({ state: "visible" });
  assert.equal(await page.locator("#file-list tr[data-file-id]").count(), 0);
  assert.equal(await page.locator("#preview-image").count(), 0, "alice's preview is gone");

  // Bob asking for alice's file by id gets the same 404 as for a file that does not exist.
  const answers = await page.evaluate(async (id) => {
    const { token } = await (await fetch("/local/token", { method: "POST", body: JSON.stringify({ user: "bob" }) })).json();
    const get = async (path) => {
      const r = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
      return [r.status, await r.json()];
    };
    return [await get(`/files/${id}/url`), await get(`/files/${id}`)];
  }, fileId);
  for (const [status, body] of answers) {
    assert.equal(status, 404);
    assert.deepEqual(body, { error: "file_not_found", message: "no such file" });
  }

  // Alice deletes it; the list is empty again.
  await signIn(page, "alice");
  await page.evaluate(() => (window.__noConfirm = true));
  await page.locator(`#file-list tr[data-file-id="${fileId}"] .delete-button`).click();
  await page.locator("#file-list-empty").waitFor({ state: "visible" });

  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("the token command up prints works, run from another directory", async () => {
  const line = upStdout.split("\n").find((l) => l.startsWith("Mint a token: "));
  assert.ok(line, `up printed no token command:\n${upStdout}`);
  const command = line.slice("Mint a token: ".length);
  assert.ok(command.includes(dataDir), `the command names up's own --data-dir: ${command}`);
  const token = execSync(command, { cwd: tmpdir(), encoding: "utf8" }).trim();
  const answer = await fetch(`${apiUrl}/files`, { headers: { authorization: `Bearer ${token}` } });
  const text = await answer.text();
  assert.equal(answer.status, 200, text);
  assert.deepEqual(JSON.parse(text), { files: [], next_cursor: null });
});

test("a slow upload shows its progress between 0 and 100% before it completes", async () => {
  const page = await browser.newPage();
  await page.goto(apiUrl);
  await page.waitForSelector("#dev-user", { state: "visible" });
  await signIn(page, "carol");
  // 768 KiB through a 256 KiB/s uplink: about three seconds of progress events.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 256 * 1024,
  });
  const bytes = Buffer.concat([PNG, Buffer.alloc(768 * 1024 - PNG.length, 7)]);
  await page.setInputFiles("#file-input", { name: "big.png", mimeType: "image/png", buffer: bytes });
  await page.click("#upload-button");
  const between = await page.waitForFunction(
    () => {
      const p = document.querySelector("progress.upload-progress");
      return p && p.max > 1 && p.value > 0 && p.value < p.max ? p.value / p.max : null;
    },
    null,
    { polling: 20, timeout: 30_000 },
  );
  const fraction = await between.jsonValue();
  assert.equal(
    await page.locator('#file-list tr[data-status="ready"]').count(),
    0,
    `progress was seen at ${Math.round(fraction * 100)}% before the upload completed`,
  );
  const row = page.locator('#file-list tr[data-status="ready"]');
  await row.first().waitFor({ timeout: 60_000 });
  const progress = page.locator("progress.upload-progress").first();
  assert.equal(await progress.evaluate((p) => p.value === p.max), true, "and then it completes");
  await page.close();
});

test("stopping the stack with SIGTERM leaves no process behind", async () => {
  up.kill("SIGTERM");
  const { code } = await Promise.race([
    upExit,
    new Promise((_, fail) => setTimeout(() => fail(new Error("up did not stop within 15 s")), 15_000)),
  ]);
  assert.equal(code, 0);
  let left = "";
  try {
    left = execFileSync("pgrep", ["-f", `moto_server -H 127.0.0.1 -p ${PORT + 3}`]).toString();
  } catch (err) {
    // pgrep exits 1 when nothing matches: what we want. Anything else is a broken check.
    if (err.status !== 1) throw err;
  }
  assert.equal(left, "", "moto_server was stopped");
});
