// What every browser test starts and stops: `private-uploads up` on a port of its own (with a
// fresh data directory) and Debian's Chromium. Needs PRIVATE_UPLOADS_BIN (the built CLI) and
// Chromium at CHROMIUM (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
const BIN = process.env.PRIVATE_UPLOADS_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// Starts `up` (extra `args`, extra `env`) and resolves once it serves; fails with its output.
export async function startUp({ port, name, args = [], env = {} }) {
  assert.ok(BIN && existsSync(BIN), `PRIVATE_UPLOADS_BIN must name the built CLI (got ${BIN}); run ./scripts/test`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM)`);
  const dataDir = mkdtempSync(join(tmpdir(), `private-uploads-${name}-`));
  const up = spawn(BIN, ["up", "--port", String(port), "--data-dir", dataDir, ...args], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let output = "";
  up.stderr.on("data", (chunk) => (output += chunk));
  await new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`up did not start in 120 s:\n${output}`)), 120_000);
    up.stdout.on("data", (chunk) => {
      output += chunk;
      if (output.includes("Stop: Ctrl-C")) {
        clearTimeout(timer);
        ready();
      }
    });
    up.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`up exited with ${code}:\n${output}`));
    });
  });
  return { up, dataDir };
}

// Stops what startUp started (SIGTERM, then SIGKILL after 15 s) and removes its data.
export async function stopUp(stack) {
  const { up, dataDir } = stack ?? {};
  if (up && up.exitCode === null) {
    up.kill("SIGTERM");
    await new Promise((done) => {
      up.on("exit", done);
      setTimeout(done, 15_000);
    });
    if (up.exitCode === null) up.kill("SIGKILL");
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

export function launchChromium() {
  return chromium.launch({
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
}
