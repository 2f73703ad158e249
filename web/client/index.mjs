// @private-uploads/client: the browser client of private-uploads. The API client and its
// error contract (api.mjs), the upload engine for all four modes (upload.mjs), and the
// checksums and signing it uses. The Uppy plugin is `@private-uploads/client/uppy`.

/**
 * @typedef {import("./api.mjs").Client} Client
 * @typedef {import("./api.mjs").FileRecord} FileRecord
 * @typedef {import("./upload.mjs").Mode} Mode
 * @typedef {import("./upload.mjs").Stage} Stage
 * @typedef {import("./upload.mjs").Progress} Progress
 * @typedef {import("./upload.mjs").UnfinishedUpload} UnfinishedUpload
 * @typedef {import("./upload.mjs").UploadOptions} UploadOptions
 * @typedef {import("./upload.mjs").Uploaded} Uploaded
 * @typedef {import("./upload.mjs").Credentials} Credentials
 */

export { ApiError, NotSettledError, callApi, readApiResponse, waitUntilSettled } from "./api.mjs";
export {
  CredentialsSession,
  MAX_SINGLE_BYTES,
  SHA256_MAX_BYTES,
  TransferError,
  abortUpload,
  chooseMode,
  contentTypeOf,
  findUnfinished,
  isSameFile,
  listUnfinished,
  objectUrl,
  partLength,
  requestCredentials,
  resumeMultipart,
  sha256Of,
  uploadFile,
  uuidv7,
} from "./upload.mjs";
export { Crc64Nvme, crc64nvmeOf } from "./crc64nvme.mjs";
export { signS3Request } from "./sigv4.mjs";
