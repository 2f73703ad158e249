// crc64nvme.mjs against CRC-64/NVME's check value, the AWS SDK for JavaScript's own
// implementation (@aws-sdk/crc64-nvme, a dev dependency), and itself fed in pieces.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Crc64Nvme as AwsCrc64Nvme } from "@aws-sdk/crc64-nvme";
import { Crc64Nvme, crc64nvmeOf } from "../crc64nvme.mjs";

const aws = async (bytes) => {
  const crc = new AwsCrc64Nvme();
  crc.update(bytes);
  return Buffer.from(await crc.digest()).toString("base64");
};

test("the check value of 123456789 is 0xAE8B14860A799888", () => {
  const crc = new Crc64Nvme().update(new TextEncoder().encode("123456789"));
  assert.equal(Buffer.from(crc.digest()).toString("hex"), "ae8b14860a799888");
});

test("equals @aws-sdk/crc64-nvme for every length 0 to 100 and for 3 MiB of varied bytes", async () => {
  const bytes = new Uint8Array(3 * 1024 * 1024 + 5);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 2654435761) >>> 24;
  for (let n = 0; n <= 100; n += 1) {
    assert.equal(new Crc64Nvme().update(bytes.subarray(0, n)).base64(), await aws(bytes.subarray(0, n)), `length ${n}`);
  }
  assert.equal(new Crc64Nvme().update(bytes).base64(), await aws(bytes));
});

test("pieces of any size give the same checksum as the whole", () => {
  const bytes = new Uint8Array(100_003).map((_, i) => i % 253);
  const whole = new Crc64Nvme().update(bytes).base64();
  for (const piece of [1, 3, 7, 8, 9, 4096, 65_537]) {
    const crc = new Crc64Nvme();
    for (let i = 0; i < bytes.length; i += piece) crc.update(bytes.subarray(i, i + piece));
    assert.equal(crc.base64(), whole, `pieces of ${piece}`);
  }
});

test("crc64nvmeOf reads a Blob a slice at a time, reports progress, and stops on abort", async () => {
  const bytes = new Uint8Array(1_000_000).map((_, i) => (i * 7) % 256);
  const seen = [];
  const b64 = await crc64nvmeOf(new Blob([bytes]), { chunkBytes: 300_000, onProgress: (read) => seen.push(read) });
  assert.equal(b64, await aws(bytes));
  assert.deepEqual(seen, [300_000, 600_000, 900_000, 1_000_000]);
  assert.equal(await crc64nvmeOf(new Blob([])), await aws(new Uint8Array(0)));
  const stop = new AbortController();
  stop.abort(new Error("stopped"));
  await assert.rejects(crc64nvmeOf(new Blob([bytes]), { signal: stop.signal }), /stopped/);
});
