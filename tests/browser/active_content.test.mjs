// A script in an uploaded file never runs in a viewer's browser. The operator of this stack
// opted in to SVG (ACTIVE_CONTENT_TYPES=image/svg+xml), the worst case: alice's SVG holds a
// script that would report to a sentinel URL. Opened through the CDN it is a download (the
// viewer-response function's Content-Disposition); with that header stripped on the way,
// the sandbox Content-Security-Policy still keeps its script from running; in an <img> it
// is a picture. An HTML page uploaded as text/plain is not rendered either (nosniff). The
// first test is the control: served bare, the same files' scripts run and reach the sentinel.
//
// Run by ./scripts/test. Needs PRIVATE_UPLOADS_BIN and Chromium (CHROMIUM, default
// /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startUp, stopUp } from "./stack.mjs";

const PORT = Number(process.env.ACTIVE_CONTENT_TEST_PORT || 3750);
const apiUrl = `http://127.0.0.1:${PORT}`;
const SENTINEL = `http://127.0.0.1:${PORT}/local/pwned`;

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">
  <rect width="40" height="40" fill="red"/>
  <script>
    document.title = "pwned";
    fetch("${SENTINEL}?via=fetch");
    new Image().src = "${SENTINEL}?via=image";
  </script>
</svg>`;
const HTML = `<html><body><script>document.title = "pwned"; fetch("${SENTINEL}?via=html");</script></body></html>`;

let stack;
let browser;

before(async () => {
  stack = await startUp({
    port: PORT,
    name: "active",
    env: { ALLOWED_CONTENT_TYPES: "image/*,text/plain", ACTIVE_CONTENT_TYPES: "image/svg+xml" },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopUp(stack);
});

async function token(user) {
  const res = await fetch(`${apiUrl}/local/token`, { method: "POST", body: JSON.stringify({ user }) });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

/** Upload `text` as alice with `contentType`; wait until ready; a signed CDN URL for it. */
async function uploadAndSign(filename, contentType, text) {
  const auth = { authorization: `Bearer ${await token("alice")}` };
  const bytes = Buffer.from(text);
  const issued = await fetch(`${apiUrl}/uploads`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ filename, content_type: contentType, size: bytes.length }),
  });
  assert.equal(issued.status, 201, await issued.clone().text());
  const { file_id: fileId, upload } = await issued.json();
  const put = await fetch(upload.url, { method: "PUT", headers: upload.headers, body: bytes });
  assert.equal(put.status, 200);
  for (let i = 0; i < 100; i++) {
    const file = await (await fetch(`${apiUrl}/files/${fileId}`, { headers: auth })).json();
    if (file.status === "ready") break;
    assert.notEqual(file.status, "rejected", JSON.stringify(file));
    await new Promise((r) => setTimeout(r, 50));
  }
  const view = await (await fetch(`${apiUrl}/files/${fileId}/url`, { headers: auth })).json();
  assert.ok(view.url, JSON.stringify(view));
  return view.url;
}

/** A page whose every request to the sentinel is recorded (and answered 204). */
async function watchedPage() {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const hits = [];
  await context.route(`${SENTINEL}**`, (route) => {
    hits.push(route.request().url());
    return route.fulfill({ status: 204 });
  });
  return { context, page, hits };
}

// The positive control: the same SVG and HTML, served from the app's origin with none of
// the CDN's defences (no Content-Disposition, no CSP, no nosniff), do run, and the sentinel
// sees them. Without this, an empty `hits` below could mean a script that never could run.
test("the sentinel sees the SVG's and the HTML's scripts when nothing stops them", async () => {
  for (const [name, type, body, via] of [
    ["bare.svg", "image/svg+xml", SVG, ["fetch", "image"]],
    ["bare.html", "text/html", HTML, ["html"]],
  ]) {
    const { context, page, hits } = await watchedPage();
    const bare = `${apiUrl}/control/${name}`;
    await page.route(bare, (route) => route.fulfill({ status: 200, contentType: type, body }));
    await page.goto(bare);
    await page.waitForFunction(() => document.title === "pwned", null, { timeout: 5_000 });
    await page.waitForTimeout(300);
    const seen = hits.map((hit) => new URL(hit).searchParams.get("via")).sort();
    assert.deepEqual(seen, via, `${name}: the sentinel saw ${hits}`);
    await context.close();
  }
});

test("an SVG with a script, opened through the CDN, is a download and runs nothing", async () => {
  const url = await uploadAndSign("pwn.svg", "image/svg+xml", SVG);
  const { context, page, hits } = await watchedPage();
  const download = page.waitForEvent("download", { timeout: 15_000 });
  await page.goto(url).catch(() => {}); // a download aborts the navigation
  const file = await download;
  assert.equal(await file.failure(), null);
  await page.waitForTimeout(500);
  assert.deepEqual(hits, []);
  await context.close();
});

test("without the attachment header, the sandbox CSP still keeps the SVG's script from running", async () => {
  const url = await uploadAndSign("pwn2.svg", "image/svg+xml", SVG);
  const { context, page, hits } = await watchedPage();
  const seen = {};
  // Something between the CDN and the browser drops Content-Disposition; CSP and nosniff stay.
  await page.route(url, async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    Object.assign(seen, headers);
    delete headers["content-disposition"];
    await route.fulfill({ response, headers });
  });
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.equal(seen["content-disposition"], "attachment");
  assert.match(seen["content-security-policy"], /^sandbox;/);
  assert.equal(seen["x-content-type-options"], "nosniff");
  // The SVG is shown (its red square is there), its script is not run.
  assert.equal(await page.evaluate(() => document.documentElement.localName), "svg");
  await page.waitForTimeout(500);
  assert.notEqual(await page.title(), "pwned");
  assert.deepEqual(hits, []);
  await context.close();
});

test("in an <img> the SVG is a picture, and its script does not run", async () => {
  const url = await uploadAndSign("pwn3.svg", "image/svg+xml", SVG);
  const { context, page, hits } = await watchedPage();
  await page.goto(`${apiUrl}/`); // the app's page
  const size = await page.evaluate(
    (src) =>
      new Promise((done, fail) => {
        const img = new Image();
        img.onload = () => done([img.naturalWidth, img.naturalHeight]);
        img.onerror = () => fail(new Error("the image did not load"));
        img.src = src;
      }),
    url,
  );
  assert.deepEqual(size, [40, 40]);
  await page.waitForTimeout(500);
  assert.deepEqual(hits, []);
  await context.close();
});

test("an HTML page uploaded as text/plain is not rendered as HTML", async () => {
  const url = await uploadAndSign("page.txt", "text/plain", HTML);
  const { context, page, hits } = await watchedPage();
  await page.route(url, async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers["content-disposition"];
    await route.fulfill({ response, headers });
  });
  await page.goto(url);
  // Shown as text (nosniff): the markup is the page's text, nothing ran.
  assert.equal(await page.evaluate(() => document.body.innerText.trim()), HTML);
  await page.waitForTimeout(500);
  assert.notEqual(await page.title(), "pwned");
  assert.deepEqual(hits, []);
  await context.close();
});
