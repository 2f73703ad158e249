// Uppy 6 from npm (`@uppy/core` + `@uppy/aws-s3`, bundled from web/uppy) uploading into
// `private-uploads up` through the client package's plugin (`@private-uploads/client/uppy`,
// web/client/uppy.mjs), in Debian's Chromium driven by playwright-core: the example page
// web/uppy/index.html, as a user drives it. Credentials mode (Uppy signs with temporary credentials): a small PNG, and a multipart
// PDF paused after its first part and resumed. Presigned mode: a PUT and a POST form. Each
// ends `ready`, served through the CDN to its owner, and a 404 for anyone else.
//
// Needs PRIVATE_UPLOADS_BIN (the built CLI), Chromium at CHROMIUM (default /usr/bin/chromium)
// and the npm registry (the first run does `npm ci && npm run build` in web/uppy).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO, launchChromium, startUp, stopUp } from "./stack.mjs";

const PORT = Number(process.env.UPPY_TEST_PORT || 3730); // API, S3, CDN, moto on PORT..PORT+3
const UPPY_DIR = join(REPO, "web", "uppy");
const MiB = 1024 * 1024;

const apiUrl = `http://127.0.0.1:${PORT}`;
const s3Url = `http://127.0.0.1:${PORT + 1}`;
const cdnUrl = `http://127.0.0.1:${PORT + 2}`;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// 1×1 red PNG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
  "base64",
);

let stack;
let browser;

// `npm ci` when node_modules is older than the lock file, `npm run build` when the bundle is
// older than what it is built from: a fresh clone needs only the npm registry.
function buildUppyBundle() {
  const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : 0);
  const run = (args) => {
    try {
      execFileSync("npm", args, { cwd: UPPY_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
    } catch (err) {
      throw new Error(`npm ${args.join(" ")} in ${UPPY_DIR} failed:\n${err.stdout}\n${err.stderr}`);
    }
  };
  const lock = join(UPPY_DIR, "package-lock.json");
  if (mtime(join(UPPY_DIR, "node_modules", ".package-lock.json")) < mtime(lock)) run(["ci", "--no-audit", "--no-fund"]);
  const client = join(UPPY_DIR, "..", "client");
  const sources = [
    ...["package.json", "package-lock.json", "entry.mjs"].map((f) => mtime(join(UPPY_DIR, f))),
    ...readdirSync(client).filter((f) => f.endsWith(".mjs")).map((f) => mtime(join(client, f))),
  ];
  if (mtime(join(UPPY_DIR, "dist", "uppy.min.mjs")) < Math.max(...sources)) run(["run", "build"]);
}

before(async () => {
  buildUppyBundle();
  stack = await startUp({ port: PORT, name: "uppy", args: ["--web-dir", join(REPO, "web")] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopUp(stack);
});

// ---------- helpers ----------

async function tokenFor(user) {
  const res = await fetch(`${apiUrl}/local/token`, { method: "POST", body: JSON.stringify({ user }) });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function apiGet(user, path) {
  const res = await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${await tokenFor(user)}` } });
  return [res.status, await res.json(), res.headers.get("apigw-requestid")];
}

// The example page, signed in as `user`, recording what it sends to S3 and any script error.
async function openPage(user) {
  const page = await browser.newPage();
  const s3 = []; // every request to S3, in order: { method, path, query, headers, outcome }
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  page.on("request", (req) => {
    if (!req.url().startsWith(s3Url)) return;
    const url = new URL(req.url());
    s3.push({ req, method: req.method(), path: url.pathname, query: url.searchParams, headers: req.headers(), outcome: "pending" });
  });
  const settle = (req, outcome) => {
    const entry = s3.find((e) => e.req === req);
    if (entry) entry.outcome = outcome;
  };
  page.on("response", (res) => settle(res.request(), res.status()));
  page.on("requestfailed", (req) => settle(req, `failed: ${req.failure()?.errorText}`));
  await page.goto(`${apiUrl}/uppy/`);
  await page.fill("#dev-user", user);
  await page.click("#dev-signin-button");
  await page.waitForFunction((u) => document.querySelector("#signed-in")?.textContent.includes(u), user, { timeout: 10_000 });
  return { page, s3, problems };
}

const partOf = (e) => Number(e.query.get("partNumber"));
const isPart = (e) => e.method === "PUT" && e.query.has("partNumber");

// Waits until the row for `name` has settled (ready, rejected or failed) and says how.
async function finalRow(page, name, timeout = 60_000) {
  const handle = await page.waitForFunction(
    (n) => {
      const li = [...document.querySelectorAll("#results li")].find((l) => l.querySelector(".file-name")?.textContent === n);
      if (!li || !["ready", "rejected", "error"].includes(li.dataset.state)) return null;
      if (li.dataset.state === "ready" && !li.querySelector("a.view-link")) return null;
      return {
        state: li.dataset.state,
        text: li.textContent,
        fileId: li.dataset.fileId,
        href: li.querySelector("a.view-link")?.href ?? null,
      };
    },
    name,
    { timeout, polling: 100 },
  );
  return handle.jsonValue();
}

// What the owner gets, and what anyone else gets, for an uploaded file.
async function assertOwnedBy(owner, fileId, row, bytes, contentType) {
  assert.match(fileId, UUID_V7, "the file id is a UUIDv7");
  const [status, record] = await apiGet(owner, `/files/${fileId}`);
  assert.equal(status, 200, JSON.stringify(record));
  assert.equal(record.status, "ready");
  assert.equal(record.size, bytes.length);
  assert.equal(record.content_type, contentType);

  // The page's Open link is a CDN signed URL that serves exactly the bytes uploaded.
  assert.ok(row.href.startsWith(`${cdnUrl}/users/${owner}/${fileId}?`), row.href);
  const served = await fetch(row.href);
  assert.equal(served.status, 200);
  const body = Buffer.from(await served.arrayBuffer());
  assert.equal(body.length, bytes.length);
  assert.equal(createHash("sha256").update(body).digest("hex"), createHash("sha256").update(bytes).digest("hex"));
  assert.equal((await fetch(row.href.split("?")[0])).status, 403, "not without the signature");

  // Bob gets the same 404 as for a file that does not exist, and does not see it listed.
  for (const path of [`/files/${fileId}`, `/files/${fileId}/url`]) {
    const [s, { request_id: requestId, ...b }, header] = await apiGet("bob", path);
    assert.equal(s, 404, path);
    assert.deepEqual(b, { error: "file_not_found", message: "no such file" });
    assert.ok(requestId && requestId === header, `request_id ${requestId} is the apigw-requestid header ${header}`);
  }
  const [, list] = await apiGet("bob", "/files");
  assert.ok(!list.files.some((f) => f.file_id === fileId), "bob's list does not show it");
  return record;
}

// ---------- the tests ----------

test("credentials mode: Uppy uploads a small PNG with its own signature; ready, alice's only", { timeout: 90_000 }, async () => {
  const { page, s3, problems } = await openPage("alice");
  await page.selectOption("#mode", "credentials");
  await page.setInputFiles("#file-input", { name: "red dot.png", mimeType: "image/png", buffer: PNG });
  await page.click("#upload-button");
  const row = await finalRow(page, "red dot.png");
  assert.equal(row.state, "ready", row.text);
  assert.match(row.text, /Ready/);

  const record = await assertOwnedBy("alice", row.fileId, row, PNG, "image/png");
  // Uppy 6 sends no x-amz-meta-filename, so record-ownership names the object by its id.
  assert.equal(record.filename, row.fileId);

  // One PUT, signed by Uppy with the temporary credentials, to the key the adapter made.
  const sent = s3.filter((e) => e.method !== "OPTIONS");
  assert.equal(sent.length, 1, JSON.stringify(sent.map((e) => [e.method, e.path])));
  assert.equal(sent[0].method, "PUT");
  assert.equal(sent[0].path, `/private-uploads-local/users/alice/${row.fileId}`);
  assert.ok(sent[0].query.has("X-Amz-Security-Token"), "signed with the session token");
  assert.equal(sent[0].outcome, 200);
  assert.deepEqual(problems, []);
  await page.close();
});

test("credentials mode: a 12 MiB multipart upload paused after its first part and resumed; ready, alice's only", { timeout: 120_000 }, async () => {
  const { page, s3, problems } = await openPage("alice");
  await page.selectOption("#mode", "credentials");
  // 12 MiB in 5 MiB parts (3 parts), through a 3 MiB/s uplink: each full part takes ~1.7 s,
  // so the pause lands while part 2 is on the wire.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 3 * MiB,
  });
  const bytes = Buffer.alloc(12 * MiB, 0x2e);
  Buffer.from("%PDF-1.7\n").copy(bytes);
  for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32BE(i, i + 16); // parts differ
  await page.setInputFiles("#file-input", { name: "big report.pdf", mimeType: "application/pdf", buffer: bytes });
  await page.click("#upload-button");

  const name = "big report.pdf";
  const rowSel = `#results li:has(.file-name:text-is("${name}"))`;
  await page.locator(`${rowSel}[data-parts="1"]`).waitFor({ timeout: 30_000 });
  await page.click("#pause-button");
  await page.locator(`${rowSel}[data-state="paused"]`).waitFor({ timeout: 5_000 });
  assert.match(await page.locator(rowSel).textContent(), /Paused/);
  const atPause = s3.length;
  const doneBeforePause = s3.filter((e) => isPart(e) && e.outcome === 200).map(partOf);
  assert.deepEqual(doneBeforePause, [1], "part 1 was uploaded before the pause");

  // Paused: nothing goes to S3, and the row stays paused.
  await page.waitForTimeout(1500);
  assert.deepEqual(s3.slice(atPause).map((e) => `${e.method} ${e.path}`), [], "no S3 request while paused");
  assert.equal(await page.locator(rowSel).getAttribute("data-state"), "paused");
  const aborted = s3.filter((e) => isPart(e) && e.outcome !== 200);
  assert.ok(aborted.every((e) => String(e.outcome).startsWith("failed")), "the part on the wire was cancelled");

  await page.click("#resume-button");
  const row = await finalRow(page, name, 60_000);
  assert.equal(row.state, "ready", row.text);

  // After the resume: ListParts first, then only the parts S3 did not have, then Complete.
  const resumed = s3.slice(atPause).filter((e) => e.method !== "OPTIONS");
  assert.equal(resumed[0].method, "GET", "ListParts first");
  assert.ok(resumed[0].query.has("uploadId"));
  const partsAfter = resumed.filter(isPart).map(partOf);
  assert.deepEqual(partsAfter, [2, 3], "part 1 was not sent again");
  const last = resumed.at(-1);
  assert.equal(last.method, "POST", "CompleteMultipartUpload last");
  assert.ok(last.query.has("uploadId"));
  assert.ok(resumed.every((e) => e.outcome === 200), JSON.stringify(resumed.map((e) => [e.method, e.outcome])));
  assert.equal(s3.filter((e) => isPart(e) && partOf(e) === 1).length, 1, "part 1 went once in all");
  assert.ok(s3.every((e) => e.path === `/private-uploads-local/users/alice/${row.fileId}`), "one key throughout");

  await assertOwnedBy("alice", row.fileId, row, bytes, "application/pdf");
  assert.deepEqual(problems, []);
  await page.close();
});

for (const [mode, label] of [
  ["presigned", "presigned PUT"],
  ["form", "presigned POST form"],
]) {
  test(`presigned mode (${label}): Uppy uploads a small PNG the API presigned; ready, alice's only`, { timeout: 90_000 }, async () => {
    const { page, s3, problems } = await openPage("alice");
    await page.selectOption("#mode", mode);
    const name = `${mode} dot.png`;
    await page.setInputFiles("#file-input", { name, mimeType: "image/png", buffer: PNG });
    await page.click("#upload-button");
    const row = await finalRow(page, name);
    assert.equal(row.state, "ready", row.text);
    const record = await assertOwnedBy("alice", row.fileId, row, PNG, "image/png");
    assert.equal(record.filename, name, "the API recorded the file's name");

    const sent = s3.filter((e) => e.method !== "OPTIONS");
    assert.equal(sent.length, 1);
    if (mode === "presigned") {
      assert.equal(sent[0].method, "PUT");
      assert.equal(sent[0].path, `/private-uploads-local/users/alice/${row.fileId}`);
      assert.equal(sent[0].headers["content-type"], "image/png");
      assert.equal(sent[0].headers["if-none-match"], "*", "the signed If-None-Match was sent");
      assert.equal(sent[0].outcome, 200);
    } else {
      assert.equal(sent[0].method, "POST");
      assert.equal(sent[0].path, "/private-uploads-local");
      assert.match(sent[0].headers["content-type"], /^multipart\/form-data; boundary=/);
      assert.equal(sent[0].outcome, 201);
    }
    assert.deepEqual(problems, []);
    await page.close();
  });
}
