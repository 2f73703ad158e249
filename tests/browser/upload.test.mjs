// A real browser against `private-uploads up`: Debian's Chromium driven by playwright-core
// (no browser download). Alice uploads a PNG, sees it listed and shown through the CDN
// stand-in; Bob sees none of it; a slow upload shows its progress on the way; a multipart
// upload retries the one part that failed and carries the file's CRC64NVME; an interrupted
// multipart upload resumes after a reload, sending only the missing parts, and in another
// browser (a second context) from the API's list; the POST form and the drop zone work; the token
// command `up` prints works; stopping the stack leaves no process behind. The page is served
// from this checkout's web/ (`--web-dir`).
//
// Run by ./scripts/test. Needs PRIVATE_UPLOADS_BIN (the built CLI) and Chromium at
// CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, execSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Crc64Nvme } from "../../web/client/crc64nvme.mjs";

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
let upStderr = ""; // the functions' log and metric lines
let browser;
let dataDir;
const apiUrl = `http://127.0.0.1:${PORT}`;
const s3Url = `http://127.0.0.1:${PORT + 1}`;
const cdnUrl = `http://127.0.0.1:${PORT + 2}`;
const MIB = 1024 * 1024;

before(async () => {
  assert.ok(BIN && existsSync(BIN), `PRIVATE_UPLOADS_BIN must name the built CLI (got ${BIN}); run ./scripts/test`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM)`);
  dataDir = mkdtempSync(join(tmpdir(), "private-uploads-browser-"));
  up = spawn(BIN, ["up", "--port", String(PORT), "--data-dir", dataDir, "--web-dir", join(REPO, "web")], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  upExit = new Promise((done) => up.on("exit", (code, signal) => done({ code, signal })));
  up.stderr.on("data", (chunk) => (upStderr += chunk));
  await new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`up did not start in 120 s:\n${upStdout}\n${upStderr}`)), 120_000);
    up.stdout.on("data", (chunk) => {
      upStdout += chunk;
      if (upStdout.includes("Stop: Ctrl-C")) {
        clearTimeout(timer);
        ready();
      }
    });
    up.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`up exited with ${code}:\n${upStdout}\n${upStderr}`));
    });
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
  if (up && up.exitCode === null) {
    // SIGTERM: up stops moto and its stand-ins; a SIGKILLed up would leave moto on its port.
    up.kill("SIGTERM");
    const stopped = await Promise.race([upExit, new Promise((late) => setTimeout(() => late(null), 15_000))]);
    if (!stopped) up.kill("SIGKILL");
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function tokenFor(user) {
  const res = await fetch(`${apiUrl}/local/token`, { method: "POST", body: JSON.stringify({ user }) });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

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
  // up printed the functions' metric lines (CloudWatch EMF) for it, as Lambda would.
  const metrics = upStderr
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"_aws"'))
    .map((line) => JSON.parse(line));
  const named = (name) => metrics.filter((m) => m._aws.CloudWatchMetrics[0].Metrics[0].Name === name);
  assert.ok(named("UploadsIssued").some((m) => m.Mode === "put" && m.UploadsIssued === 1), upStderr);
  assert.ok(named("FilesReady").length >= 1, upStderr);
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
      return [r.status, await r.json(), r.headers.get("apigw-requestid")];
    };
    return [await get(`/files/${id}/url`), await get(`/files/${id}`)];
  }, fileId);
  for (const [status, { request_id: requestId, ...body }, header] of answers) {
    assert.equal(status, 404);
    assert.deepEqual(body, { error: "file_not_found", message: "no such file" });
    assert.ok(requestId && requestId === header, `request_id ${requestId} is the apigw-requestid header ${header}`);
  }

  // Alice deletes it; the list is empty again.
  await signIn(page, "alice");
  await page.locator(`#file-list tr[data-file-id="${fileId}"] .delete-button`).click();
  await page.click("#confirm-ok");
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

// ---------- multipart, resume, POST form, drop zone ----------

// 12 MiB: a whole 1×1 PNG (image decoders stop at its end), then filler, so the object passes
// the type sniffing and still shows as an image. The server cuts it in parts of 5, 5 and 2 MiB.
function bigPng(name) {
  const dir = join(dataDir, "fixtures");
  mkdirSync(dir, { recursive: true });
  const filler = Buffer.alloc(12 * MIB - PNG.length);
  for (let i = 0; i < filler.length; i += 1) filler[i] = i % 251;
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([PNG, filler]));
  return path;
}

const partNumber = (url) => Number(new URL(url).searchParams.get("partNumber")) || null;

// Counts the part PUTs the page sends, by part number (retries included).
function countPartPuts(page) {
  const puts = new Map();
  page.on("request", (req) => {
    const n = partNumber(req.url());
    if (req.method() === "PUT" && req.url().startsWith(s3Url) && n) puts.set(n, (puts.get(n) ?? 0) + 1);
  });
  return puts;
}

async function openPage(user) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(apiUrl);
  await page.waitForSelector("#dev-user", { state: "visible" });
  await signIn(page, user);
  return { page, problems };
}

async function readyRow(page, name) {
  const row = page.locator('#file-list tr[data-status="ready"]', { hasText: name });
  await row.first().waitFor({ timeout: 60_000 });
  assert.equal(await row.count(), 1, `one ready row for ${name}`);
  return row.first();
}

// Opens the row's file and checks the CDN serves exactly `bytes`, shown as a 1×1 image.
async function opensThroughCdn(page, row, user, bytes) {
  const fileId = await row.getAttribute("data-file-id");
  await row.locator(".open-button").click();
  const image = page.locator("#preview-image");
  await image.waitFor();
  const src = await image.getAttribute("src");
  assert.ok(src.startsWith(`${cdnUrl}/users/${user}/${fileId}?Expires=`), src);
  await page.waitForFunction(() => document.querySelector("#preview-image")?.complete);
  assert.equal(await image.evaluate((img) => img.naturalWidth), 1, "the image loaded through the CDN stand-in");
  const served = await fetch(src);
  assert.equal(served.status, 200);
  assert.ok(Buffer.from(await served.arrayBuffer()).equals(bytes), "the CDN serves the very bytes uploaded");
}

test("a 12 MiB multipart upload retries the one part that failed, shows its progress, and ends ready", async () => {
  const path = bigPng("big.png");
  const { page, problems } = await openPage("dave");
  const puts = countPartPuts(page);
  const created = [];
  page.on("request", (req) => {
    if (req.method() === "POST" && req.url() === `${apiUrl}/uploads/multipart`) created.push(JSON.parse(req.postData()));
  });
  // The first PUT of part 2 gets a 500 from "S3"; everything else goes through.
  let failed = false;
  await page.route(`${s3Url}/**`, (route) => {
    const req = route.request();
    if (req.method() === "PUT" && partNumber(req.url()) === 2 && !failed) {
      failed = true;
      return route.fulfill({
        status: 500,
        headers: { "access-control-allow-origin": apiUrl, "content-type": "application/xml" },
        body: "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
      });
    }
    return route.continue();
  });

  await page.setInputFiles("#file-input", path);
  await page.click("#upload-button");
  const [between] = await Promise.all([
    page.waitForFunction(
      () => {
        const p = document.querySelector("progress.upload-progress");
        return p && p.max > 1 && p.value > 0 && p.value < p.max ? p.value / p.max : null;
      },
      null,
      { polling: 20, timeout: 30_000 },
    ),
    page.waitForFunction(
      () => document.querySelector(".upload-status")?.textContent.includes("retrying part 2 after HTTP 500"),
      null,
      { polling: 20, timeout: 30_000 },
    ),
  ]);
  const fraction = await between.jsonValue();
  assert.equal(
    await page.locator('#file-list tr[data-status="ready"]').count(),
    0,
    `progress was seen at ${Math.round(fraction * 100)}% before the upload completed`,
  );

  const row = await readyRow(page, "big.png");
  assert.match(await row.textContent(), /12 MB/);
  assert.ok(failed, "part 2 was failed once");
  const crc = new Crc64Nvme().update(readFileSync(path)).base64();
  assert.deepEqual(created.map((c) => c.crc64nvme), [crc], "the upload was created with the file's CRC64NVME");
  assert.deepEqual(Object.fromEntries(puts), { 1: 1, 2: 2, 3: 1 }, "only part 2 was sent again");
  const upload = page.locator(".upload-row").first();
  assert.equal(await upload.getAttribute("data-state"), "ready");
  assert.equal(await upload.locator("progress").evaluate((p) => p.value === p.max && p.max === 12 * 1024 * 1024), true);
  assert.equal(await page.evaluate(() => localStorage.getItem("private-uploads.unfinished")), null, "nothing left to resume");
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("an interrupted multipart upload resumes after a reload and sends only the missing parts", async () => {
  const path = bigPng("big.png");
  const bytes = readFileSync(path);
  const { page, problems } = await openPage("erin");

  // Part 1 goes through; parts 2 and 3 hang until the reload cuts them off.
  const held = [];
  await page.route(`${s3Url}/**`, (route) => {
    const req = route.request();
    if (req.method() === "PUT" && partNumber(req.url()) > 1) held.push(route);
    else return route.continue();
  });
  const part1 = page.waitForResponse((r) => r.request().method() === "PUT" && partNumber(r.url()) === 1);
  await page.setInputFiles("#file-input", path);
  await page.click("#upload-button");
  assert.equal((await part1).status(), 200);
  await page.waitForFunction(() => document.querySelector(".upload-status")?.textContent.includes("(1 of 3 parts)"));
  assert.equal(held.length, 2, "parts 2 and 3 were on their way");
  const stored = await page.evaluate(() => localStorage.getItem("private-uploads.unfinished"));
  assert.match(stored, /"filename":"big.png"/);
  assert.doesNotMatch(stored, /X-Amz|Signature|eyJ|https?:\/\/127/, "no URL or token is kept");

  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.reload();
  for (const route of held) await route.abort().catch(() => {});
  const puts = countPartPuts(page);
  await page.waitForSelector("#dev-user", { state: "visible" });

  // Another user of the same browser is not offered erin's upload.
  await signIn(page, "frank");
  assert.equal(await page.locator("#unfinished").isHidden(), true);

  await signIn(page, "erin");
  const unfinished = page.locator("#unfinished-list li");
  await unfinished.first().waitFor();
  assert.equal(await unfinished.count(), 1);
  assert.match(await unfinished.first().textContent(), /big\.png/);
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser"),
    unfinished.first().locator(".resume-button").click(),
  ]);
  await chooser.setFiles(path);

  const row = await readyRow(page, "big.png");
  assert.deepEqual(Object.fromEntries(puts), { 2: 1, 3: 1 }, "part 1 was not sent again");
  await page.locator("#unfinished").waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => localStorage.getItem("private-uploads.unfinished")), null);
  await opensThroughCdn(page, row, "erin", bytes);
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("an upload begun in one browser resumes in another: offered for the same file, not for another of its name and size", async () => {
  const path = bigPng("moved.png");
  const bytes = readFileSync(path);
  // Another file of the same name and size, different within its first part.
  const otherDir = join(dataDir, "other");
  mkdirSync(otherDir, { recursive: true });
  const otherPath = join(otherDir, "moved.png");
  const other = Buffer.from(bytes);
  for (let i = PNG.length; i < 4 * MIB; i += 4096) other[i] ^= 0xff;
  writeFileSync(otherPath, other);

  // The first browser (a context of its own: its own storage) sends part 1, then is closed.
  const first = await openPage("gina");
  const held = [];
  await first.page.route(`${s3Url}/**`, (route) => {
    const req = route.request();
    if (req.method() === "PUT" && partNumber(req.url()) > 1) held.push(route);
    else return route.continue();
  });
  const part1 = first.page.waitForResponse((r) => r.request().method() === "PUT" && partNumber(r.url()) === 1);
  await first.page.setInputFiles("#file-input", path);
  await first.page.click("#upload-button");
  assert.equal((await part1).status(), 200);
  await first.page.waitForFunction(() => document.querySelector(".upload-status")?.textContent.includes("(1 of 3 parts)"));
  await first.page.context().close();

  // The second browser has nothing in its storage; the API lists the upload.
  const { page, problems } = await openPage("gina");
  assert.equal(await page.evaluate(() => localStorage.getItem("private-uploads.unfinished")), null);
  const listed = page.locator("#unfinished-list li", { hasText: "moved.png" });
  await listed.waitFor();
  assert.match(await listed.textContent(), /in another browser or device/);

  // Another file of that name and size: its first part differs, nothing is offered, and it
  // uploads as a new file.
  const puts = countPartPuts(page);
  let offered = 0;
  await page.exposeFunction("noteOffer", () => (offered += 1));
  await page.evaluate(() => {
    const dialog = document.querySelector("#confirm-dialog");
    new MutationObserver(() => dialog.open && window.noteOffer()).observe(dialog, { attributes: true });
  });
  await page.setInputFiles("#file-input", otherPath);
  await page.click("#upload-button");
  await page.locator('#file-list tr[data-status="ready"]', { hasText: "moved.png" }).first().waitFor({ timeout: 60_000 });
  assert.equal(offered, 0, "no resume was offered for another file");
  assert.deepEqual(Object.fromEntries(puts), { 1: 1, 2: 1, 3: 1 }, "the other file went up whole");

  // The same file: the page offers the upload begun in the first browser, and sends only
  // parts 2 and 3.
  puts.clear();
  await page.setInputFiles("#file-input", path);
  await page.click("#upload-button");
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.match(await page.locator("#confirm-text").textContent(), /matches an upload started .* in another browser or device/);
  await page.click("#confirm-ok");
  await page.waitForFunction(
    () => document.querySelectorAll('#file-list tr[data-status="ready"]').length === 2,
    null,
    { timeout: 60_000 },
  );
  assert.deepEqual(Object.fromEntries(puts), { 2: 1, 3: 1 }, "part 1 was not sent again");
  assert.equal(offered, 1);
  await page.locator("#unfinished").waitFor({ state: "hidden" });
  const rows = page.locator('#file-list tr[data-status="ready"]', { hasText: "moved.png" });
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.fileId));
  const served = [];
  for (const id of ids) {
    const res = await fetch(`${apiUrl}/files/${id}/url`, { headers: { authorization: `Bearer ${await tokenFor("gina")}` } });
    const { url } = await res.json();
    served.push(Buffer.from(await (await fetch(url)).arrayBuffer()));
  }
  assert.equal(served.filter((b) => b.equals(bytes)).length, 1, "the resumed upload holds the very file");
  assert.equal(served.filter((b) => b.equals(other)).length, 1, "the other file is a file of its own");
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("with the threshold lowered to 1 MiB a 2 MiB file goes in parts; its unfinished upload can be discarded", async () => {
  const { page, problems } = await openPage("ivan");
  const threshold = page.locator("#multipart-threshold");
  await threshold.fill("1");
  await threshold.blur();
  const held = [];
  await page.route(`${s3Url}/**`, (route) => {
    if (route.request().method() === "PUT") held.push(route);
    else return route.continue();
  });
  const part1 = page.waitForRequest((r) => r.method() === "PUT" && partNumber(r.url()) === 1);
  const bytes = Buffer.concat([PNG, Buffer.alloc(2 * MIB - PNG.length, 3)]);
  await page.setInputFiles("#file-input", { name: "two.png", mimeType: "image/png", buffer: bytes });
  await page.click("#upload-button");
  await part1;

  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.reload();
  for (const route of held) await route.abort().catch(() => {});
  await page.waitForSelector("#dev-user", { state: "visible" });
  assert.equal(await threshold.inputValue(), "1", "the threshold is remembered");
  await signIn(page, "ivan");
  const unfinished = page.locator("#unfinished-list li");
  await unfinished.first().waitFor();
  assert.match(await unfinished.first().textContent(), /two\.png/);

  const discarded = page.waitForResponse((r) => r.request().method() === "DELETE" && r.url().includes("/uploads/"));
  await unfinished.first().locator(".discard-button").click();
  await page.click("#confirm-ok");
  assert.equal((await discarded).status(), 204);
  await page.locator("#unfinished").waitFor({ state: "hidden" });
  await page.waitForFunction(() => document.querySelector("#status")?.textContent.startsWith("Discarded the unfinished upload of two.png"));
  await page.locator("#file-list-empty").waitFor({ state: "visible" });
  assert.equal(await page.locator("#file-list tr[data-file-id]").count(), 0, "no record is left behind");
  assert.equal(await page.evaluate(() => localStorage.getItem("private-uploads.unfinished")), null);
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("with the POST form setting on, a small PNG goes to S3 as multipart/form-data and ends ready", async () => {
  const { page, problems } = await openPage("grace");
  await page.check("#use-form");
  const toS3 = [];
  page.on("request", (req) => {
    if (req.url().startsWith(s3Url) && req.method() !== "OPTIONS") toS3.push(req);
  });
  await page.setInputFiles("#file-input", { name: "form.png", mimeType: "image/png", buffer: PNG });
  await page.click("#upload-button");
  const row = await readyRow(page, "form.png");

  assert.equal(toS3.length, 1, `one request to S3: ${toS3.map((r) => r.method())}`);
  const [post] = toS3;
  assert.equal(post.method(), "POST");
  assert.match(post.headers()["content-type"] ?? "", /^multipart\/form-data; boundary=/);
  assert.equal(new URL(post.url()).search, "", "a form carries its signature in its fields, not in the URL");
  await opensThroughCdn(page, row, "grace", PNG);

  // The setting is remembered.
  await page.reload();
  await page.waitForSelector("#dev-user", { state: "visible" });
  assert.equal(await page.isChecked("#use-form"), true);
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("a PNG dropped on the drop zone uploads and ends ready; the drop zone also opens the picker", async () => {
  const { page, problems } = await openPage("heidi");
  const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.click("#drop-zone")]);
  assert.equal(chooser.isMultiple(), true);

  const dataTransfer = await page.evaluateHandle((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
    return dt;
  }, PNG.toString("base64"));
  await page.dispatchEvent("#drop-zone", "dragenter", { dataTransfer });
  await page.dispatchEvent("#drop-zone", "dragover", { dataTransfer });
  assert.equal(await page.locator("#drop-zone.dragging").count(), 1, "the drop zone shows it will take the file");
  await page.dispatchEvent("#drop-zone", "drop", { dataTransfer });
  assert.equal(await page.locator("#drop-zone.dragging").count(), 0);

  await readyRow(page, "dropped.png");
  await page.waitForFunction(() => document.querySelector("#status")?.textContent === "1 of 1 file uploaded.");
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

// Presses Tab until `selector` has the focus: what a keyboard user does to reach it.
async function tabTo(page, selector, presses = 60) {
  for (let i = 0; i < presses; i += 1) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press("Tab");
  }
  assert.fail(`${selector} was not reached with Tab in ${presses} presses`);
}

test("a single request sends its SHA-256 up to 32 MiB and none above it, and both end ready", async () => {
  const { page, problems } = await openPage("judy");
  const threshold = page.locator("#multipart-threshold");
  await threshold.fill("64");
  await threshold.blur();
  const asked = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/uploads")) asked.push(JSON.parse(r.postData()));
  });
  const small = Buffer.concat([PNG, Buffer.alloc(MIB, 1)]);
  const large = Buffer.concat([PNG, Buffer.alloc(33 * MIB, 2)]);
  await page.setInputFiles("#file-input", [
    { name: "small.png", mimeType: "image/png", buffer: small },
    { name: "large.png", mimeType: "image/png", buffer: large },
  ]);
  await page.click("#upload-button");
  await readyRow(page, "small.png");
  await readyRow(page, "large.png");
  const byName = Object.fromEntries(asked.map((body) => [body.filename, body]));
  const expected = createHash("sha256").update(small).digest("base64");
  assert.equal(byName["small.png"].sha256, expected, "the small file's digest is sent");
  assert.equal(byName["large.png"].sha256, undefined, "none for a file over 32 MiB");
  assert.deepEqual(problems, [], "no script errors on the page");
  await page.close();
});

test("with the keyboard alone: sign in, upload, hear it ready, and delete it through the dialog", async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(apiUrl);
  await page.waitForSelector("#dev-user", { state: "visible" });

  await tabTo(page, "#dev-user");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("keyboard-kim");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#signed-in")?.textContent.includes("keyboard-kim"));
  // As a person would, wait for the page to settle (its list and unfinished uploads loaded).
  await page.waitForFunction(() => document.querySelector("#file-list-empty")?.textContent === "No files yet.");
  await page.waitForLoadState("networkidle");

  await tabTo(page, "#file-input");
  const chooser = page.waitForEvent("filechooser");
  await page.keyboard.press("Space");
  await (await chooser).setFiles({ name: "keyed.png", mimeType: "image/png", buffer: PNG });
  await tabTo(page, "#upload-button");
  const heard = [];
  await page.exposeFunction("__heard", (text) => heard.push(text));
  await page.evaluate(() => {
    const announcer = document.getElementById("announcer");
    new MutationObserver(() => window.__heard(announcer.textContent)).observe(announcer, { childList: true, characterData: true, subtree: true });
  });
  await page.keyboard.press("Enter");
  await page.locator('#file-list tr[data-status="ready"]').first().waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => document.getElementById("announcer").textContent === "keyed.png: Ready");
  assert.ok(heard.includes("keyed.png: Ready"), `announced: ${JSON.stringify(heard)}`);
  assert.ok(heard.some((t) => /^keyed\.png: uploading, \d+%$/.test(t) || t.startsWith("keyed.png: Uploaded")), `progress announced: ${JSON.stringify(heard)}`);

  // Delete: a real dialog, focus on Cancel; Escape keeps the file, Tab + Enter deletes it.
  await tabTo(page, "#file-list .delete-button");
  await page.keyboard.press("Enter");
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "confirm-cancel");
  await page.keyboard.press("Escape");
  await page.locator("#confirm-dialog").waitFor({ state: "hidden" });
  assert.equal(await page.locator("#file-list tr[data-file-id]").count(), 1, "Escape deleted nothing");
  assert.ok(await page.evaluate(() => document.activeElement?.matches("#file-list .delete-button")), "focus came back");
  await page.keyboard.press("Enter");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "confirm-ok");
  await page.keyboard.press("Enter");
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
  } catch (err) {
    // pgrep exits 1 when nothing matches: what we want. Anything else is a broken check.
    if (err.status !== 1) throw err;
  }
  assert.equal(left, "", "moto_server was stopped");
});
