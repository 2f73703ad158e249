// The browser client as a package: `npm pack` in web/client makes a tarball, a scratch app
// installs it as an app would from npm, TypeScript checks the app against the package's
// types, and Chromium uploads through it into `private-uploads up` in all four modes: a
// presigned PUT, a POST form, temporary credentials (the package signs the PutObject) and
// multipart (a full-object CRC64NVME, progress, abort, and a resume that sends only the
// missing parts). A wrong CRC64NVME is refused at completion; an abort before anything is
// sent is a cancelled TransferError that creates nothing. Each file ends `ready`.
//
// Needs PRIVATE_UPLOADS_BIN (the built CLI), Chromium at CHROMIUM (default /usr/bin/chromium)
// and the npm registry (the first run does `npm ci` in web/client for TypeScript).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Crc64Nvme } from "../../web/client/crc64nvme.mjs";
import { REPO, launchChromium, startUp, stopUp } from "./stack.mjs";

const PORT = Number(process.env.PACKAGE_TEST_PORT || 3810);
const CLIENT_DIR = join(REPO, "web", "client");
const MiB = 1024 * 1024;
const apiUrl = `http://127.0.0.1:${PORT}`;
const s3Url = `http://127.0.0.1:${PORT + 1}`;

// 1×1 red PNG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
  "base64",
);

let stack;
let browser;
let work; // the scratch app and the stack's data, removed at the end
let app;

function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
  } catch (err) {
    throw new Error(`${cmd} ${args.join(" ")} in ${cwd} failed:\n${err.stdout}\n${err.stderr}`);
  }
}

// The scratch app: the packed tarball installed, a page that imports the package through an
// import map (as a bundler would resolve it), and a TypeScript file using its types.
function scratchApp() {
  run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], CLIENT_DIR);
  const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], CLIENT_DIR));
  const tarball = join(work, packed[0].filename);
  const dir = join(work, "app");
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], dir);
  writeFileSync(
    join(dir, "index.html"),
    `<!doctype html><meta charset="utf-8"><title>scratch</title>
<script type="importmap">{"imports": {
  "@private-uploads/client": "/node_modules/@private-uploads/client/index.mjs",
  "@private-uploads/client/uppy": "/node_modules/@private-uploads/client/uppy.mjs"}}</script>
<script type="module">
  import * as client from "@private-uploads/client";
  import * as uppy from "@private-uploads/client/uppy";
  window.pkg = { ...client, uppy };
  document.title = "ready";
</script>`,
  );
  return { dir, packed: packed[0] };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "private-uploads-package-"));
  app = scratchApp();
  stack = await startUp({ port: PORT, name: "package", args: ["--web-dir", app.dir] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopUp(stack);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("npm pack holds the modules, their types and the changelog, and nothing else", () => {
  const files = app.packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "CHANGELOG.md",
    "LICENSE",
    "README.md",
    "api.mjs",
    "crc64nvme.mjs",
    "index.mjs",
    "package.json",
    "sigv4.mjs",
    "types/api.d.mts",
    "types/crc64nvme.d.mts",
    "types/index.d.mts",
    "types/sigv4.d.mts",
    "types/upload.d.mts",
    "types/uppy.d.mts",
    "upload.mjs",
    "uppy.mjs",
  ]);
  const installed = join(app.dir, "node_modules", "@private-uploads", "client");
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  assert.deepEqual(Object.keys(manifest.exports), [".", "./uppy", "./package.json"]);
  for (const entry of [manifest.exports["."], manifest.exports["./uppy"]]) {
    assert.ok(existsSync(join(installed, entry.types)), entry.types);
    assert.ok(existsSync(join(installed, entry.default)), entry.default);
  }
  assert.equal(manifest.peerDependencies["@uppy/core"], "^6.0.0");
  assert.equal(manifest.peerDependencies["@uppy/aws-s3"], "^6.0.0");
  assert.deepEqual(readdirSync(join(app.dir, "node_modules")).sort(), [".package-lock.json", "@private-uploads"], "no dependency installed with it");
});

test("TypeScript checks an app against the package's types, and refuses a wrong use", () => {
  const tsc = join(CLIENT_DIR, "node_modules", ".bin", "tsc");
  const check = (source) => {
    writeFileSync(join(app.dir, "check.ts"), source);
    writeFileSync(
      join(app.dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"] },
        files: ["check.ts"],
      }),
    );
    try {
      execFileSync(tsc, ["-p", "tsconfig.json"], { cwd: app.dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      return "";
    } catch (err) {
      return err.stdout + err.stderr;
    }
  };
  const good = `
import { uploadFile, waitUntilSettled, type Progress } from "@private-uploads/client";
import { privateUploadsCredentials } from "@private-uploads/client/uppy";
const client = { api: "https://api.example.com", getToken: async () => "jwt" };
export async function send(file: File): Promise<"pending" | "ready" | "rejected"> {
  const { fileId } = await uploadFile(client, file, { mode: "multipart", onProgress: (p: Progress) => console.log(p.sent / p.total) });
  const record = await waitUntilSettled(client, fileId);
  await privateUploadsCredentials({ ...client, partSize: 5 * 1024 * 1024 });
  return record.status;
}
`;
  assert.equal(check(good), "", "a correct use type-checks");
  const wrong = good.replace('mode: "multipart"', 'mode: "chunks"');
  assert.match(check(wrong), /"chunks"/, "an unknown mode is a type error");
  const wrongStatus = good.replace("record.status", "record.size");
  assert.match(check(wrongStatus), /number/, "a record's fields are typed");
});

async function openApp(user) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(`${apiUrl}/index.html`);
  await page.waitForFunction(() => document.title === "ready");
  const res = await fetch(`${apiUrl}/local/token`, { method: "POST", body: JSON.stringify({ user }) });
  const { token } = await res.json();
  await page.evaluate(
    ([api, jwt]) => {
      window.client = { api, getToken: async () => jwt };
    },
    [apiUrl, token],
  );
  return { page, problems };
}

// Uploads `bytes` as `name` in the page with `options` (a mode and more), waits until the
// record settles, and answers what the page saw.
async function uploadInPage(page, name, type, bytes, options) {
  return page.evaluate(
    async ([n, t, b64, opts]) => {
      const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], n, { type: t });
      const stages = [];
      const progress = [];
      const uploaded = await window.pkg.uploadFile(window.client, file, {
        ...opts,
        onStage: (s) => stages.push(s),
        onProgress: (p) => progress.push(p),
      });
      const record = await window.pkg.waitUntilSettled(window.client, uploaded.fileId, { timeoutMs: 60_000 });
      return { uploaded, record, stages, last: progress.at(-1) };
    },
    [name, type, bytes.toString("base64"), options],
  );
}

function bigPng(size) {
  const filler = Buffer.alloc(size - PNG.length);
  for (let i = 0; i < filler.length; i += 1) filler[i] = (i * 7) % 251;
  return Buffer.concat([PNG, filler]);
}

test("a presigned PUT, a POST form and temporary credentials each upload and end ready, named", async () => {
  const { page, problems } = await openApp("alice");
  const signed = [];
  page.on("request", (req) => {
    if (req.url().startsWith(s3Url)) signed.push({ method: req.method(), headers: req.headers() });
  });
  for (const mode of ["put", "form", "credentials"]) {
    const name = `${mode} ünï.png`;
    const { uploaded, record, stages, last } = await uploadInPage(page, name, "image/png", PNG, { mode });
    assert.equal(uploaded.mode, mode);
    assert.equal(record.status, "ready", `${mode}: ${JSON.stringify(record)}`);
    assert.equal(record.filename, name, `${mode}: the file keeps its name`);
    assert.equal(record.size, PNG.length);
    assert.equal(record.key, `users/alice/${uploaded.fileId}`);
    assert.equal(last.sent, last.total, `${mode}: progress reached the end`);
    assert.deepEqual(stages, mode === "credentials" ? ["requesting", "uploading"] : ["checksum", "requesting", "uploading"]);
  }
  const credentialsPut = signed.find((r) => r.method === "PUT" && r.headers.authorization);
  assert.match(credentialsPut.headers.authorization, /^AWS4-HMAC-SHA256 Credential=.*SignedHeaders=content-type;host;if-none-match;x-amz-content-sha256;x-amz-date;x-amz-meta-filename;x-amz-security-token, Signature=[0-9a-f]{64}$/);
  assert.ok(signed.find((r) => r.method === "PUT" && r.headers["x-amz-checksum-sha256"]), "the presigned PUT carried its SHA-256");
  assert.deepEqual(problems, []);
  await page.close();
});

test("multipart sends a full-object CRC64NVME; aborted, it resumes with only the missing parts", async () => {
  const { page, problems } = await openApp("carol");
  const bytes = bigPng(12 * MiB); // parts of 5, 5 and 2 MiB
  const crc = new Crc64Nvme().update(bytes).base64();
  const created = [];
  page.on("request", (req) => {
    if (req.method() === "POST" && req.url() === `${apiUrl}/uploads/multipart`) created.push(JSON.parse(req.postData()));
  });
  const puts = [];
  let hold = true;
  await page.route(`${s3Url}/**`, (route) => {
    const n = Number(new URL(route.request().url()).searchParams.get("partNumber"));
    if (route.request().method() === "PUT" && n) puts.push(n);
    if (hold && n > 1) return; // parts 2 and 3 hang until the upload is aborted
    return route.continue();
  });

  const first = await page.evaluate(async (b64) => {
    const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "big.png", { type: "image/png" });
    window.bigFile = file;
    const stop = new AbortController();
    let entry = null;
    const uploading = window.pkg.uploadFile(window.client, file, {
      mode: "multipart",
      signal: stop.signal,
      onUnfinished: (e) => (entry = e),
      onProgress: (p) => {
        if (p.partsDone === 1) stop.abort();
      },
    });
    try {
      await uploading;
      return { finished: true };
    } catch (err) {
      return { entry, name: err.name, cancelled: err.cancelled, resumable: err.resumable };
    }
  }, bytes.toString("base64"));
  assert.deepEqual(
    { name: first.name, cancelled: first.cancelled, resumable: first.resumable },
    { name: "TransferError", cancelled: true, resumable: true },
  );
  assert.equal(created.length, 1);
  assert.equal(created[0].crc64nvme, crc, "the create request carries the file's CRC64NVME");
  assert.equal(first.entry.part_count, 3);
  assert.doesNotMatch(JSON.stringify(first.entry), /X-Amz|Signature|eyJ|https?:/, "the entry to keep holds no URL or token");

  hold = false;
  puts.length = 0;
  const resumed = await page.evaluate(async (entry) => {
    const progress = [];
    const done = await window.pkg.resumeMultipart(window.client, entry, window.bigFile, { onProgress: (p) => progress.push(p) });
    const record = await window.pkg.waitUntilSettled(window.client, done.fileId, { timeoutMs: 60_000 });
    return { done, record, last: progress.at(-1) };
  }, first.entry);
  assert.deepEqual(puts.sort(), [2, 3], "part 1 was not sent again");
  assert.equal(resumed.record.status, "ready", JSON.stringify(resumed.record));
  assert.equal(resumed.record.size, bytes.length);
  assert.deepEqual({ sent: resumed.last.sent, parts: resumed.last.partsDone }, { sent: bytes.length, parts: 3 });
  assert.deepEqual(problems, []);
  await page.close();
});

test("a CRC64NVME that does not match the file is refused at completion", async () => {
  const { page } = await openApp("dan");
  await page.route(`${apiUrl}/uploads/multipart`, async (route) => {
    const body = JSON.parse(route.request().postData());
    body.crc64nvme = new Crc64Nvme().update(Buffer.from("another file")).base64();
    await route.continue({ postData: JSON.stringify(body) });
  });
  const outcome = await page.evaluate(async (b64) => {
    const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "bad.png", { type: "image/png" });
    try {
      await window.pkg.uploadFile(window.client, file, { mode: "multipart" });
      return "uploaded";
    } catch (err) {
      return { name: err.name, code: err.code, status: err.status };
    }
  }, bigPng(6 * MiB).toString("base64"));
  assert.deepEqual(outcome, { name: "ApiError", code: "invalid_parts", status: 400 });
  await page.close();
});

test("an abort while the checksum is read is a cancelled TransferError, and nothing is created", async () => {
  const { page, problems } = await openApp("erin");
  const created = [];
  page.on("request", (req) => {
    if (req.method() === "POST" && req.url().startsWith(`${apiUrl}/uploads`)) created.push(req.url());
  });
  const outcomes = await page.evaluate(async (b64) => {
    const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "early.png", { type: "image/png" });
    const outcomes = [];
    for (const mode of ["multipart", "put"]) {
      const stop = new AbortController();
      try {
        await window.pkg.uploadFile(window.client, file, {
          mode,
          signal: stop.signal,
          onStage: (stage) => stage === "checksum" && stop.abort(),
        });
        outcomes.push("uploaded");
      } catch (err) {
        outcomes.push({ name: err.name, cancelled: err.cancelled, resumable: err.resumable });
      }
    }
    return outcomes;
  }, bigPng(6 * MiB).toString("base64"));
  const cancelled = { name: "TransferError", cancelled: true, resumable: false };
  assert.deepEqual(outcomes, [cancelled, cancelled]);
  assert.deepEqual(created, [], "no upload was asked for");
  assert.deepEqual(problems, []);
  await page.close();
});
