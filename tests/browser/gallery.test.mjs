// The gallery, in a real browser against `private-uploads up`: the page asks the API for the
// CloudFront signed cookies of the signed-in user (POST /files/cookies, through the CDN's own
// host, as the distribution's behaviour forwards it; no Domain) and shows each ready
// raster image as an <img> whose src is the plain CDN URL, loaded by those cookies alone.
// Alice sees her three images (and not her text file); Bob, with his own cookies, opens none
// of hers: his browser does not send his cookies to her paths (Path=/users/bob/), and sent by
// hand they are refused by the CDN (their policy covers users/bob/* only); a browser with no
// cookies gets 403 too. Switching user or signing out empties the gallery. The page is
// served from this checkout's web/ (`--web-dir`).
//
// Run by hand or by ./scripts/test. Needs PRIVATE_UPLOADS_BIN (the built CLI) and Chromium
// at CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { REPO, launchChromium, startUp, stopUp } from "./stack.mjs";

const PORT = Number(process.env.GALLERY_TEST_PORT || 3770);
const apiUrl = `http://127.0.0.1:${PORT}`;
const cdnUrl = `http://127.0.0.1:${PORT + 2}`;

// ---------- tiny PNGs of distinct sizes, so each thumbnail shows which file it loaded ----------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

// A width×height PNG (8-bit RGB) of one colour.
function png(width, height, [r, g, b]) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, no filter, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// Alice's images: the thumbnail of each must be exactly as wide as its file.
const ALICE_IMAGES = [
  { name: "red.png", width: 1, height: 1, buffer: png(1, 1, [255, 0, 0]) },
  { name: "green wide.png", width: 3, height: 2, buffer: png(3, 2, [0, 200, 0]) },
  { name: "blue.png", width: 5, height: 4, buffer: png(5, 4, [0, 0, 255]) },
];
const BOB_IMAGE = { name: "bob.png", width: 7, height: 7, buffer: png(7, 7, [200, 200, 0]) };

// ---------- the stack and the browser ----------

let stack; // { up, dataDir }
let browser;

before(async () => {
  stack = await startUp({ port: PORT, name: "gallery", args: ["--web-dir", join(REPO, "web")] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopUp(stack);
});

// ---------- helpers ----------

// A fresh browser context (its own cookie jar) with the page open and signed in as `user`.
// Every request to the CDN is recorded, with its headers as sent.
async function signedIn(user) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  const toCdn = [];
  page.on("request", (req) => {
    if (req.url().startsWith(`${cdnUrl}/`)) toCdn.push(req);
  });
  const cookieCalls = [];
  page.on("response", (res) => {
    if (res.url() === `${cdnUrl}/files/cookies`) cookieCalls.push(res);
  });
  await page.goto(apiUrl);
  await page.waitForSelector("#dev-user", { state: "visible" });
  await signIn(page, user);
  return { context, page, problems, toCdn, cookieCalls };
}

async function signIn(page, user) {
  await page.fill("#dev-user", user);
  await page.click("#dev-signin-button");
  await page.waitForFunction((u) => document.querySelector("#signed-in")?.textContent.includes(u), user);
}

async function upload(page, files) {
  await page.setInputFiles("#file-input", files.map(({ name, mimeType, buffer }) => ({ name, mimeType: mimeType ?? "image/png", buffer })));
  await page.click("#upload-button");
  await page.waitForFunction(
    (n) => document.querySelectorAll('#file-list tr[data-status="ready"]').length === n,
    files.length,
    { timeout: 60_000 },
  );
  await page.waitForFunction(
    (n) => document.querySelector("#status")?.textContent === `${n} of ${n} file${n === 1 ? "" : "s"} uploaded.`,
    files.length,
  );
}

// Waits until the gallery shows `count` thumbnails, all loaded or failed for good.
async function settledGallery(page, count) {
  await page.locator("#gallery").scrollIntoViewIfNeeded();
  await page.waitForFunction(
    (n) => {
      const items = [...document.querySelectorAll("#gallery .gallery-item")];
      return items.length === n && items.every((li) => li.dataset.state === "loaded" || li.dataset.state === "error");
    },
    count,
    { timeout: 30_000 },
  );
}

// What the user sees of each thumbnail.
function thumbnails(page) {
  return page.locator("#gallery .gallery-item").evaluateAll((items) =>
    items.map((li) => {
      const img = li.querySelector("img");
      return {
        fileId: li.dataset.fileId,
        state: li.dataset.state,
        caption: li.querySelector("figcaption").textContent,
        alt: img.alt,
        src: img.getAttribute("src"),
        loading: img.loading,
        complete: img.complete,
        naturalWidth: img.naturalWidth,
        naturalHeight: img.naturalHeight,
        visible: img.getBoundingClientRect().width > 0,
      };
    }),
  );
}

async function fileIdOf(page, name) {
  const row = page.locator('#file-list tr[data-status="ready"]', { hasText: name });
  assert.equal(await row.count(), 1, `one ready row for ${name}`);
  return row.getAttribute("data-file-id");
}

// The Cookie header a browser would send for `context`'s cookies, whatever their path.
async function cookieHeader(context) {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
}

// A GET sent byte for byte as given (no URL normalisation), e.g. with `%2e%2e` in the path.
function rawGet(path, headers = {}) {
  return new Promise((done, fail) => {
    const req = httpRequest({ host: "127.0.0.1", port: PORT + 2, path, method: "GET", headers }, (res) => {
      const body = [];
      res.on("data", (b) => body.push(b));
      res.on("end", () => done({ status: res.statusCode, body: Buffer.concat(body) }));
    });
    req.on("error", fail);
    req.end();
  });
}

// Puts an <img> of `url` in the page and says whether it loaded.
function imgLoads(page, url) {
  return page.evaluate(
    (src) =>
      new Promise((done) => {
        const img = new Image();
        img.onload = () => done({ loaded: true, naturalWidth: img.naturalWidth });
        img.onerror = () => done({ loaded: false, naturalWidth: img.naturalWidth });
        img.src = src;
      }),
    url,
  );
}

const hasSignedCookies = (cookie) =>
  /(^|; )CloudFront-Policy=[^;]+/.test(cookie) &&
  /(^|; )CloudFront-Signature=[^;]+/.test(cookie) &&
  /(^|; )CloudFront-Key-Pair-Id=[^;]+/.test(cookie);

// ---------- the tests (in order: alice's session is used by the later ones) ----------

let alice; // { context, page, problems, toCdn, cookieCalls }
let aliceUrls = []; // the three thumbnail URLs
let aliceBytes = new Map(); // URL -> the PNG uploaded there

test("alice's gallery shows her three images, loaded from the CDN by cookie alone", async () => {
  alice = await signedIn("alice");
  const { context, page, problems, toCdn, cookieCalls } = alice;
  await page.waitForFunction(() => document.querySelector("#gallery-note")?.textContent.startsWith("No images yet"));
  assert.equal(await page.locator("#gallery").isHidden(), true, "an empty gallery shows only its note");
  assert.equal(cookieCalls.length, 0, "no cookies are asked for while there is nothing to show");

  // Three images and a text file; the text file is listed but has no thumbnail.
  await upload(page, [...ALICE_IMAGES, { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") }]);
  await settledGallery(page, 3);

  const shown = await thumbnails(page);
  assert.equal(shown.length, 3, "exactly three thumbnails");
  assert.equal(await page.locator("#gallery").isVisible(), true);
  assert.equal(await page.locator("#gallery-note").isHidden(), true);
  const listed = [...ALICE_IMAGES].reverse(); // the list, like the gallery, is newest first
  for (const [i, image] of listed.entries()) {
    const thumb = shown[i];
    const fileId = await fileIdOf(page, image.name);
    const url = `${cdnUrl}/users/alice/${fileId}`;
    assert.equal(thumb.fileId, fileId);
    assert.equal(thumb.caption, image.name, "the filename is under the thumbnail");
    assert.equal(thumb.alt, image.name);
    assert.equal(thumb.loading, "lazy");
    assert.equal(thumb.src, url, "the plain CDN URL: no signature, no query");
    assert.equal(thumb.state, "loaded", `${image.name} loaded`);
    assert.ok(thumb.complete && thumb.visible, `${image.name} is shown`);
    assert.equal(thumb.naturalWidth, image.width, `the thumbnail of ${image.name} is that very image`);
    assert.equal(thumb.naturalHeight, image.height);
    aliceUrls.push(url);
    aliceBytes.set(url, image.buffer);
  }
  assert.equal(await page.locator("#gallery", { hasText: "notes.txt" }).count(), 0, "no thumbnail for the text file");
  assert.equal(await page.locator('#file-list tr[data-status="ready"]', { hasText: "notes.txt" }).count(), 1);

  // The browser asked for the cookies through the CDN's own host (which sends the route to the
  // API, 204) and kept them: Secure and HttpOnly cookies, set over http://127.0.0.1, for
  // alice's path only, with no Domain (host-only: no sibling host would receive them).
  assert.ok(cookieCalls.length >= 1, "the page called POST <cdn>/files/cookies");
  for (const res of cookieCalls) {
    assert.equal(res.status(), 204);
    const setCookies = (await res.headersArray()).filter((h) => h.name.toLowerCase() === "set-cookie");
    assert.equal(setCookies.length, 4, JSON.stringify(setCookies));
    for (const { value } of setCookies) assert.doesNotMatch(value, /domain=/i, value);
  }
  const jar = await context.cookies();
  assert.deepEqual(
    jar.map((c) => c.name).sort(),
    ["CloudFront-Hash-Algorithm", "CloudFront-Key-Pair-Id", "CloudFront-Policy", "CloudFront-Signature"],
  );
  for (const c of jar) {
    assert.equal(c.path, "/users/alice/", c.name);
    assert.equal(c.domain, "127.0.0.1", c.name);
    assert.equal(c.secure, true, c.name);
    assert.equal(c.httpOnly, true, c.name);
    assert.equal(c.sameSite, "Strict", c.name);
  }
  assert.equal(await page.evaluate(() => document.cookie), "", "the page's script cannot read them");

  // Each thumbnail was fetched with the cookies, never with a signed URL, and served (200).
  const thumbRequests = toCdn.filter((r) => !new URL(r.url()).search && aliceUrls.includes(r.url()));
  assert.deepEqual([...new Set(thumbRequests.map((r) => r.url()))].sort(), [...aliceUrls].sort());
  for (const req of toCdn) {
    if (req.url().includes("?")) continue; // the preview below uses a signed URL
    assert.doesNotMatch(req.url(), /Signature=|Expires=|Policy=/);
  }
  for (const req of thumbRequests) {
    const headers = await req.allHeaders();
    assert.ok(hasSignedCookies(headers.cookie ?? ""), `the cookies went with ${req.url()}: ${headers.cookie}`);
    assert.equal((await req.response())?.status(), 200, req.url());
  }
  // And they are what opens them: the same URLs without the cookies are refused.
  for (const url of aliceUrls) assert.equal((await fetch(url)).status, 403, url);
  // With the cookies the CDN serves the very bytes uploaded.
  const jarHeader = await cookieHeader(context);
  for (const url of aliceUrls) {
    const res = await fetch(url, { headers: { cookie: jarHeader } });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(aliceBytes.get(url)), `${url} serves its own PNG`);
  }

  // Clicking a thumbnail opens the usual preview, through a signed URL.
  const [first] = shown;
  await page.locator(`#gallery .gallery-item[data-file-id="${first.fileId}"] .gallery-open`).click();
  const preview = page.locator("#preview-image");
  await preview.waitFor();
  assert.ok((await preview.getAttribute("src")).startsWith(`${first.src}?Expires=`));
  await page.waitForFunction(() => document.querySelector("#preview-image")?.complete);
  assert.equal(await preview.evaluate((img) => img.naturalWidth), listed[0].width);
  assert.equal(await page.locator("#preview-section").isVisible(), true);

  await page.screenshot({ path: join(stack.dataDir, "gallery-alice.png"), fullPage: true });
  if (process.env.GALLERY_SCREENSHOT) await page.screenshot({ path: process.env.GALLERY_SCREENSHOT, fullPage: true });
  assert.deepEqual(problems, [], "no script errors on the page");
});

test("bob, with his own gallery cookies, opens none of alice's images", async () => {
  assert.equal(aliceUrls.length, 3, "alice's test ran first");
  const { context, page, problems, toCdn, cookieCalls } = await signedIn("bob");
  await upload(page, [BOB_IMAGE]);
  await settledGallery(page, 1);
  const [mine] = await thumbnails(page);
  assert.equal(mine.caption, "bob.png");
  assert.equal(mine.state, "loaded");
  assert.equal(mine.naturalWidth, BOB_IMAGE.width);
  const bobUrl = `${cdnUrl}/users/bob/${await fileIdOf(page, "bob.png")}`;
  assert.equal(mine.src, bobUrl);
  for (const name of ALICE_IMAGES.map((i) => i.name)) {
    assert.equal(await page.locator("#gallery", { hasText: name }).count(), 0, `bob's gallery has no ${name}`);
  }
  assert.ok(cookieCalls.length >= 1 && cookieCalls.every((r) => r.status() === 204), "bob got his own cookies");
  const jar = await context.cookies();
  assert.equal(jar.length, 4);
  assert.ok(jar.every((c) => c.path === "/users/bob/"), "bob's cookies are for bob's path");

  // In bob's page, an <img> of each of alice's URLs fails. His browser does not even send his
  // cookies with it: their Path is /users/bob/.
  for (const url of aliceUrls) {
    const seen = page.waitForRequest((r) => r.url() === url);
    assert.deepEqual(await imgLoads(page, url), { loaded: false, naturalWidth: 0 }, `bob's page cannot show ${url}`);
    const req = await seen;
    // Chromium's opaque-response blocking drops the 403 (an XML body, not an image) before
    // the page sees it, so the request may have no response at all; never a 200.
    assert.notEqual((await req.response())?.status(), 200, url);
    assert.doesNotMatch((await req.allHeaders()).cookie ?? "", /CloudFront/, "no gallery cookie goes to another user's path");
  }
  // His own image, by the same means, loads: the cookies work, for his path.
  assert.deepEqual(await imgLoads(page, bobUrl), { loaded: true, naturalWidth: BOB_IMAGE.width });
  const own = toCdn.filter((r) => r.url() === bobUrl);
  assert.ok(own.length >= 1);
  for (const req of own) assert.ok(hasSignedCookies((await req.allHeaders()).cookie ?? ""));

  // Through the context's own request client (bob's cookie jar): his URL 200, alice's 403.
  assert.equal((await context.request.get(bobUrl)).status(), 200);
  for (const url of aliceUrls) assert.equal((await context.request.get(url)).status(), 403, url);

  // Bob's cookies sent by hand with alice's URLs: the CDN refuses them (their policy's
  // resource is users/bob/*), though the very same header opens bob's file.
  const bobCookies = await cookieHeader(context);
  assert.ok(hasSignedCookies(bobCookies));
  const withBobs = { headers: { cookie: bobCookies } };
  assert.equal((await fetch(bobUrl, withBobs)).status, 200, "the header is valid");
  for (const url of aliceUrls) {
    const res = await context.request.get(url, withBobs);
    assert.equal(res.status(), 403, url);
    assert.equal((await fetch(url, withBobs)).status, 403, url);
    // Nor by a path under bob's prefix that climbs out of it, sent without normalisation.
    const climb = new URL(url).pathname.replace("/users/alice/", "/users/bob/%2e%2e/alice/");
    const answer = await rawGet(climb, { cookie: bobCookies });
    assert.notEqual(answer.status, 200, climb);
    assert.ok(!answer.body.equals(aliceBytes.get(url)), `${climb} does not serve alice's file`);
  }
  assert.deepEqual(problems, [], "no script errors on the page");
  await context.close();
});

test("a browser with no cookies gets 403 for alice's images", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(apiUrl);
  for (const url of aliceUrls) {
    assert.equal((await context.request.get(url)).status(), 403, url);
    assert.deepEqual(await imgLoads(page, url), { loaded: false, naturalWidth: 0 });
  }
  assert.deepEqual(await context.cookies(), []);
  await context.close();
});

test("switching user or signing out empties the gallery", async () => {
  const { page, problems } = alice;
  assert.equal(await page.locator("#gallery .gallery-item").count(), 3);
  await signIn(page, "carol");
  await page.waitForFunction(() => document.querySelector("#gallery-note")?.textContent.startsWith("No images yet"));
  assert.equal(await page.locator("#gallery .gallery-item").count(), 0, "alice's thumbnails are gone");
  assert.equal(await page.locator("#gallery img").count(), 0);
  assert.equal(await page.locator("#gallery").isHidden(), true);

  await signIn(page, "alice");
  await settledGallery(page, 3);
  assert.ok((await thumbnails(page)).every((t) => t.state === "loaded"));

  await page.click("#signout-button");
  await page.waitForFunction(() => document.querySelector("#signed-in")?.textContent === "Not signed in");
  assert.equal(await page.locator("#gallery .gallery-item").count(), 0);
  assert.equal(await page.locator("#gallery-note").textContent(), "Sign in to see your images.");
  assert.equal(await page.locator("#file-list tr[data-file-id]").count(), 0, "the file list is emptied too");
  assert.equal(await page.locator("#preview-image").count(), 0);
  assert.equal(await page.locator("#upload-button").isDisabled(), true);
  assert.equal(await page.locator("#signout-button").isHidden(), true);
  assert.deepEqual(problems, [], "no script errors on the page");
  await alice.context.close();
});
