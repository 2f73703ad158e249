// private-uploads web page: sign in, upload via presigned PUT, list, view, delete.
// All user-controlled text goes through textContent / DOM properties, never innerHTML.

const PAGE_SIZE = 20;
const POLL_INTERVAL_MS = 500;
const POLL_TIMEOUT_MS = 30_000;
const API_URL_KEY = "private-uploads.api-url";

const $ = (id) => document.getElementById(id);
const el = {
  modeNote: $("mode-note"),
  status: $("status"),
  apiUrl: $("api-url"),
  localForm: $("local-signin"),
  devUser: $("dev-user"),
  devButton: $("dev-signin-button"),
  tokenForm: $("token-signin"),
  tokenInput: $("token-input"),
  tokenButton: $("token-button"),
  signedIn: $("signed-in"),
  uploadForm: $("upload-form"),
  fileInput: $("file-input"),
  uploadButton: $("upload-button"),
  uploadList: $("upload-list"),
  refresh: $("refresh-button"),
  fileBody: document.querySelector("#file-list tbody"),
  empty: $("file-list-empty"),
  loadMore: $("load-more"),
  previewSection: $("preview-section"),
  preview: $("preview"),
  previewClose: $("preview-close"),
};

const state = {
  local: false,
  token: null, // kept in memory only
  session: 0, // bumped on every sign-in; stale async work checks it and stops
  listRequest: 0, // bumped on every list load; stale responses are dropped
  nextCursor: null,
  files: new Map(), // file_id -> File, for the rows on screen
  uploading: false,
  xhrs: new Set(), // in-flight PUTs, aborted when the user switches
};

// ---------- small helpers ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function describe(err) {
  if (err instanceof ApiError) return err.code ? `${err.message} (${err.code})` : err.message;
  return err?.message || String(err);
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function apiBase() {
  return el.apiUrl.value.trim().replace(/\/+$/, "");
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiBase() + path, init);
  } catch {
    throw new ApiError(0, "network_error", `Could not reach the API at ${apiBase() || "(empty URL)"}`);
  }
  return readJson(res);
}

async function readJson(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON; handled below
  }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error || `http_${res.status}`, data?.message || `HTTP ${res.status}`);
  }
  return data;
}

async function sha256Base64(file) {
  if (!globalThis.crypto?.subtle) return undefined;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
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
    el.modeNote.textContent = "Local mode: sign in as a test user.";
    el.localForm.hidden = false;
  } else {
    el.apiUrl.value = localStorage.getItem(API_URL_KEY) || pageOrigin;
    el.modeNote.textContent = "Paste a token from your identity provider to sign in.";
    el.tokenForm.hidden = false;
  }
}

el.apiUrl.addEventListener("change", () => {
  if (!state.local) localStorage.setItem(API_URL_KEY, apiBase());
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
    const data = await readJson(res);
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
  state.token = token;
  state.session += 1;
  for (const xhr of state.xhrs) xhr.abort();
  state.xhrs.clear();
  el.uploadList.replaceChildren();
  clearPreview();
  clearList();
  el.signedIn.textContent = label;
  el.uploadButton.disabled = state.uploading;
  el.refresh.disabled = false;
  setStatus(label);
  loadFiles(false);
}

// ---------- file list ----------

function clearList() {
  state.listRequest += 1;
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
      state.files.set(file.file_id, file);
      el.fileBody.append(fileRow(file));
    }
    state.nextCursor = data?.next_cursor ?? null;
    el.loadMore.hidden = state.nextCursor === null;
    updateEmpty();
  } catch (err) {
    if (request !== state.listRequest) return;
    el.empty.hidden = state.files.size > 0;
    el.empty.textContent = "Could not load your files.";
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

async function deleteFile(file, row) {
  if (window.__noConfirm !== true && !confirm(`Delete “${file.filename}”? This cannot be undone.`)) return;
  const session = state.session;
  row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await api("DELETE", `/files/${encodeURIComponent(file.file_id)}`);
    if (session !== state.session) return;
    row.remove();
    state.files.delete(file.file_id);
    if (el.preview.dataset.fileId === file.file_id) clearPreview();
    updateEmpty();
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

async function openFile(file) {
  const session = state.session;
  setStatus(`Opening ${file.filename}…`);
  try {
    const data = await api("GET", `/files/${encodeURIComponent(file.file_id)}/url`);
    if (session !== state.session) return;
    showPreview(file, data);
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

// ---------- uploads ----------

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

  return {
    li,
    progress,
    set(stateName, text, isError = false) {
      li.dataset.state = stateName;
      status.textContent = text;
      status.classList.toggle("error", isError);
    },
  };
}

el.uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.token || state.uploading) return;
  const files = [...el.fileInput.files];
  if (files.length === 0) {
    setStatus("Choose one or more files first.", true);
    return;
  }
  el.fileInput.value = "";
  state.uploading = true;
  el.uploadButton.disabled = true;
  const session = state.session;
  let ok = 0;
  try {
    for (const file of files) {
      if (session !== state.session) break;
      if (await uploadOne(file, session)) ok += 1;
    }
  } finally {
    state.uploading = false;
    el.uploadButton.disabled = !state.token;
  }
  if (session === state.session) {
    setStatus(`${ok} of ${files.length} file${files.length === 1 ? "" : "s"} uploaded.`, ok < files.length);
    loadFiles(false);
  }
});

// Returns true when the file ended up `ready`.
async function uploadOne(file, session) {
  const row = uploadRow(file);
  try {
    row.set("preparing", "Computing checksum…");
    const contentType = file.type || "application/octet-stream";
    const sha256 = await sha256Base64(file);
    const request = { filename: file.name, content_type: contentType, size: file.size };
    if (sha256) request.sha256 = sha256;

    row.set("requesting", "Requesting upload URL…");
    const issued = await api("POST", "/uploads", request);
    if (session !== state.session) return false;
    row.li.dataset.fileId = issued.file_id;

    row.set("uploading", "Uploading… 0%");
    await putFile(issued.upload, file, row);
    row.progress.value = row.progress.max;

    row.set("checking", "Uploaded, waiting for confirmation…");
    const final = await pollUntilSettled(issued.file_id, session);
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
    row.set("error", `Failed: ${describe(err)}`, true);
    return false;
  }
}

// Browsers set these themselves and refuse to let scripts set them.
const BROWSER_MANAGED = new Set(["content-length", "host"]);

function putFile(upload, file, row) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    state.xhrs.add(xhr);
    xhr.open(upload.method || "PUT", upload.url);
    for (const [name, value] of Object.entries(upload.headers ?? {})) {
      if (!BROWSER_MANAGED.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => {
      const total = e.lengthComputable ? e.total : file.size;
      row.progress.max = Math.max(total, 1);
      row.progress.value = e.loaded;
      row.set("uploading", `Uploading… ${total ? Math.floor((e.loaded / total) * 100) : 0}%`);
    };
    xhr.onload = () => {
      state.xhrs.delete(xhr);
      if (xhr.status === 200) resolve();
      else reject(s3Error(xhr));
    };
    xhr.onerror = () => {
      state.xhrs.delete(xhr);
      reject(new Error("Network error while uploading to storage (blocked by CORS?)"));
    };
    xhr.onabort = () => {
      state.xhrs.delete(xhr);
      reject(new Error("Upload cancelled"));
    };
    xhr.send(file);
  });
}

function s3Error(xhr) {
  let code = "";
  let message = "";
  try {
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    code = doc.querySelector("Error > Code")?.textContent ?? "";
    message = doc.querySelector("Error > Message")?.textContent ?? "";
  } catch {
    // not XML
  }
  const text = code ? `${code}${message ? `: ${message}` : ""}` : `HTTP ${xhr.status}`;
  return new Error(`Storage refused the upload: ${text}`);
}

// Polls GET /files/{id} until the record leaves `pending`; null on timeout or sign-out.
async function pollUntilSettled(fileId, session) {
  const deadline = Date.now() + POLL_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (session !== state.session) return null;
    try {
      const file = await api("GET", `/files/${encodeURIComponent(fileId)}`);
      if (file && file.status !== "pending") return file;
    } catch (err) {
      // Retry transient failures; give up on client errors (4xx).
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  return null;
}

init();
