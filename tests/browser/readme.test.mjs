// The README's own code, run as a newcomer would run it, against `private-uploads up` (the
// local equivalents of the deployed stack's outputs):
// - the frontend snippet ("Call it from a web page"), in Chromium on the page's origin;
// - the deploy quickstart's upload with curl (step 6), in bash with the local API and a token;
// - the quickstart's keygen and secret commands (steps 1 and 4).
// The blocks are read from README.md between their markers, so a README edit that breaks
// them fails here. The quickstart steps with no local equivalent (sam deploy, the stack's
// outputs, Cognito, put-secret-value) are listed in docs/testing.md.
//
// Needs PRIVATE_UPLOADS_BIN (the built CLI), Chromium at CHROMIUM, bash, curl and jq.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, launchChromium, startUp, stopUp } from "./stack.mjs";

const PORT = Number(process.env.README_TEST_PORT || 3790);
const apiUrl = `http://127.0.0.1:${PORT}`;
const cdnUrl = `http://127.0.0.1:${PORT + 2}`;
const BIN = process.env.PRIVATE_UPLOADS_BIN;
const README = readFileSync(join(REPO, "README.md"), "utf8");

// 1×1 PNG and 1×1 JPEG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
  "base64",
);
const JPEG = Buffer.from(
  "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=",
  "base64",
);

// The fenced block between `<!-- name… -->` and `<!-- /name -->`.
function block(name) {
  const found = README.match(new RegExp(`<!-- ${name}[^>]*-->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\`\\s*<!-- /${name} -->`));
  assert.ok(found, `README.md has no ${name} block between <!-- ${name} --> and <!-- /${name} -->`);
  return found[1];
}

let stack;
let browser;
const token = (user) =>
  execFileSync(BIN, ["token", user, "--data-dir", stack.dataDir], { encoding: "utf8" }).trim();

before(async () => {
  stack = await startUp({ port: PORT, name: "readme" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopUp(stack);
});

test("the README's frontend snippet uploads a file and views it, in Chromium", { timeout: 120_000 }, async () => {
  const snippet = block("frontend-snippet");
  const page = await (await browser.newContext()).newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(apiUrl); // the upload page: an origin the API's and the bucket's CORS allow
  // The built-in page (no --web-dir) ran: its script and the API client it imports loaded.
  await page.waitForFunction(() => document.getElementById("mode-note").textContent.startsWith("Local mode"));
  const result = await page.evaluate(
    async ({ snippet, api, token, png }) => {
      const uploadAndView = (0, eval)(`${snippet}\n;uploadAndView`);
      const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
      const url = await uploadAndView(api, token, new File([bytes], "dot.png", { type: "image/png" }));
      const img = new Image();
      const loaded = new Promise((ok, fail) => {
        img.onload = ok;
        img.onerror = () => fail(new Error(`the <img> did not load ${url}`));
      });
      img.src = url;
      await loaded;
      return { url, width: img.naturalWidth, height: img.naturalHeight };
    },
    { snippet, api: apiUrl, token: token("alice"), png: PNG.toString("base64") },
  );
  assert.deepEqual(problems, []);
  assert.ok(result.url.startsWith(`${cdnUrl}/users/`), result.url);
  assert.deepEqual([result.width, result.height], [1, 1], "the image the page shows is the PNG");
  const served = await fetch(result.url);
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), PNG);
  // Someone else asking for it gets the missing file's answer.
  const fileId = new URL(result.url).pathname.split("/").pop();
  const bob = await fetch(`${apiUrl}/files/${fileId}`, { headers: { authorization: `Bearer ${token("bob")}` } });
  assert.equal(bob.status, 404);
});

test("the README's quickstart upload runs in bash with curl and jq", () => {
  const dir = mkdtempSync(join(tmpdir(), "readme-quickstart-"));
  try {
    writeFileSync(join(dir, "photo.jpg"), JPEG);
    const printed = execFileSync("bash", ["-euo", "pipefail", "-c", block("quickstart-upload")], {
      cwd: dir,
      env: { ...process.env, API: apiUrl, TOKEN: token("alice") },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.match(printed, /^status: ready$/m);
    assert.match(printed, new RegExp(`^viewed: ${cdnUrl}/users/alice/[0-9a-f-]{36}\\?`, "m"));
    assert.deepEqual(readFileSync(join(dir, "copy.jpg")), JPEG);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's keygen and secret commands make the files the deploy steps use", () => {
  const commands = README.split("\n")
    .map((line) => line.trim())
    .filter((line) => /^private-uploads (keygen|secret) /.test(line));
  assert.equal(commands.length, 2, `one keygen and one secret line in README.md: ${commands}`);
  const dir = mkdtempSync(join(tmpdir(), "readme-keys-"));
  try {
    const script = [`private-uploads() { "$BIN" "$@"; }`, ...commands].join("\n");
    execFileSync("bash", ["-euo", "pipefail", "-c", script], {
      cwd: dir,
      env: { ...process.env, BIN, KEY_PAIR_ID: "K2JCJMDEHXQW5F" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const publicPem = readFileSync(join(dir, "public_key.pem"), "utf8");
    const privatePem = readFileSync(join(dir, "private_key.pem"), "utf8");
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const secret = JSON.parse(readFileSync(join(dir, "secret.json"), "utf8"));
    assert.deepEqual(secret, { key_pair_id: "K2JCJMDEHXQW5F", private_key_pem: privatePem });
    // The key signs, with the same code as the view function.
    const signed = execFileSync(
      BIN,
      ["sign-url", "--key-file", join(dir, "private_key.pem"), "--key-pair-id", "K2JCJMDEHXQW5F", "--expires", "5m", "https://d.example/x"],
      { encoding: "utf8" },
    );
    assert.match(signed, /^https:\/\/d\.example\/x\?Expires=\d+&Signature=[^&]+&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=SHA256\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
