// The upload engine: one file into private-uploads by any of its four modes, with progress,
// retries and abort, and multipart uploads that resume from what S3 already holds (after a
// reload, or on another device). Browsers only (it sends with XMLHttpRequest, which has
// upload progress; fetch has none).
//
//   const client = { api, getToken };
//   const { fileId } = await uploadFile(client, file, { onProgress: (p) => show(p.sent, p.total) });
//   const record = await waitUntilSettled(client, fileId); // "ready", or "rejected" with a reason

import { callApi } from "./api.mjs";
import { crc64nvmeOf } from "./crc64nvme.mjs";
import { keyPath, signS3Request } from "./sigv4.mjs";

const MiB = 1024 * 1024;
/** S3's largest single request (PUT or POST form). */
export const MAX_SINGLE_BYTES = 5 * 1024 * MiB;
/** The largest file whose SHA-256 a single request carries: hashing reads the file whole
 * into memory (WebCrypto has no streaming digest), so larger files go without it. */
export const SHA256_MAX_BYTES = 32 * MiB;

/**
 * @typedef {import("./api.mjs").Client} Client
 * @typedef {"put" | "form" | "multipart" | "credentials"} Mode
 * @typedef {"checksum" | "requesting" | "uploading" | "completing"} Stage
 * @typedef {object} Progress
 * @property {number} sent bytes sent so far (a form's count its fields too)
 * @property {number} total bytes to send
 * @property {number | null} partsDone multipart: parts stored
 * @property {number | null} partCount multipart: parts in all
 * @property {{part: number, why: string}[]} retrying multipart: parts being retried, and why
 * @typedef {object} UnfinishedUpload What a multipart resume needs (no token, no URL).
 * @property {string} file_id
 * @property {string} upload_id
 * @property {number} part_size
 * @property {number} part_count
 * @property {string} filename
 * @property {number} size
 * @property {number | null} last_modified
 * @property {string} content_type
 * @property {string} started_at
 * @typedef {object} UploadOptions
 * @property {Mode | "auto"} [mode] default "auto": multipart above `multipartAbove`, else put
 * @property {number} [multipartAbove] bytes; default 8 MiB
 * @property {AbortSignal} [signal] aborts; the upload rejects with a cancelled TransferError
 * @property {(progress: Progress) => void} [onProgress]
 * @property {(stage: Stage) => void} [onStage]
 * @property {(issued: {fileId: string, key: string | null}) => void} [onIssued]
 * @property {(entry: UnfinishedUpload | null) => void} [onUnfinished] multipart: keep `entry` to resume; null once done
 * @property {boolean} [sha256] single requests: send a SHA-256 (files up to 32 MiB); default true
 * @property {boolean} [crc64nvme] multipart: a full-object CRC64NVME; default true
 * @property {number} [partSize] multipart: bytes per part (5 MiB to 5 GiB); default the server's
 * @property {number} [partsInFlight] multipart: default 3
 * @property {number} [partAttempts] multipart: tries per part; default 4
 * @property {number} [retryBaseMs] multipart: the first retry's delay, doubled each time; default 500
 * @property {CredentialsSession} [credentials] credentials mode: share one session across files
 * @typedef {{fileId: string, key: string | null, mode: Mode}} Uploaded
 * @typedef {object} Credentials What `POST /credentials` answers.
 * @property {string} access_key_id
 * @property {string} secret_access_key
 * @property {string} session_token
 * @property {string} expiration RFC 3339
 * @property {string} bucket
 * @property {string} region
 * @property {string} prefix `users/{owner}/`: the only keys these credentials may create
 * @property {number} [max_objects] objects one set may add
 * @property {string} [endpoint] the local stack's S3 (path-style); absent on AWS
 */

/** A request to storage (S3) that did not succeed. `status` is S3's (0: no answer), `code`
 * S3's error code when it gave one; `retryable` when trying again may help; `cancelled`
 * when the caller's signal stopped it; `resumable` (multipart) when a later
 * `resumeMultipart` can carry on from the parts already stored. */
export class TransferError extends Error {
  /** @param {string} message
   * @param {{status?: number, code?: string, retryable?: boolean, cancelled?: boolean, cause?: unknown}} [options] */
  constructor(message, { status = 0, code = "", retryable = false, cancelled = false, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = "TransferError";
    this.status = status;
    this.code = code;
    this.retryable = retryable;
    this.cancelled = cancelled;
    this.resumable = false;
  }
}

/**
 * Uploads `file` (a File or Blob with a `name`) and resolves once storage holds it, to
 * `{fileId, key, mode}`; the record then follows (`waitUntilSettled`).
 *
 * `mode`: `"put"` (a presigned PUT, `POST /uploads`), `"form"` (a POST form,
 * `/uploads/form`), `"multipart"` (`/uploads/multipart`: parts in parallel, each retried, a
 * full-object CRC64NVME), `"credentials"` (temporary credentials, `POST /credentials`; this
 * module signs the PutObject), or `"auto"` (the default: multipart above `multipartAbove`
 * bytes or 5 GiB, else put).
 *
 * Options: `signal` aborts (rejecting with a TransferError whose `cancelled` is true);
 * `onProgress({sent, total, partsDone, partCount, retrying})`; `onStage(stage)` with
 * `"checksum"`, `"requesting"`, `"uploading"`, `"completing"`; `onIssued({fileId, key})`
 * as soon as the file id is known; `onUnfinished(entry)` with the multipart entry to keep
 * for a resume (`null` once it completed); `sha256` (single requests, default true, files
 * up to 32 MiB); `crc64nvme` (multipart, default true); `partSize`, `partsInFlight` (3),
 * `partAttempts` (4), `retryBaseMs` (500); `credentials` (a `CredentialsSession` to share
 * across files).
 * @param {Client} client
 * @param {File | Blob & {name?: string}} file
 * @param {UploadOptions} [options]
 * @returns {Promise<Uploaded>}
 */
export async function uploadFile(client, file, options = {}) {
  const mode = chooseMode(file, options);
  if (!["put", "form", "multipart", "credentials"].includes(mode)) {
    throw new TypeError(`mode must be put, form, multipart, credentials or auto, not ${mode}`);
  }
  return cancellable(options.signal, () => {
    if (mode === "multipart") return startMultipart(client, file, options);
    if (mode === "credentials") return putWithCredentials(client, file, options);
    return sendSingle(client, file, mode, options);
  });
}

// Whatever stage an abort stops (a checksum, an API call, a transfer), the caller gets the
// one cancelled TransferError.
async function cancellable(signal, run) {
  try {
    return await run();
  } catch (err) {
    if (signal?.aborted && !(err instanceof TransferError)) throw cancelled();
    throw err;
  }
}

/** The mode `uploadFile` uses for `file` with `options`.
 * @param {Blob} file
 * @param {UploadOptions} [options]
 * @returns {Mode} */
export function chooseMode(file, { mode = "auto", multipartAbove = 8 * MiB } = {}) {
  if (mode !== "auto") return mode;
  return file.size > 0 && (file.size > multipartAbove || file.size > MAX_SINGLE_BYTES) ? "multipart" : "put";
}

/** The media type sent for `file`: its own, or `application/octet-stream`. */
export function contentTypeOf(file) {
  return file.type || "application/octet-stream";
}

/** The base64 SHA-256 of `file`, or null above SHA256_MAX_BYTES (or without WebCrypto).
 * @param {Blob} file
 * @returns {Promise<string | null>} */
export async function sha256Of(file) {
  if (file.size > SHA256_MAX_BYTES || !globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

// ---------- one request: presigned PUT or POST form ----------

async function sendSingle(client, file, mode, options) {
  const { signal, onStage, onIssued } = options;
  if (file.size > MAX_SINGLE_BYTES) throw new TransferError("A single request carries at most 5 GiB: use multipart");
  const request = { filename: file.name || "file", content_type: contentTypeOf(file), size: file.size };
  if (options.sha256 !== false) {
    onStage?.("checksum");
    const sha256 = await sha256Of(file);
    if (sha256) request.sha256 = sha256;
  }
  signal?.throwIfAborted();
  onStage?.("requesting");
  const issued = await callApi(client, "POST", mode === "form" ? "/uploads/form" : "/uploads", request);
  onIssued?.({ fileId: issued.file_id, key: issued.key });
  let body = file;
  if (mode === "form") {
    // Every field in the order given, then the file: S3 ignores fields after the file.
    body = new FormData();
    for (const [name, value] of Object.entries(issued.upload.fields ?? {})) body.append(name, value);
    body.append("file", file);
  }
  onStage?.("uploading");
  const progress = progressOf(options, file.size);
  const xhr = await sendXhr(issued.upload.method || (mode === "form" ? "POST" : "PUT"), issued.upload.url, body, {
    headers: issued.upload.headers ?? {},
    signal,
    // A form's total counts its fields too.
    onProgress: (sent, total) => progress({ sent, total: total ?? file.size }),
  });
  if (xhr.status < 200 || xhr.status >= 300) throw s3Error(xhr);
  progress({ sent: file.size, total: file.size });
  return { fileId: issued.file_id, key: issued.key, mode };
}

// ---------- temporary credentials: the browser signs its own PutObject ----------

/** Temporary credentials (`POST /credentials`) shared by the uploads that pass it as
 * `credentials`: asked for once, again a minute before they expire, and again after
 * `max_objects` objects (the server removes what one set adds past that). */
export class CredentialsSession {
  /** @param {Client} client */
  constructor(client) {
    this.client = client;
    this.issued = null;
    this.used = 0;
  }

  /** Credentials for one more object.
   * @returns {Promise<Credentials>} */
  async next() {
    const issued = this.issued;
    const stale = !issued || expiresWithin(issued, 60_000) || this.used >= (issued.max_objects ?? Infinity);
    if (stale) {
      this.issued = await requestCredentials(this.client);
      this.used = 0;
    }
    this.used += 1;
    return this.issued;
  }
}

/** Whether credentials `issued` by `POST /credentials` expire within `ms` milliseconds.
 * @param {{expiration: string}} issued
 * @param {number} ms
 * @returns {boolean} */
export function expiresWithin(issued, ms) {
  const at = Date.parse(issued.expiration);
  return Number.isFinite(at) && at - Date.now() < ms;
}

/** `POST /credentials`, checked for the fields the uploads need.
 * @param {Client} client
 * @returns {Promise<Credentials>} */
export async function requestCredentials(client) {
  const issued = await callApi(client, "POST", "/credentials");
  for (const field of ["access_key_id", "secret_access_key", "session_token", "bucket", "region", "prefix"]) {
    if (typeof issued?.[field] !== "string") throw new Error(`POST /credentials answered without ${field}`);
  }
  return issued;
}

/** The URL of `key` in the bucket the credentials name: path-style at the local stack's
 * `endpoint`, virtual-hosted on AWS. */
export function objectUrl(issued, key) {
  const path = keyPath(key);
  if (issued.endpoint) return `${issued.endpoint.replace(/\/+$/, "")}/${issued.bucket}/${path}`;
  return `https://${issued.bucket}.s3.${issued.region}.amazonaws.com/${path}`;
}

async function putWithCredentials(client, file, options) {
  const { signal, onStage, onIssued } = options;
  if (file.size > MAX_SINGLE_BYTES) {
    throw new TransferError("The credentials mode here sends one request (at most 5 GiB): use multipart, or the Uppy plugin");
  }
  onStage?.("requesting");
  const issued = await (options.credentials ?? new CredentialsSession(client)).next();
  signal?.throwIfAborted();
  const fileId = uuidv7();
  const key = `${issued.prefix}${fileId}`;
  onIssued?.({ fileId, key });
  const url = objectUrl(issued, key);
  const headers = await signS3Request({
    method: "PUT",
    url,
    headers: {
      "content-type": contentTypeOf(file),
      "x-amz-meta-filename": encodeURIComponent(file.name || "file"),
      // Never overwrite: the id is new, and a replay of this request must not succeed.
      "if-none-match": "*",
    },
    credentials: {
      accessKeyId: issued.access_key_id,
      secretAccessKey: issued.secret_access_key,
      sessionToken: issued.session_token,
    },
    region: issued.region,
  });
  onStage?.("uploading");
  const progress = progressOf(options, file.size);
  const xhr = await sendXhr("PUT", url, file, { headers, signal, onProgress: (sent) => progress({ sent, total: file.size }) });
  if (xhr.status !== 200) throw s3Error(xhr);
  progress({ sent: file.size, total: file.size });
  return { fileId, key, mode: "credentials" };
}

/** A lowercase hyphenated UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random. */
export function uuidv7() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i -= 1) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---------- multipart: parts in parallel, each retried on its own, resumable ----------

/** The length of part `n` of an unfinished upload `entry`. */
export function partLength(entry, n) {
  return n < entry.part_count ? entry.part_size : entry.size - (entry.part_count - 1) * entry.part_size;
}

async function startMultipart(client, file, options) {
  const { signal, onStage, onIssued } = options;
  const request = { filename: file.name || "file", content_type: contentTypeOf(file), size: file.size };
  if (options.partSize) request.part_size = options.partSize;
  if (options.crc64nvme !== false) {
    onStage?.("checksum");
    request.crc64nvme = await crc64nvmeOf(file, { signal });
  }
  onStage?.("requesting");
  const issued = await callApi(client, "POST", "/uploads/multipart", request);
  onIssued?.({ fileId: issued.file_id, key: issued.key });
  // What a resume needs, and nothing secret: no token, no URL.
  const entry = {
    file_id: issued.file_id,
    upload_id: issued.upload_id,
    part_size: issued.part_size,
    part_count: issued.part_count,
    filename: request.filename,
    size: file.size,
    last_modified: file.lastModified ?? null,
    content_type: request.content_type,
    started_at: new Date().toISOString(),
  };
  options.onUnfinished?.(entry);
  return runMultipart(client, entry, file, issued.parts, new Map(), options);
}

/** Carries on the multipart upload `entry` (as `onUnfinished` gave it) with the same
 * `file`: asks S3 which parts it holds and sends only the others. An upload that expired
 * meanwhile starts again; one that completed meanwhile resolves at once.
 * @param {Client} client
 * @param {UnfinishedUpload} entry
 * @param {File | Blob & {name?: string}} file
 * @param {UploadOptions} [options]
 * @returns {Promise<Uploaded>} */
export async function resumeMultipart(client, entry, file, options = {}) {
  if (file.size !== entry.size) throw new TypeError(`This is not the file the upload started with (${entry.size} bytes)`);
  return cancellable(options.signal, () => carryOn(client, entry, file, options));
}

async function carryOn(client, entry, file, options) {
  options.onStage?.("requesting");
  let listing;
  try {
    listing = await callApi(client, "GET", `/uploads/${encodeURIComponent(entry.file_id)}/parts`);
  } catch (err) {
    if (err.code === "upload_not_pending") {
      options.onUnfinished?.(null);
      return { fileId: entry.file_id, key: null, mode: "multipart" };
    }
    if (err.status === 404) {
      options.onUnfinished?.(null);
      return startMultipart(client, file, options);
    }
    throw err;
  }
  options.onIssued?.({ fileId: entry.file_id, key: listing?.key ?? null });
  // The server's record decides (an entry from another device may lack them).
  entry = {
    ...entry,
    upload_id: listing?.upload_id ?? entry.upload_id,
    part_size: listing?.part_size ?? entry.part_size,
    part_count: listing?.part_count ?? entry.part_count,
  };
  const done = new Map();
  for (const part of listing?.uploaded ?? []) {
    // A part of another length (or without an ETag) is sent again; S3 keeps the newest.
    if (typeof part.etag === "string" && part.size === partLength(entry, part.part_number)) {
      done.set(part.part_number, part.etag);
    }
  }
  return runMultipart(client, entry, file, listing?.parts ?? [], done, options);
}

/** The caller's unfinished multipart uploads, wherever they began (`GET /uploads`), newest
 * first, as entries `resumeMultipart` takes (`started_at` is when each began;
 * `last_modified` is unknown: null).
 * @param {Client} client
 * @returns {Promise<UnfinishedUpload[]>} */
export async function listUnfinished(client) {
  const listed = await callApi(client, "GET", "/uploads");
  return (listed?.uploads ?? []).map((u) => ({
    file_id: u.file_id,
    upload_id: u.upload_id,
    part_size: u.part_size,
    part_count: u.part_count,
    filename: u.filename,
    size: u.size,
    last_modified: null,
    content_type: u.content_type,
    started_at: u.created_at,
  }));
}

/** Whether `file` is the file the unfinished upload `entry` began with: the same name and
 * size, then, when S3 holds the first part with a CRC64NVME (uploads this package starts
 * have one), the CRC64NVME of the file's first part (only those bytes are read). With no
 * part stored yet there is nothing to compare, and S3 still checks the whole file against
 * the upload's CRC64NVME when it completes.
 * @param {Client} client
 * @param {UnfinishedUpload} entry
 * @param {File | Blob & {name?: string}} file
 * @returns {Promise<boolean>} */
export async function isSameFile(client, entry, file) {
  if ((file.name || "file") !== entry.filename || file.size !== entry.size) return false;
  const listing = await callApi(client, "GET", `/uploads/${encodeURIComponent(entry.file_id)}/parts`);
  const first = listing?.uploaded?.find((p) => p.part_number === 1);
  if (!first?.crc64nvme) return true;
  return (await crc64nvmeOf(file.slice(0, partLength(entry, 1)))) === first.crc64nvme;
}

/** The first of `uploads` (default: `listUnfinished`) that `file` is the file of
 * (`isSameFile`), or null.
 * @param {Client} client
 * @param {File | Blob & {name?: string}} file
 * @param {UnfinishedUpload[]} [uploads]
 * @returns {Promise<UnfinishedUpload | null>} */
export async function findUnfinished(client, file, uploads) {
  for (const entry of uploads ?? (await listUnfinished(client))) {
    if (await isSameFile(client, entry, file)) return entry;
  }
  return null;
}

/** Aborts an unfinished upload (any mode): `DELETE /uploads/{fileId}`.
 * @param {Client} client
 * @param {string} fileId
 * @returns {Promise<null>} */
export function abortUpload(client, fileId) {
  return callApi(client, "DELETE", `/uploads/${encodeURIComponent(fileId)}`);
}

// Uploads the parts not in `done` (part_number -> ETag), then completes the upload.
async function runMultipart(client, entry, file, firstUrls, done, options) {
  const job = {
    client,
    entry,
    file,
    done,
    options,
    urls: new Map(), // part_number -> presigned URL, from the pages the API gave
    fetching: null, // the page of URLs being asked for
    sent: new Map(), // part_number -> bytes sent so far, for parts in flight
    retrying: new Map(), // part_number -> why its last try failed, until it succeeds
    stop: new AbortController(), // aborts this upload's requests in flight
    failed: null,
    progress: progressOf(options, entry.size),
  };
  addPartUrls(job, firstUrls);
  const { signal } = options;
  const onAbort = () => job.stop.abort(signal.reason);
  signal?.addEventListener("abort", onAbort);
  try {
    signal?.throwIfAborted();
    const missing = [];
    for (let n = 1; n <= entry.part_count; n += 1) if (!done.has(n)) missing.push(n);
    options.onStage?.("uploading");
    showParts(job);
    await uploadParts(job, missing);

    options.onStage?.("completing");
    const parts = [...done.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partNumber, etag]) => ({ part_number: partNumber, etag: quoted(etag) }));
    try {
      await callApi(client, "POST", `/uploads/${encodeURIComponent(entry.file_id)}/complete`, {
        upload_id: entry.upload_id,
        parts,
      });
    } catch (err) {
      if (err.code !== "upload_not_pending") throw err; // completed already: fine
    }
    options.onUnfinished?.(null);
    return { fileId: entry.file_id, key: null, mode: "multipart" };
  } catch (err) {
    if (signal?.aborted && !(err instanceof TransferError)) throw cancelled();
    err.resumable = true;
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

function quoted(etag) {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function addPartUrls(job, parts) {
  for (const part of parts ?? []) job.urls.set(part.part_number, part.url);
}

function showParts(job) {
  let sent = 0;
  for (const n of job.done.keys()) sent += partLength(job.entry, n);
  for (const bytes of job.sent.values()) sent += bytes;
  job.progress({
    sent,
    total: job.entry.size,
    partsDone: job.done.size,
    partCount: job.entry.part_count,
    retrying: [...job.retrying].map(([part, why]) => ({ part, why })),
  });
}

// A few workers take the missing parts in order; the first part that fails for good stops
// them all (the parts already stored stay, for a resume).
async function uploadParts(job, missing) {
  let next = 0;
  const worker = async () => {
    while (!job.failed && next < missing.length) {
      const n = missing[next];
      next += 1;
      try {
        const etag = await putPartWithRetry(job, n);
        job.sent.delete(n);
        job.retrying.delete(n);
        job.done.set(n, etag);
        showParts(job);
      } catch (err) {
        if (!job.failed) {
          job.failed = err;
          job.stop.abort(err);
        }
      }
    }
  };
  const inFlight = Math.max(1, Math.min(job.options.partsInFlight ?? 3, missing.length));
  await Promise.all(Array.from({ length: inFlight }, worker));
  if (job.failed) throw job.failed;
}

async function putPartWithRetry(job, n) {
  const attempts = job.options.partAttempts ?? 4;
  const baseMs = job.options.retryBaseMs ?? 500;
  let freshUrl = false;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await putPart(job, n, await partUrl(job, n));
    } catch (err) {
      job.sent.delete(n);
      if (job.failed || err.cancelled) throw err;
      // A 403 is most likely an expired URL: ask for a fresh one, once.
      const expired = err.status === 403 && !freshUrl;
      if (attempt >= attempts || !(err.retryable || expired)) {
        const tries = attempt === 1 ? "" : ` after ${attempt} tries`;
        throw new TransferError(`part ${n} of ${job.entry.part_count} was not accepted${tries}: ${err.message}`, {
          status: err.status ?? 0,
          code: err.code ?? "",
          cause: err,
        });
      }
      if (expired) {
        freshUrl = true;
        job.urls.delete(n);
      }
      job.retrying.set(n, err.status ? `HTTP ${err.status}` : "a network error");
      showParts(job);
      await sleep(baseMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4), job.stop.signal);
    }
  }
}

// PUTs exactly the part's bytes, with no other headers (Content-Length is signed).
async function putPart(job, n, url) {
  const start = (n - 1) * job.entry.part_size;
  const blob = job.file.slice(start, start + partLength(job.entry, n));
  const xhr = await sendXhr("PUT", url, blob, {
    signal: job.stop.signal,
    onProgress: (sent) => {
      job.sent.set(n, sent);
      showParts(job);
    },
  });
  if (xhr.status === 200) {
    const etag = xhr.getResponseHeader("ETag");
    if (!etag) {
      throw new TransferError("storage did not show the part's ETag (the bucket's CORS rule must expose ETag)");
    }
    return etag;
  }
  const err = s3Error(xhr, `part ${n}`);
  err.retryable = xhr.status >= 500 || xhr.status === 408 || xhr.status === 429;
  throw err;
}

// The URL of part n, asking the API for the page of URLs from n when it is not known yet
// (one request at a time, shared by the workers).
async function partUrl(job, n) {
  if (!job.urls.has(n) && job.fetching) await job.fetching.catch(() => {});
  if (!job.urls.has(n)) {
    job.fetching = callApi(job.client, "GET", `/uploads/${encodeURIComponent(job.entry.file_id)}/parts?from=${n}`)
      .then((data) => addPartUrls(job, data?.parts));
    try {
      await job.fetching;
    } finally {
      job.fetching = null;
    }
  }
  const url = job.urls.get(n);
  if (!url) throw new TransferError(`the API gave no URL for part ${n}`);
  return url;
}

// ---------- sending ----------

// Browsers set these themselves and refuse to let scripts set them.
const BROWSER_MANAGED = new Set(["content-length", "host"]);

function cancelled() {
  return new TransferError("Upload cancelled", { cancelled: true });
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(cancelled());
    }, { once: true });
  });
}

// The caller's onProgress with every field present (single requests have no parts).
function progressOf({ onProgress }, total) {
  if (!onProgress) return () => {};
  return (report) => onProgress({ partsDone: null, partCount: null, retrying: [], ...report, total: report.total ?? total });
}

/** One request to storage. Resolves with the finished XHR whatever its status; rejects
 * with a TransferError on a network error (`retryable`) or when `signal` aborts it
 * (`cancelled`).
 * @param {string} method
 * @param {string} url
 * @param {XMLHttpRequestBodyInit} body
 * @param {{headers?: Record<string, string>, onProgress?: (sent: number, total: number | null) => void, signal?: AbortSignal}} [options]
 * @returns {Promise<XMLHttpRequest>} */
export function sendXhr(method, url, body, { headers = {}, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const xhr = new XMLHttpRequest();
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = (fn, value) => {
      signal?.removeEventListener("abort", onAbort);
      fn(value);
    };
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) {
      if (!BROWSER_MANAGED.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : null);
    xhr.onload = () => settle(resolve, xhr);
    xhr.onerror = () =>
      settle(reject, new TransferError("Network error while uploading to storage (offline, or blocked by CORS?)", { retryable: true }));
    xhr.onabort = () => settle(reject, cancelled());
    xhr.send(body);
  });
}

/** The TransferError for S3's non-2xx answer in `xhr` (its XML `Code` and `Message`).
 * @param {XMLHttpRequest} xhr
 * @param {string} [what]
 * @returns {TransferError} */
export function s3Error(xhr, what = "the upload") {
  const text = xhr.responseText || "";
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? "";
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
  const shown = code ? `${code}${message ? `: ${message}` : ""}` : `HTTP ${xhr.status}`;
  return new TransferError(`Storage refused ${what}: ${shown}`, { status: xhr.status, code });
}
