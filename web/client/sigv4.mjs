// AWS Signature Version 4 for the S3 requests of the credentials mode (`POST /credentials`
// gives temporary credentials; the browser signs its own PutObject), with WebCrypto only.
// Header signing, as the AWS SDK does it: the payload is not hashed (`UNSIGNED-PAYLOAD`),
// and every header given is signed, with `host`, `x-amz-date`, `x-amz-content-sha256` and
// `x-amz-security-token`. Checked against botocore's S3SigV4Auth (test/sigv4.test.mjs).

const encoder = new TextEncoder();

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

async function hmac(key, text) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const imported = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(text)));
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** RFC 3986 percent-encoding, as SigV4 wants it (`encodeURIComponent` leaves `!'()*`). */
export function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A key as a URL path: each `/`-separated segment encoded. */
export function keyPath(key) {
  return key.split("/").map(uriEncode).join("/");
}

/** The headers that sign `method url` (whose path must already be encoded, as `keyPath`
 * makes it) with `headers` (all signed; names are lowercased) for S3 in `region`, with
 * `credentials` ({accessKeyId, secretAccessKey, sessionToken}) at `now`. Send exactly the
 * headers returned; the browser adds Host and Content-Length itself.
 * @param {{method: string, url: string, headers?: Record<string, string>, region: string, now?: Date,
 *   credentials: {accessKeyId: string, secretAccessKey: string, sessionToken?: string}}} request
 * @returns {Promise<Record<string, string>>} */
export async function signS3Request({ method, url, headers = {}, credentials, region, now = new Date() }) {
  const target = new URL(url);
  const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const sent = {};
  for (const [name, value] of Object.entries(headers)) sent[name.toLowerCase()] = String(value).trim();
  sent["x-amz-date"] = amzDate;
  sent["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
  if (credentials.sessionToken) sent["x-amz-security-token"] = credentials.sessionToken;
  const signing = { ...sent, host: target.host };
  const names = Object.keys(signing).sort();
  const query = [...target.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonical = [
    method.toUpperCase(),
    target.pathname || "/",
    query,
    names.map((n) => `${n}:${signing[n].replace(/\s+/g, " ")}\n`).join(""),
    names.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, "s3", "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  sent.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return sent;
}
