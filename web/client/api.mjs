// The HTTP API client of @private-uploads/client, used by its upload engine (upload.mjs), its
// Uppy plugin (uppy.mjs) and the page (web/app.js): one way to call the API and read its
// error contract, and one poller that follows a file until it is ready or rejected. No
// dependencies; any modern browser (ES2022).
//
//   const client = { api: "https://api.example.com", getToken: async () => jwt };
//   const issued = await callApi(client, "POST", "/uploads", { filename, content_type, size });
//   const file = await waitUntilSettled(client, issued.file_id);

/**
 * @typedef {object} Client Where the API is and who calls it.
 * @property {string} api the HTTP API's base URL (the stack's ApiUrl)
 * @property {() => string | Promise<string>} getToken the signed-in user's JWT
 * @typedef {object} FileRecord A file as `GET /files/{file_id}` answers it (docs/api.md).
 * @property {string} file_id
 * @property {string} key `users/{owner}/{file_id}`
 * @property {string} filename
 * @property {string} content_type
 * @property {number} size
 * @property {"pending" | "ready" | "rejected"} status
 * @property {string} [reason] why a rejected file was rejected
 * @property {string} created_at RFC 3339
 */

/** An answer of the API other than 2xx, or no answer at all (`status` 0, `code`
 * `network_error`). `code` and `message` are the error contract's (`docs/api.md`); `quota`
 * holds the numbers of a 413 `quota_exceeded`; `requestId` is API Gateway's id of the request
 * (the body's `request_id`), by which the functions' log lines can be found. */
export class ApiError extends Error {
  constructor(status, code, message, quota = null, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.quota = quota;
    this.requestId = requestId;
  }
}

/** `waitUntilSettled` gave up: the file was still pending (or not there) at its deadline. */
export class NotSettledError extends Error {
  constructor(fileId, timeoutMs) {
    super(`File ${fileId} was not ready after ${Math.round(timeoutMs / 1000)} s`);
    this.name = "NotSettledError";
    this.fileId = fileId;
  }
}

/** Calls the API at `api` (its base URL) with the user's token (`getToken`, sync or async)
 * and a JSON body when given. Resolves to the answer's JSON (`null` when it has none, as a 204
 * has not); rejects with an ApiError.
 * @param {Client} client
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>} */
export async function callApi({ api, getToken }, method, path, body) {
  const base = String(api ?? "").replace(/\/+$/, "");
  const headers = { Authorization: `Bearer ${await getToken()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch {
    throw new ApiError(0, "network_error", `Could not reach the API at ${base || "(empty URL)"}`);
  }
  return readApiResponse(res);
}

/** The JSON of a `fetch` response of the API (or of the CDN's cookie route, which answers in
 * the same contract): `null` when there is none; an ApiError when it is not 2xx. */
export async function readApiResponse(res) {
  const text = res.status === 204 ? "" : await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON; a success without JSON reads as null, a failure is reported below
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      data?.error || `http_${res.status}`,
      data?.message || `HTTP ${res.status}`,
      data?.quota ?? null,
      data?.request_id ?? null,
    );
  }
  return data;
}

/** Polls `GET /files/{fileId}` until the file is `ready` or `rejected`, and resolves to it.
 * Failures that may pass (no answer, 5xx) are polled through; so is a 404 while
 * `whileMissing` (an object uploaded with temporary credentials has no record until
 * record-ownership adopts it). Any other error rejects, as does `signal` (with its reason)
 * and the deadline (a NotSettledError).
 * @param {Client} client
 * @param {string} fileId
 * @param {{timeoutMs?: number, intervalMs?: number, signal?: AbortSignal, whileMissing?: boolean}} [options]
 * @returns {Promise<FileRecord>} */
export async function waitUntilSettled(
  client,
  fileId,
  { timeoutMs = 60_000, intervalMs = 500, signal, whileMissing = true } = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const file = await callApi(client, "GET", `/files/${encodeURIComponent(fileId)}`);
      if (file && file.status !== "pending") return file;
    } catch (err) {
      const passing = err instanceof ApiError && (err.status === 0 || err.status >= 500 || (whileMissing && err.status === 404));
      if (!passing) throw err;
    }
    if (Date.now() + intervalMs > deadline) throw new NotSettledError(fileId, timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
