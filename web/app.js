// private-uploads web page: sign in, upload (presigned PUT, POST form, or multipart with
// per-part retry and resume after a reload), list, view, delete, and a gallery of the
// user's images loaded from the CDN by signed cookies alone. The uploads go through the
// browser client package (web/client, `@private-uploads/client`); this file is the page.
// All user-controlled text goes through textContent / DOM properties, never innerHTML.
// Nothing secret is stored: the token stays in memory; localStorage holds the API and CDN
// URLs, the upload settings, and the unfinished multipart uploads (ids and file facts, no
// URLs). The gallery's cookies are HttpOnly: the browser keeps them, this script never sees
// them.

import {
  ApiError,
  MAX_SINGLE_BYTES,
  NotSettledError,
  callApi,
  findUnfinished,
  isSameFile,
  listUnfinished,
  readApiResponse,
  resumeMultipart,
  uploadFile,
  waitUntilSettled,
} from "./client/index.mjs";

const PAGE_SIZE = 20;
const POLL_INTERVAL_MS = 500;
const POLL_TIMEOUT_MS = 30_000;
const API_URL_KEY = "private-uploads.api-url";
const CDN_URL_KEY = "private-uploads.cdn-url";
const SETTINGS_KEY = "private-uploads.settings";
const UNFINISHED_KEY = "private-uploads.unfinished";

const MIB = 1024 * 1024;
const DEFAULT_THRESHOLD_MIB = 8;

// The gallery cookies' lifetime: their Max-Age is the stack's ViewUrlMaxSeconds (3600 by
// default), which the page cannot read (the cookies are HttpOnly). They are renewed at 80% of
// it, whenever the gallery is drawn again after half of it, and when a thumbnail fails to
// load with cookies older than the attempt (so a stack with a shorter lifetime still works).
const GALLERY_COOKIE_MS = 3600 * 1000;
const COOKIE_RENEW_AT = 0.8;
const COOKIE_STALE_AT = 0.5;

// Shown as thumbnails: raster types a browser draws in <img>. Script-capable types (SVG…) are
// refused at upload by default and never listed here: a thumbnail is only ever a picture.
const RASTER_IMAGE_TYPES = new Set([
  "image/png",
  "image/apng",
  "image/jpeg",
  "image/pjpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/bmp",
  "image/x-icon",
  "image/vnd.microsoft.icon",
]);

const $ = (id) => document.getElementById(id);
const el = {
  modeNote: $("mode-note"),
  status: $("status"),
  apiUrl: $("api-url"),
  cdnUrl: $("cdn-url"),
  localForm: $("local-signin"),
  devUser: $("dev-user"),
  devButton: $("dev-signin-button"),
  tokenForm: $("token-signin"),
  tokenInput: $("token-input"),
  tokenButton: $("token-button"),
  signedIn: $("signed-in"),
  signOut: $("signout-button"),
  uploadForm: $("upload-form"),
  dropZone: $("drop-zone"),
  fileInput: $("file-input"),
  threshold: $("multipart-threshold"),
  useForm: $("use-form"),
  uploadButton: $("upload-button"),
  unfinished: $("unfinished"),
  unfinishedList: $("unfinished-list"),
  resumeInput: $("resume-input"),
  uploadList: $("upload-list"),
  refresh: $("refresh-button"),
  fileBody: document.querySelector("#file-list tbody"),
  empty: $("file-list-empty"),
  loadMore: $("load-more"),
  galleryNote: $("gallery-note"),
  gallery: $("gallery"),
  previewSection: $("preview-section"),
  preview: $("preview"),
  previewClose: $("preview-close"),
  announcer: $("announcer"),
  confirmDialog: $("confirm-dialog"),
  confirmTitle: $("confirm-title"),
  confirmText: $("confirm-text"),
  confirmCancel: $("confirm-cancel"),
  confirmOk: $("confirm-ok"),
};

const state = {
  local: false,
  token: null, // kept in memory only
  owner: "", // the token's issuer and subject: whose unfinished uploads to offer
  session: 0, // bumped on every sign-in; stale async work checks it and stops
  sessionEnded: new AbortController(), // aborted (and replaced) with each bump
  listRequest: 0, // bumped on every list load; stale responses are dropped
  nextCursor: null,
  files: new Map(), // file_id -> File, for the rows on screen
  deleted: new Set(), // file_ids deleted in this session, kept out of listings still in flight
  confirmOpenings: 0, // counts the confirmation dialog's openings
  uploading: false,
  queue: [], // {file, session} waiting their turn, one upload at a time
  batch: { ok: 0, total: 0 }, // counted until the queue is empty
  active: new Set(), // file_ids of the multipart uploads running in this page
  remote: [], // the user's unfinished multipart uploads as the API lists them (any device)
  resumeFor: null, // the unfinished upload the resume picker was opened for
  listLoaded: false, // the first page of the file list has arrived for this session
  galleryRender: 0, // bumped on every gallery render; stale renders stop
  galleryItems: new Map(), // file_id -> <li> of its thumbnail, kept across renders
  cookies: { session: -1, issuedAt: 0, pending: null, timer: 0 }, // the gallery's cookies
};

// ---------- small helpers ----------

function describe(err) {
  if (err instanceof ApiError) {
    const text = err.quota ? describeQuota(err.quota) : err.message;
    // The request id finds the request in the functions' logs (docs/operations.md).
    const request = err.requestId ? `, request ${err.requestId}` : "";
    return err.code ? `${text} (${err.code}${request})` : text;
  }
  return err?.message || String(err);
}

function describeQuota(q) {
  const count = (n) => (Number.isFinite(n) ? n.toLocaleString() : "?");
  let text =
    `Not enough room: ${formatSize(q.used_bytes)} of ${formatSize(q.max_bytes)} and ` +
    `${count(q.used_files)} of ${count(q.max_files)} files are used or reserved; ` +
    `this file needs ${formatSize(q.requested_bytes)}.`;
  const bytesFit = q.used_bytes + q.requested_bytes <= q.max_bytes;
  const filesFit = q.used_files < q.max_files;
  if (bytesFit && filesFit) text += " Too many uploads are in progress at once; finish or discard some first.";
  return text;
}

function setStatus(message, isError = false) {
  el.status.textContent = message;
  el.status.classList.toggle("error", isError);
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

function timeElement(iso) {
  const t = document.createElement("time");
  if (!iso) {
    t.textContent = "—";
    return t;
  }
  const d = new Date(iso);
  t.dateTime = iso;
  t.textContent = Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  return t;
}

function apiBase() {
  return el.apiUrl.value.trim().replace(/\/+$/, "");
}

function cdnBase() {
  return el.cdnUrl.value.trim().replace(/\/+$/, "");
}

// Where the API is and who calls it, as the client package takes it: the URL in the
// settings, the signed-in user's token.
function client() {
  return { api: apiBase(), getToken: () => state.token };
}

// The API, called with the signed-in user's token (web/client/api.mjs).
function api(method, path, body) {
  return callApi(client(), method, path, body);
}

// Who the token names, read (not verified: the API does that) only to keep one user's
// unfinished uploads from being offered to another user of the same browser.
function tokenOwner(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
    return typeof claims?.sub === "string" ? `${claims.iss ?? ""} ${claims.sub}` : "";
  } catch {
    return "";
  }
}

function readStored(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? "null");
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

function writeStored(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: uploads still work, they just cannot be resumed.
  }
}

// ---------- mode and sign-in ----------

async function detectLocalMode() {
  try {
    const res = await fetch("/local/config", { headers: { Accept: "application/json" } });
    if (!res.ok) return null;
    const config = await res.json();
    return config?.mode === "local" ? config : null;
  } catch {
    return null;
  }
}

async function init() {
  const pageOrigin = location.origin !== "null" ? location.origin : "";
  const config = await detectLocalMode();
  state.local = Boolean(config);
  if (state.local) {
    el.apiUrl.value = config.api_url || pageOrigin;
    el.cdnUrl.value = config.cdn_url || "";
    el.modeNote.textContent = "Local mode: sign in as a test user.";
    el.localForm.hidden = false;
  } else {
    el.apiUrl.value = localStorage.getItem(API_URL_KEY) || pageOrigin;
    el.cdnUrl.value = localStorage.getItem(CDN_URL_KEY) || "";
    el.modeNote.textContent = "Paste a token from your identity provider to sign in.";
    el.tokenForm.hidden = false;
  }
  loadSettings();
}

el.apiUrl.addEventListener("change", () => {
  if (!state.local) localStorage.setItem(API_URL_KEY, apiBase());
});

el.cdnUrl.addEventListener("change", () => {
  if (!state.local) {
    if (cdnBase()) localStorage.setItem(CDN_URL_KEY, cdnBase());
    else localStorage.removeItem(CDN_URL_KEY);
  }
  clearGallery(); // thumbnails of the old URL go; the cookies stay valid for the API's domain
  renderGallery();
});

el.localForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = el.devUser.value.trim();
  if (!user) return;
  el.devButton.disabled = true;
  setStatus(`Signing in as ${user}…`);
  try {
    const res = await fetch("/local/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user }),
    });
    const data = await readApiResponse(res);
    if (!data?.token) throw new Error("The token endpoint returned no token.");
    signIn(data.token, `Signed in as ${user}`);
  } catch (err) {
    setStatus(`Sign-in failed: ${describe(err)}`, true);
  } finally {
    el.devButton.disabled = false;
  }
});

el.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = el.tokenInput.value.trim().replace(/^Bearer\s+/i, "");
  if (!token) return;
  el.tokenInput.value = "";
  if (!state.local) localStorage.setItem(API_URL_KEY, apiBase());
  signIn(token, "Signed in with a token");
});

function signIn(token, label) {
  endSession();
  state.token = token;
  state.owner = tokenOwner(token);
  el.signedIn.textContent = label;
  el.signOut.hidden = false;
  el.uploadButton.disabled = false;
  el.refresh.disabled = false;
  setStatus(label);
  renderUnfinished();
  loadRemoteUnfinished();
  renderGallery();
  loadFiles(false);
}

function signOut() {
  endSession();
  state.token = null;
  state.owner = "";
  el.signedIn.textContent = "Not signed in";
  el.signOut.hidden = true;
  el.uploadButton.disabled = true;
  el.refresh.disabled = true;
  el.empty.textContent = "Sign in to see your files.";
  setStatus("Signed out.");
  renderUnfinished();
  renderGallery();
}

// Forgets everything of the user signed in so far: uploads, list, preview, gallery.
function endSession() {
  state.session += 1;
  state.deleted.clear();
  state.sessionEnded.abort();
  state.sessionEnded = new AbortController();
  state.queue = [];
  state.remote = [];
  state.batch = { ok: 0, total: 0 };
  el.uploadList.replaceChildren();
  clearPreview();
  clearList();
  clearGallery();
  forgetGalleryCookies();
}

el.signOut.addEventListener("click", signOut);

// ---------- file list ----------

function clearList() {
  state.listRequest += 1;
  state.listLoaded = false;
  state.files.clear();
  state.nextCursor = null;
  el.fileBody.replaceChildren();
  el.loadMore.hidden = true;
  el.empty.textContent = "Loading…";
  el.empty.hidden = false;
}

async function loadFiles(append) {
  if (!state.token) return;
  const request = ++state.listRequest;
  let path = `/files?limit=${PAGE_SIZE}`;
  if (append && state.nextCursor) path += `&cursor=${encodeURIComponent(state.nextCursor)}`;
  el.loadMore.disabled = true;
  try {
    const data = await api("GET", path);
    if (request !== state.listRequest) return; // a newer load or a sign-in superseded this one
    if (!append) {
      state.files.clear();
      el.fileBody.replaceChildren();
    }
    for (const file of data?.files ?? []) {
      if (state.deleted.has(file.file_id)) continue; // a listing sent before its delete
      state.files.set(file.file_id, file);
      el.fileBody.append(fileRow(file));
    }
    state.nextCursor = data?.next_cursor ?? null;
    state.listLoaded = true;
    el.loadMore.hidden = state.nextCursor === null;
    updateEmpty();
    renderGallery();
  } catch (err) {
    if (request !== state.listRequest) return;
    el.empty.hidden = state.files.size > 0;
    el.empty.textContent = "Could not load your files.";
    if (state.galleryItems.size === 0) showGalleryNote("Could not load your files.", true);
    setStatus(`Could not load files: ${describe(err)}`, true);
  } finally {
    el.loadMore.disabled = false;
  }
}

function updateEmpty() {
  el.empty.textContent = "No files yet.";
  el.empty.hidden = el.fileBody.rows.length > 0;
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function button(label, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function fileRow(file) {
  const tr = document.createElement("tr");
  tr.dataset.fileId = file.file_id;
  tr.dataset.status = file.status;

  const name = document.createElement("span");
  name.className = "file-name";
  name.textContent = file.filename;

  const status = document.createElement("span");
  status.className = `badge status-${file.status}`;
  status.textContent = file.status;
  const statusCell = cell(status);
  if (file.status === "rejected" && file.reason) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = file.reason;
    statusCell.append(reason);
  }

  const actions = cell();
  actions.className = "actions";
  if (file.status === "ready") actions.append(button("Open", "open-button", () => openFile(file)));
  actions.append(button("Delete", "delete-button", () => deleteFile(file, tr)));

  tr.append(
    cell(name),
    cell(formatSize(file.size)),
    cell(file.content_type ?? ""),
    statusCell,
    cell(timeElement(file.uploaded_at ?? file.created_at)),
    actions,
  );
  return tr;
}

// Asks before what cannot be undone, in a modal dialog: focus starts on Cancel, Escape
// cancels, and focus returns where it was. Resolves to whether `action` was chosen.
function askConfirm(title, text, action) {
  const dialog = el.confirmDialog;
  el.confirmTitle.textContent = title;
  el.confirmText.textContent = text;
  el.confirmOk.textContent = action;
  dialog.returnValue = "cancel";
  const opening = ++state.confirmOpenings;
  return new Promise((resolve) => {
    // A "close" can arrive late, after the dialog was opened again: it ends an earlier
    // opening (as a cancel), never this one.
    const closed = () => {
      const current = opening === state.confirmOpenings;
      if (current && dialog.open) return;
      dialog.removeEventListener("close", closed);
      resolve(current && dialog.returnValue === "ok");
    };
    dialog.addEventListener("close", closed);
    dialog.showModal();
    el.confirmCancel.focus();
  });
}

async function deleteFile(file, row) {
  if (!(await askConfirm("Delete this file?", `“${file.filename}” will be deleted. This cannot be undone.`, "Delete"))) return;
  const session = state.session;
  row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await api("DELETE", `/files/${encodeURIComponent(file.file_id)}`);
    if (session !== state.session) return;
    state.deleted.add(file.file_id);
    // Its row as on screen now (a listing may have drawn it again since the click).
    el.fileBody.querySelector(`tr[data-file-id="${CSS.escape(file.file_id)}"]`)?.remove();
    row.remove();
    state.files.delete(file.file_id);
    if (el.preview.dataset.fileId === file.file_id) clearPreview();
    updateEmpty();
    renderGallery();
    setStatus(`Deleted ${file.filename}`);
  } catch (err) {
    row.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    setStatus(`Could not delete ${file.filename}: ${describe(err)}`, true);
  }
}

el.refresh.addEventListener("click", () => loadFiles(false));
el.loadMore.addEventListener("click", () => loadFiles(true));

// ---------- preview ----------

function clearPreview() {
  el.preview.replaceChildren();
  delete el.preview.dataset.fileId;
  el.previewSection.hidden = true;
}

async function openFile(file, { reveal = false } = {}) {
  const session = state.session;
  setStatus(`Opening ${file.filename}…`);
  try {
    const data = await api("GET", `/files/${encodeURIComponent(file.file_id)}/url`);
    if (session !== state.session) return;
    showPreview(file, data);
    if (reveal) el.previewSection.scrollIntoView({ block: "nearest" });
    setStatus(`Opened ${file.filename}`);
  } catch (err) {
    setStatus(`Could not open ${file.filename}: ${describe(err)}`, true);
  }
}

function showPreview(file, { url, expires_at: expiresAt }) {
  const title = document.createElement("p");
  title.className = "file-name";
  title.textContent = file.filename;

  let body;
  if ((file.content_type ?? "").startsWith("image/")) {
    body = document.createElement("img");
    body.id = "preview-image";
    body.src = url;
    body.alt = file.filename;
  } else {
    body = document.createElement("a");
    body.id = "preview-link";
    body.href = url;
    body.target = "_blank";
    body.rel = "noopener";
    body.textContent = `Open ${file.filename} in a new tab`;
  }

  const expires = document.createElement("p");
  expires.id = "preview-expires";
  expires.className = "muted";
  expires.append("Link expires ", timeElement(expiresAt));

  el.preview.replaceChildren(title, body, expires);
  el.preview.dataset.fileId = file.file_id;
  el.previewSection.hidden = false;
}

el.previewClose.addEventListener("click", clearPreview);

// ---------- gallery: the user's images, loaded from the CDN by cookie alone ----------

// POST /files/cookies sets CloudFront signed cookies (HttpOnly, Secure, SameSite=Strict) of a
// custom policy for <cdn>/users/<owner>/*, with Path=/users/<owner>/ and no Domain. The page
// asks for them through the CDN's own host (<cdn>/files/cookies, which the distribution sends
// to the API uncached), so they belong to the CDN's host and to no sibling host. With them a
// plain <img src="<cdn>/users/<owner>/<id>"> loads, with no signed URL per file. The browser
// must keep them, hence `credentials: "include"` (the API's CORS rule allows credentials).
//
// Switching user or signing out cannot remove the previous user's cookies (HttpOnly: no
// script can), and they stay in this browser until their Max-Age runs out. They never open
// another user's files: their Path=/users/<owner>/ keeps the browser from sending them with a
// request for any other user's path, and their policy's resource (users/<owner>/*) makes the
// CDN refuse them there anyway.

function isRasterImage(contentType) {
  const essence = String(contentType ?? "").split(";")[0].trim().toLowerCase();
  return RASTER_IMAGE_TYPES.has(essence);
}

// <cdn>/<key>, each segment of the key (users/<owner>/<file_id>) percent-encoded.
function thumbnailUrl(file) {
  return `${cdnBase()}/${file.key.split("/").map(encodeURIComponent).join("/")}`;
}

// The files on screen that the gallery shows, in the list's order (newest first).
function galleryFiles() {
  return [...state.files.values()].filter(
    (f) => f.status === "ready" && typeof f.key === "string" && f.key !== "" && isRasterImage(f.content_type),
  );
}

function forgetGalleryCookies() {
  clearTimeout(state.cookies.timer);
  state.cookies = { session: state.session, issuedAt: 0, pending: null, timer: 0 };
}

// Resolves once this session's cookies are set: asks for them when there are none yet, when
// they are past half their lifetime, or when `force` (a thumbnail failed with them).
function galleryCookies(force = false) {
  if (state.cookies.session !== state.session) forgetGalleryCookies();
  const cookies = state.cookies;
  if (cookies.pending) return cookies.pending;
  if (!force && cookies.issuedAt && Date.now() - cookies.issuedAt < GALLERY_COOKIE_MS * COOKIE_STALE_AT) {
    return Promise.resolve();
  }
  const pending = requestGalleryCookies(state.session, state.token).finally(() => {
    if (cookies.pending === pending) cookies.pending = null;
  });
  cookies.pending = pending;
  return pending;
}

async function requestGalleryCookies(session, token) {
  let res;
  try {
    res = await fetch(`${cdnBase()}/files/cookies`, {
      method: "POST",
      credentials: "include", // or the browser drops the Set-Cookie of a cross-origin answer
      headers: { Authorization: `Bearer ${token}` },
    });
  } catch {
    throw new ApiError(0, "network_error", `Could not reach the CDN at ${cdnBase() || "(empty URL)"}`);
  }
  await readApiResponse(res);
  if (session !== state.session) return;
  const cookies = state.cookies;
  cookies.issuedAt = Date.now();
  clearTimeout(cookies.timer);
  cookies.timer = setTimeout(renewGalleryCookies, GALLERY_COOKIE_MS * COOKIE_RENEW_AT);
}

// Before the cookies run out, while the gallery shows something (lazy thumbnails further
// down still have to load).
function renewGalleryCookies() {
  if (!state.token || state.galleryItems.size === 0) return;
  const session = state.session;
  galleryCookies(true).catch((err) => {
    if (session !== state.session) return;
    showGalleryNote(`Could not renew access to the gallery: ${describe(err)}`, true);
  });
}

function showGalleryNote(text, isError = false) {
  el.galleryNote.textContent = text;
  el.galleryNote.classList.toggle("error", isError);
  el.galleryNote.hidden = text === "";
}

function clearGallery() {
  state.galleryRender += 1;
  state.galleryItems.clear();
  el.gallery.replaceChildren();
  el.gallery.hidden = true;
}

// Draws the gallery from the files on screen, keeping the thumbnails already there (no
// reload); asks for the cookies first, so that no thumbnail is requested without them.
async function renderGallery() {
  const render = ++state.galleryRender;
  const session = state.session;
  if (!state.token) {
    clearGallery();
    showGalleryNote("Sign in to see your images.");
    return;
  }
  if (!cdnBase()) {
    clearGallery();
    showGalleryNote(
      "Set the CDN URL above (the stack's CdnUrl output) to see your images here. Each file still opens from the list below.",
    );
    return;
  }
  const files = galleryFiles();
  if (files.length === 0) {
    clearGallery();
    showGalleryNote(state.listLoaded ? "No images yet: the PNG, JPEG, GIF, WebP and AVIF files you upload show here." : "Loading…");
    return;
  }
  try {
    await galleryCookies();
  } catch (err) {
    if (render !== state.galleryRender || session !== state.session) return;
    clearGallery();
    showGalleryNote(`Could not open the gallery: ${describe(err)}`, true);
    return;
  }
  if (render !== state.galleryRender || session !== state.session) return;
  const items = files.map((file) => state.galleryItems.get(file.file_id) ?? galleryItem(file));
  state.galleryItems = new Map(items.map((li) => [li.dataset.fileId, li]));
  el.gallery.replaceChildren(...items);
  el.gallery.hidden = false;
  showGalleryNote(state.nextCursor ? "Images among the files loaded below; Load more shows older ones." : "");
}

function galleryItem(file) {
  const li = document.createElement("li");
  li.className = "gallery-item";
  li.dataset.fileId = file.file_id;
  li.dataset.state = "loading";

  const open = document.createElement("button");
  open.type = "button";
  open.className = "gallery-open";
  open.title = `Open ${file.filename}`;
  open.append(thumbnail(file, li, false));
  open.addEventListener("click", () => openFile(file, { reveal: true }));

  const caption = document.createElement("figcaption");
  caption.className = "gallery-name file-name";
  caption.textContent = file.filename;

  const figure = document.createElement("figure");
  figure.append(open, caption);
  li.append(figure);
  return li;
}

// The plain CDN URL, no signature: the cookies open it.
function thumbnail(file, li, retried) {
  const img = document.createElement("img");
  img.className = "gallery-thumb";
  img.loading = "lazy"; // before src, or the load starts at once
  img.decoding = "async";
  img.alt = file.filename;
  const started = Date.now();
  img.addEventListener("load", () => {
    li.dataset.state = "loaded";
  });
  img.addEventListener("error", () => thumbnailFailed(file, li, img, started, retried));
  img.src = thumbnailUrl(file);
  return img;
}

// A thumbnail that did not load most likely met cookies that had run out (a laptop asleep, a
// stack with a shorter lifetime): renew them unless that happened since it started, and try
// once more.
async function thumbnailFailed(file, li, img, started, retried) {
  const session = state.session;
  if (!retried) {
    li.dataset.state = "retrying";
    try {
      await galleryCookies(state.cookies.issuedAt <= started);
    } catch {
      // shown below if the second try fails too
    }
    if (session !== state.session || !img.isConnected) return;
    img.replaceWith(thumbnail(file, li, true));
    return;
  }
  li.dataset.state = "error";
  const caption = li.querySelector("figcaption");
  if (caption && !caption.querySelector(".gallery-error")) {
    const note = document.createElement("span");
    note.className = "gallery-error error";
    note.textContent = "Could not load the image";
    caption.append(note);
  }
}

// ---------- upload settings ----------

function loadSettings() {
  const saved = readStored(SETTINGS_KEY, {});
  if (Number.isFinite(saved.multipart_threshold_mib) && saved.multipart_threshold_mib >= 1) {
    el.threshold.value = String(saved.multipart_threshold_mib);
  }
  el.useForm.checked = saved.use_form === true;
}

function saveSettings() {
  writeStored(SETTINGS_KEY, { multipart_threshold_mib: thresholdMib(), use_form: el.useForm.checked });
}

function thresholdMib() {
  const value = Number(el.threshold.value);
  return Number.isFinite(value) && value >= 1 ? value : DEFAULT_THRESHOLD_MIB;
}

// Files above the threshold (and any too big for one request) go up in parts.
function wantsMultipart(file) {
  return file.size > 0 && (file.size > thresholdMib() * MIB || file.size > MAX_SINGLE_BYTES);
}

el.threshold.addEventListener("change", () => {
  if (!(Number(el.threshold.value) >= 1)) {
    setStatus(`The multipart threshold must be a number of MiB, at least 1; using ${thresholdMib()}.`, true);
  }
  saveSettings();
});
el.useForm.addEventListener("change", saveSettings);

// ---------- unfinished multipart uploads (kept across reloads) ----------

// An entry: {owner, file_id, upload_id, part_size, part_count, filename, size,
// last_modified, content_type, started_at}. No token and no URL: part URLs are asked for
// again when the upload resumes.
function readUnfinished() {
  const list = readStored(UNFINISHED_KEY, []);
  return Array.isArray(list) ? list.filter((e) => e && typeof e.file_id === "string") : [];
}

function saveUnfinished(entry) {
  writeStored(UNFINISHED_KEY, [...readUnfinished().filter((e) => e.file_id !== entry.file_id), entry]);
}

function forgetUnfinished(fileId) {
  state.remote = state.remote.filter((e) => e.file_id !== fileId);
  const rest = readUnfinished().filter((e) => e.file_id !== fileId);
  writeStored(UNFINISHED_KEY, rest.length ? rest : null);
  renderUnfinished();
}

function myUnfinished() {
  return readUnfinished().filter((e) => e.owner === state.owner && !state.active.has(e.file_id));
}

function sameFile(entry, file) {
  return entry.filename === file.name && entry.size === file.size && entry.last_modified === file.lastModified;
}

function describeEntry(entry) {
  // An upload begun elsewhere does not know when its file was modified.
  const modified = entry.last_modified == null ? "" : `, modified ${new Date(entry.last_modified).toLocaleString()}`;
  return `${entry.filename} (${formatSize(entry.size)}${modified})`;
}

// The unfinished uploads the API lists that this browser does not hold: begun in another
// browser or on another device (or before this browser's storage was cleared).
function remoteOnly() {
  const here = new Set(readUnfinished().filter((e) => e.owner === state.owner).map((e) => e.file_id));
  return state.remote.filter((e) => !here.has(e.file_id) && !state.active.has(e.file_id));
}

// Asks the API for the user's unfinished uploads (GET /uploads); a failure leaves the list
// as it was (this browser's own entries still show).
async function loadRemoteUnfinished() {
  const session = state.session;
  try {
    const remote = await listUnfinished(client());
    if (session !== state.session) return;
    state.remote = remote.map((entry) => ({ ...entry, remote: true }));
    renderUnfinished();
  } catch (err) {
    console.warn("could not list unfinished uploads", err);
  }
}

function renderUnfinished() {
  const entries = state.token ? [...myUnfinished(), ...remoteOnly()] : [];
  el.unfinishedList.replaceChildren(...entries.map(unfinishedRow));
  el.unfinished.hidden = entries.length === 0;
}

function unfinishedRow(entry) {
  const li = document.createElement("li");
  li.className = "unfinished-row";
  li.dataset.fileId = entry.file_id;

  const name = document.createElement("span");
  name.className = "file-name";
  name.textContent = entry.filename;

  const facts = document.createElement("span");
  facts.className = "muted";
  facts.append(`${formatSize(entry.size)}, started `, timeElement(entry.started_at));
  if (entry.remote) facts.append(" in another browser or device");

  const resume = button("Resume…", "resume-button", () => chooseResumeFile(entry));
  resume.setAttribute("aria-label", `Resume ${entry.filename}: choose the same file again`);
  const discard = button("Discard", "discard-button", () => discardUnfinished(entry, li));
  discard.setAttribute("aria-label", `Discard the unfinished upload of ${entry.filename}`);

  const actions = document.createElement("span");
  actions.className = "actions";
  actions.append(resume, discard);
  li.append(name, facts, actions);
  return li;
}

function chooseResumeFile(entry) {
  state.resumeFor = entry;
  el.resumeInput.value = "";
  el.resumeInput.click();
}

el.resumeInput.addEventListener("change", async () => {
  const file = el.resumeInput.files[0];
  const entry = state.resumeFor;
  el.resumeInput.value = "";
  state.resumeFor = null;
  if (!file || !entry) return;
  const session = state.session;
  let same = false;
  try {
    same = entry.remote ? await isSameFile(client(), entry, file) : sameFile(entry, file);
  } catch (err) {
    setStatus(`Could not check “${file.name}” against the unfinished upload: ${describe(err)}`, true);
    return;
  }
  if (session !== state.session) return;
  if (!same) {
    setStatus(`“${file.name}” is not the file this upload started with: choose ${describeEntry(entry)}.`, true);
    return;
  }
  // Begun elsewhere: this browser keeps it from now on, tied to this very file.
  if (entry.remote) adoptRemote(entry, file);
  enqueue([file]);
});

// Keeps `entry` (begun elsewhere) in this browser, tied to `file`; returns what it keeps.
function adoptRemote(entry, file) {
  const { remote, ...rest } = entry;
  const kept = { ...rest, owner: state.owner, last_modified: file.lastModified };
  saveUnfinished(kept);
  state.remote = state.remote.filter((e) => e.file_id !== entry.file_id);
  return kept;
}

// A file that matches an upload begun in another browser or device (name and size, then its
// first part's CRC64NVME): offer to carry on with it rather than start again.
async function offerRemoteResume(file) {
  let match = null;
  try {
    match = await findUnfinished(client(), file, remoteOnly());
  } catch (err) {
    console.warn("could not compare with the unfinished uploads", err);
  }
  if (!match) return null;
  const text =
    `“${file.name}” (${formatSize(file.size)}) matches an upload started ${new Date(match.started_at).toLocaleString()} ` +
    "in another browser or device. Resume it to send only the parts still missing; Cancel uploads it as a new file.";
  if (!(await askConfirm("Resume the unfinished upload?", text, "Resume"))) return null;
  return adoptRemote(match, file);
}

async function discardUnfinished(entry, row) {
  const text = `The parts of “${entry.filename}” sent so far will be deleted.`;
  if (!(await askConfirm("Discard this unfinished upload?", text, "Discard"))) return;
  const session = state.session;
  row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await api("DELETE", `/uploads/${encodeURIComponent(entry.file_id)}`);
    if (session !== state.session) return;
    setStatus(`Discarded the unfinished upload of ${entry.filename}`);
    loadFiles(false); // its pending record is gone too
  } catch (err) {
    if (session !== state.session) return;
    if (err.code === "upload_not_pending") {
      setStatus(`${entry.filename} had already finished uploading; it is in your files.`);
      loadFiles(false);
    } else if (err.status === 404) {
      setStatus(`The unfinished upload of ${entry.filename} had already expired.`);
    } else {
      row.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      setStatus(`Could not discard ${entry.filename}: ${describe(err)}`, true);
      return;
    }
  }
  forgetUnfinished(entry.file_id);
}

// ---------- choosing files: picker, drop zone ----------

el.uploadForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const files = [...el.fileInput.files];
  if (files.length === 0) {
    setStatus("Choose one or more files first.", true);
    return;
  }
  el.fileInput.value = "";
  enqueue(files);
});

function draggingFiles(event) {
  return [...(event.dataTransfer?.types ?? [])].includes("Files");
}

for (const type of ["dragenter", "dragover"]) {
  el.dropZone.addEventListener(type, (event) => {
    if (!draggingFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    el.dropZone.classList.add("dragging");
  });
}

el.dropZone.addEventListener("dragleave", (event) => {
  if (!el.dropZone.contains(event.relatedTarget)) el.dropZone.classList.remove("dragging");
});

el.dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  el.dropZone.classList.remove("dragging");
  const items = [...(event.dataTransfer?.items ?? [])].filter((item) => item.kind === "file");
  const isFolder = (item) => item.webkitGetAsEntry?.()?.isDirectory === true;
  const folders = items.filter(isFolder).length;
  const files = items.length
    ? items.filter((item) => !isFolder(item)).map((item) => item.getAsFile()).filter(Boolean)
    : [...(event.dataTransfer?.files ?? [])];
  if (files.length) enqueue(files);
  if (folders) setStatus("Folders are not uploaded; drop the files inside them instead.", true);
});

// A file dropped anywhere else would make the browser leave the page to show it.
window.addEventListener("dragover", (event) => {
  if (draggingFiles(event) && !el.dropZone.contains(event.target)) {
    event.preventDefault();
    event.dataTransfer.dropEffect = "none";
  }
});
window.addEventListener("drop", (event) => {
  if (!el.dropZone.contains(event.target)) event.preventDefault();
});

// ---------- the upload queue ----------

function enqueue(files) {
  if (!state.token) {
    setStatus("Sign in before uploading.", true);
    return;
  }
  const session = state.session;
  for (const file of files) state.queue.push({ file, session });
  if (!state.uploading) drainQueue();
}

async function drainQueue() {
  state.uploading = true;
  try {
    while (state.queue.length > 0) {
      const { file, session } = state.queue.shift();
      if (session !== state.session) continue;
      state.batch.total += 1;
      if (await uploadOne(file, session)) state.batch.ok += 1;
    }
  } finally {
    state.uploading = false;
  }
  const { ok, total } = state.batch;
  state.batch = { ok: 0, total: 0 };
  if (total > 0) {
    setStatus(`${ok} of ${total} file${total === 1 ? "" : "s"} uploaded.`, ok < total);
    loadFiles(false);
  }
}

// ---------- one upload ----------

function uploadRow(file) {
  const li = document.createElement("li");
  li.className = "upload-row";
  li.dataset.state = "preparing";

  const name = document.createElement("span");
  name.className = "upload-name file-name";
  name.textContent = file.name;

  const progress = document.createElement("progress");
  progress.className = "upload-progress";
  progress.max = Math.max(file.size, 1);
  progress.value = 0;
  progress.setAttribute("aria-label", `Upload progress for ${file.name}`);

  const status = document.createElement("span");
  status.className = "upload-status";

  li.append(name, progress, status);
  el.uploadList.append(li);

  // Screen readers hear each change of state and every quarter of the progress, not each
  // percent.
  let announced = "";
  const announce = (text) => {
    if (text === announced) return;
    announced = text;
    el.announcer.textContent = `${file.name}: ${text}`;
  };
  let quarter = -1;

  return {
    li,
    progress,
    set(stateName, text, isError = false) {
      li.dataset.state = stateName;
      status.textContent = text;
      status.classList.toggle("error", isError);
      if (stateName !== "uploading") announce(text);
    },
    // Bytes sent of `total`; `suffix` adds detail such as the parts done.
    show(sent, total, suffix = "") {
      const max = Math.max(total, 1);
      const value = Math.min(sent, max);
      const percent = Math.floor((value / max) * 100);
      progress.max = max;
      progress.value = value;
      progress.setAttribute("aria-valuetext", `${percent}% (${formatSize(value)} of ${formatSize(total)})`);
      this.set("uploading", `Uploading… ${percent}%${suffix}`);
      if (Math.floor(percent / 25) !== quarter) {
        quarter = Math.floor(percent / 25);
        announce(`uploading, ${quarter * 25}%`);
      }
    },
    finish() {
      progress.value = progress.max;
      progress.setAttribute("aria-valuetext", "100%");
    },
  };
}

// Returns true when the file ended up `ready`.
async function uploadOne(file, session) {
  const row = uploadRow(file);
  try {
    const fileId = await sendFile(file, row, session);
    if (!fileId || session !== state.session) return false;
    row.finish();

    row.set("checking", "Uploaded, waiting for confirmation…");
    const final = await pollUntilSettled(fileId, session);
    if (!final) {
      if (session === state.session) row.set("pending", "Still pending; refresh later.", true);
      return false;
    }
    if (final.status === "ready") {
      row.set("ready", "Ready");
      return true;
    }
    row.set("rejected", `Rejected${final.reason ? `: ${final.reason}` : ""}`, true);
    return false;
  } catch (err) {
    const hint = err.resumable && !err.cancelled ? " It is listed under Unfinished uploads: resume it to send only what is missing." : "";
    row.set("error", `Failed: ${describe(err)}${hint}`, true);
    return false;
  }
}

// Sends the file the way the settings (or an unfinished upload of it) say, through the
// client package's engine (web/client/upload.mjs); resolves to its file_id once storage
// holds it, or null when the user signed out or in again meanwhile. A single request
// carries the file's SHA-256 up to 32 MiB (hashing reads the file into memory); multipart
// carries a full-object CRC64NVME, computed a slice at a time.
async function sendFile(file, row, session) {
  const unfinished = myUnfinished().find((entry) => sameFile(entry, file)) ?? (await offerRemoteResume(file));
  if (session !== state.session) return null;
  const mode = unfinished || wantsMultipart(file) ? "multipart" : el.useForm.checked ? "form" : "put";
  let kept = unfinished?.file_id ?? null; // the unfinished upload stored for this file
  const asking = {
    put: "Requesting upload URL…",
    form: "Requesting upload form…",
    multipart: unfinished ? "Checking which parts storage already holds…" : "Requesting upload URLs…",
  };
  const options = {
    mode,
    signal: state.sessionEnded.signal,
    onStage(stage) {
      if (stage === "checksum") row.set("preparing", "Computing checksum…");
      else if (stage === "requesting") row.set("requesting", asking[mode]);
      else if (stage === "uploading") row.show(0, file.size);
      else if (stage === "completing") row.set("completing", "Putting the parts together…");
    },
    onIssued({ fileId }) {
      row.li.dataset.fileId = fileId;
      if (mode === "multipart") {
        state.active.add(fileId);
        renderUnfinished();
      }
    },
    onProgress({ sent, total, partsDone, partCount, retrying }) {
      if (!partCount) return row.show(sent, total);
      const retries = retrying.map(({ part, why }) => `; retrying part ${part} after ${why}`).join("");
      row.show(sent, total, ` (${partsDone} of ${partCount} part${partCount === 1 ? "" : "s"}${retries})`);
    },
    onUnfinished(entry) {
      if (entry) {
        kept = entry.file_id;
        saveUnfinished({ owner: state.owner, ...entry });
      } else if (kept) {
        forgetUnfinished(kept);
        kept = null;
      }
    },
  };
  try {
    const { fileId } = unfinished
      ? await resumeMultipart(client(), unfinished, file, options)
      : await uploadFile(client(), file, options);
    return session === state.session ? fileId : null;
  } catch (err) {
    if (session !== state.session) return null;
    err.resumable = Boolean(err.resumable && kept);
    throw err;
  } finally {
    if (row.li.dataset.fileId) state.active.delete(row.li.dataset.fileId);
    renderUnfinished();
  }
}

// Polls GET /files/{id} until the record leaves `pending`; null on timeout or sign-out.
// The file once `ready` or `rejected`; null when it is still pending at the deadline or
// the user signed in again meanwhile.
async function pollUntilSettled(fileId, session) {
  if (session !== state.session) return null;
  try {
    return await waitUntilSettled(client(), fileId, {
      timeoutMs: POLL_TIMEOUT_MS,
      intervalMs: POLL_INTERVAL_MS,
      signal: state.sessionEnded.signal,
      whileMissing: false, // the page's uploads have a record from the start
    });
  } catch (err) {
    if (err instanceof NotSettledError || state.sessionEnded.signal.aborted) return null;
    throw err;
  }
}

init();
