// A real browser against `private-uploads up`: Debian's Chromium driven by playwright-core
// (no browser download). Alice uploads a PNG, sees it listed and shown through the CDN
// stand-in; Bob sees none of it; stopping the stack leaves no process behind.
//
// Run by ./scripts/test. Needs PRIVATE_UPLOADS_BIN (the built CLI) and Chromium at
// CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
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
    let stdout = "";
    const timer = setTimeout(() => fail(new Error(`up did not start in 120 s:\n${stdout}\n${stderr}`)), 120_000);
    up.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (stdout.includes("Stop: Ctrl-C")) {
        clearTimeout(timer);
        ready();
      }
    });
    up.on("exit", (code) => fail(new Error(`up exited with ${code}:\n${stdout}\n${stderr}`)));
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
  } catch {
    // pgrep exits 1 when nothing matches: what we want.
  }
  assert.equal(left, "", "moto_server was stopped");
});
