// CRC-64/NVME (the `x-amz-checksum-crc64nvme` of S3's full-object checksums), computed
// streaming: `Crc64Nvme` takes bytes in any number of pieces, and `crc64nvmeOf` reads a
// Blob (a File) a slice at a time, so a file of any size is never held in memory.
// Reflected polynomial 0x9A6C9329AC4BC9B5, initial value and final XOR all ones; the check
// value of "123456789" is 0xAE8B14860A799888. 64-bit arithmetic in two 32-bit halves,
// eight bytes a step (slicing-by-8).

const POLY_HI = 0x9a6c9329;
const POLY_LO = 0xac4bc9b5;

// TABLES_HI[k][n], TABLES_LO[k][n]: the CRC of byte n followed by k zero bytes.
const TABLES_HI = [];
const TABLES_LO = [];
{
  const hi0 = new Uint32Array(256);
  const lo0 = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let hi = 0;
    let lo = n;
    for (let bit = 0; bit < 8; bit += 1) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi >>>= 1;
      if (carry) {
        hi = (hi ^ POLY_HI) >>> 0;
        lo = (lo ^ POLY_LO) >>> 0;
      }
    }
    hi0[n] = hi;
    lo0[n] = lo;
  }
  TABLES_HI.push(hi0);
  TABLES_LO.push(lo0);
  for (let k = 1; k < 8; k += 1) {
    const prevHi = TABLES_HI[k - 1];
    const prevLo = TABLES_LO[k - 1];
    const hi = new Uint32Array(256);
    const lo = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      const i = prevLo[n] & 0xff;
      lo[n] = (((prevLo[n] >>> 8) | (prevHi[n] << 24)) ^ lo0[i]) >>> 0;
      hi[n] = ((prevHi[n] >>> 8) ^ hi0[i]) >>> 0;
    }
    TABLES_HI.push(hi);
    TABLES_LO.push(lo);
  }
}
const [H0, H1, H2, H3, H4, H5, H6, H7] = TABLES_HI;
const [L0, L1, L2, L3, L4, L5, L6, L7] = TABLES_LO;

/** A running CRC64NVME: `update` with the bytes in order, then `digest` (8 bytes, big-endian,
 * as S3 writes it) or `base64`. */
export class Crc64Nvme {
  #hi = 0xffffffff;
  #lo = 0xffffffff;

  /** Adds `bytes` (a Uint8Array, or any ArrayBuffer view or ArrayBuffer).
   * @param {ArrayBufferView | ArrayBuffer} bytes
   * @returns {this} */
  update(bytes) {
    const data = bytes instanceof Uint8Array ? bytes : ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
    let hi = this.#hi;
    let lo = this.#lo;
    let i = 0;
    const whole = data.length - (data.length % 8);
    for (; i < whole; i += 8) {
      const a = lo ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      const b = hi ^ (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24));
      lo = L7[a & 0xff] ^ L6[(a >>> 8) & 0xff] ^ L5[(a >>> 16) & 0xff] ^ L4[a >>> 24] ^
        L3[b & 0xff] ^ L2[(b >>> 8) & 0xff] ^ L1[(b >>> 16) & 0xff] ^ L0[b >>> 24];
      hi = H7[a & 0xff] ^ H6[(a >>> 8) & 0xff] ^ H5[(a >>> 16) & 0xff] ^ H4[a >>> 24] ^
        H3[b & 0xff] ^ H2[(b >>> 8) & 0xff] ^ H1[(b >>> 16) & 0xff] ^ H0[b >>> 24];
    }
    for (; i < data.length; i += 1) {
      const n = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ L0[n];
      hi = (hi >>> 8) ^ H0[n];
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
    return this;
  }

  /** The checksum so far: 8 bytes, big-endian. */
  digest() {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, ~this.#hi >>> 0);
    view.setUint32(4, ~this.#lo >>> 0);
    return out;
  }

  /** The checksum so far as S3's `x-amz-checksum-crc64nvme` (base64 of `digest()`). */
  base64() {
    return btoa(String.fromCharCode(...this.digest()));
  }
}

/** The base64 CRC64NVME of a Blob or File, read `chunkBytes` at a time. `onProgress(read,
 * total)` follows it; `signal` stops it (rejecting with its reason).
 * @param {Blob} blob
 * @param {{chunkBytes?: number, signal?: AbortSignal, onProgress?: (read: number, total: number) => void}} [options]
 * @returns {Promise<string>} */
export async function crc64nvmeOf(blob, { chunkBytes = 8 * 1024 * 1024, signal, onProgress } = {}) {
  const crc = new Crc64Nvme();
  for (let start = 0; start < blob.size; start += chunkBytes) {
    signal?.throwIfAborted();
    crc.update(new Uint8Array(await blob.slice(start, start + chunkBytes).arrayBuffer()));
    onProgress?.(Math.min(start + chunkBytes, blob.size), blob.size);
  }
  signal?.throwIfAborted();
  return crc.base64();
}
