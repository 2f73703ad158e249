// Options for Uppy 6's `@uppy/aws-s3` that upload into private-uploads
// (`@private-uploads/client/uppy`). It calls the product's HTTP API with the caller's token,
// through this package's client, and hands Uppy what it asks for; it imports nothing from
// Uppy (the peer dependencies say which Uppy it is written for).
//
//   const uppy = new Uppy().use(AwsS3, await privateUploadsCredentials({ api, getToken }))
//   uppy.on("upload-success", async (file, res) => {
//     const record = await waitUntilSettled({ api, getToken }, fileIdOf(res.body.key))
//   })
//
// Two modes:
//   privateUploadsCredentials: `POST /credentials` gives temporary AWS credentials that may
//     only create `users/{owner}/{uuidv7}`; Uppy signs every S3 request itself (single PUT or
//     multipart, with pause and resume). Objects arrive without a record; record-ownership
//     adopts each one (size, type and content checks) and names it by its file id, because
//     Uppy 6 sends no `x-amz-meta-filename`.
//   privateUploadsPresigned: `POST /uploads` (or `/uploads/form`) issues one presigned PUT (or
//     POST form) per file; the record (with the file's name) exists from the start. Single
//     requests only: see the note there.
//
// `api` is the HTTP API's base URL; `getToken` an async function returning the user's JWT.
// Any other option is passed to AwsS3 as is (it overrides the defaults here). Make new
// options, and a new Uppy, when another user signs in: Uppy keeps the credentials it got.

import { callApi } from "./api.mjs";
import { expiresWithin, requestCredentials, uuidv7 } from "./upload.mjs";

// The API client's error and poller, for the adapter's users.
export { ApiError, NotSettledError, waitUntilSettled } from "./api.mjs";
export { uuidv7 } from "./upload.mjs";

const MiB = 1024 * 1024;

/** Uppy options for the credentials mode (temporary STS credentials). Awaits one `POST /credentials` first:
 * `generateObjectKey` is synchronous and must know the caller's prefix.
 * @param {import("./api.mjs").Client & {multipartAbove?: number, partSize?: number, [uppyOption: string]: unknown}} options
 * @returns {Promise<Record<string, unknown>>} options for `uppy.use(AwsS3, options)` */
export async function privateUploadsCredentials({
  api,
  getToken,
  multipartAbove = 8 * MiB,
  partSize = 5 * MiB,
  ...uppyOptions
}) {
  const base = trimSlashes(api);
  let unused = await requestCredentials({ api: base, getToken });
  const { prefix, bucket, region } = unused;
  const s3Endpoint = unused.endpoint
    ? `${trimSlashes(unused.endpoint)}/${bucket}` // the local stack's S3: path-style
    : `https://${bucket}.s3.${region}.amazonaws.com`;
  return {
    s3Endpoint,
    region,
    // Uppy calls this on its first request and caches the answer; it asks again only after
    // S3 answers ExpiredToken or InvalidAccessKeyId.
    async getCredentials() {
      let issued = unused;
      unused = null;
      if (!issued || expiresWithin(issued, 60_000)) issued = await requestCredentials({ api: base, getToken });
      if (issued.prefix !== prefix) {
        throw new Error("The signed-in user changed: make a new Uppy with new options.");
      }
      return {
        credentials: {
          accessKeyId: issued.access_key_id,
          secretAccessKey: issued.secret_access_key,
          sessionToken: issued.session_token,
          expiration: issued.expiration,
        },
        bucket: issued.bucket,
        region: issued.region,
      };
    },
    // The only keys the credentials may write, and the only ones record-ownership adopts.
    generateObjectKey: () => `${prefix}${uuidv7()}`,
    shouldUseMultipart: (file) => (file.size ?? 0) > multipartAbove,
    getChunkSize: () => partSize,
    ...uppyOptions,
  };
}

/** Uppy options for the presigned mode: the API issues one presigned PUT per file (or, with
 * `form: true`, a POST form).
 * @param {import("./api.mjs").Client & {form?: boolean, [uppyOption: string]: unknown}} options
 * @returns {Record<string, unknown>} options for `uppy.use(AwsS3, options)` */
export function privateUploadsPresigned({ api, getToken, form = false, ...uppyOptions }) {
  const base = trimSlashes(api);
  const files = new Map(); // Uppy's placeholder key -> the file (signRequest only sees the key)
  return {
    // Our multipart API (`POST /uploads/multipart`) creates and completes uploads on the
    // server, while Uppy 6's signRequest wants a URL to send CreateMultipartUpload and
    // CompleteMultipartUpload to S3 itself. So this mode sends each file in one request (up
    // to S3's 5 GiB); for multipart, pause and resume use privateUploadsCredentials.
    shouldUseMultipart: false,
    // A placeholder: the API picks the real key, which signRequest hands back to Uppy.
    generateObjectKey(file) {
      const key = `pending/${uuidv7()}`;
      files.set(key, { name: file.name, size: file.size });
      return key;
    },
    async signRequest(request) {
      if (request.method !== "PUT" || "uploadId" in request) {
        throw new Error(`private-uploads presigns single uploads only, not ${request.method} ${request.key}`);
      }
      const file = files.get(request.key);
      if (!file) throw new Error(`No file for key ${request.key}`);
      const issued = await callApi({ api: base, getToken }, "POST", form ? "/uploads/form" : "/uploads", {
        filename: file.name || "file",
        content_type: request.contentType || "application/octet-stream",
        size: file.size,
      });
      const { url, headers = {}, fields } = issued.upload;
      if (form) return { url, fields, key: issued.key };
      // Content-Type and If-None-Match are signed and must be sent as given; the browser
      // sets Content-Length (also signed) from the body.
      const sent = Object.fromEntries(
        Object.entries(headers).filter(([name]) => !["content-length", "host"].includes(name.toLowerCase())),
      );
      return { url, headers: sent, key: issued.key };
    },
    ...uppyOptions,
  };
}

/** The product's file id for an object key (`users/{owner}/{file_id}`), or for an Uppy file
 * once uploaded (or once its multipart upload has begun).
 * @param {string | {response?: {body?: {key?: string}}, s3Multipart?: {key?: string}}} keyOrFile
 * @returns {string | undefined} */
export function fileIdOf(keyOrFile) {
  const key =
    typeof keyOrFile === "string" ? keyOrFile : (keyOrFile?.response?.body?.key ?? keyOrFile?.s3Multipart?.key);
  if (typeof key !== "string" || !key.includes("/")) return undefined;
  return key.slice(key.lastIndexOf("/") + 1);
}

// ---------- internals ----------

function trimSlashes(url) {
  if (typeof url !== "string" || !url) throw new TypeError("`api` must be the API's base URL");
  return url.replace(/\/+$/, "");
}
