// The Uppy example: sign in, pick files and a mode, upload with Uppy 6 through the adapter,
// pause and resume, and follow each file until the product says it is `ready`.
// User-controlled text goes through textContent only.

import {
  AwsS3,
  Uppy,
  fileIdOf,
  privateUploadsCredentials,
  privateUploadsPresigned,
  waitUntilSettled,
} from "./dist/uppy.min.mjs";

const $ = (id) => document.getElementById(id);
let api = location.origin;
let token = null; // in memory only
const getToken = async () => token;
let uppy = null;
let uppyFor = null; // the token and mode the current Uppy was made for
const rows = new Map(); // Uppy file id -> row

const setStatus = (text, isError = false) => {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
};

// ---------- sign-in: the local stack mints dev tokens; elsewhere paste your IdP's token ----------

const local = await fetch("/local/config", { headers: { Accept: "application/json" } })
  .then((r) => (r.ok ? r.json() : null))
  .catch(() => null);
if (local?.mode === "local") {
  api = local.api_url || api;
  $("local-signin").hidden = false;
} else {
  $("api-url").value = api;
  $("token-signin").hidden = false;
}
setStatus("Sign in to upload.");

function signIn(newToken, label) {
  token = newToken;
  $("signed-in").textContent = label;
  $("upload-button").disabled = false;
  setStatus(label);
}

$("local-signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = $("dev-user").value.trim();
  try {
    const res = await fetch("/local/token", { method: "POST", body: JSON.stringify({ user }) });
    const data = await res.json();
    if (!res.ok || !data?.token) throw new Error(data?.message || `HTTP ${res.status}`);
    signIn(data.token, `Signed in as ${user}`);
  } catch (err) {
    setStatus(`Sign-in failed: ${err.message}`, true);
  }
});

$("token-signin").addEventListener("submit", (event) => {
  event.preventDefault();
  api = $("api-url").value.trim();
  signIn($("token-input").value.trim().replace(/^Bearer\s+/i, ""), "Signed in with a token");
  $("token-input").value = "";
});

// ---------- Uppy: one instance per signed-in user and mode ----------

async function currentUppy() {
  const mode = $("mode").value;
  if (uppy && uppyFor?.token === token && uppyFor.mode === mode) return uppy;
  uppy?.destroy();
  const options =
    mode === "credentials"
      ? await privateUploadsCredentials({ api, getToken }) // one POST /credentials, then Uppy signs
      : privateUploadsPresigned({ api, getToken, form: mode === "form" });
  uppy = new Uppy({ autoProceed: false }).use(AwsS3, options);
  uppyFor = { token, mode };
  uppy.on("file-added", (file) => rows.set(file.id, resultRow(file)));
  uppy.on("upload-progress", (file, { bytesUploaded, bytesTotal }) => {
    const row = rows.get(file.id);
    if (!row || !["queued", "uploading"].includes(row.state)) return; // not once paused or done
    row.set("uploading", `Uploading… ${bytesTotal ? Math.floor((bytesUploaded / bytesTotal) * 100) : 0}%`);
  });
  uppy.on("s3-multipart:part-uploaded", (file) => {
    const row = rows.get(file.id);
    if (row) row.li.dataset.parts = String(Number(row.li.dataset.parts || 0) + 1); // parts done
  });
  uppy.on("upload-success", (file, response) => settle(file, response.body.key));
  uppy.on("upload-error", (file, err) => rows.get(file.id)?.set("error", `Failed: ${err?.message ?? err}`, true));
  return uppy;
}

// After S3 took the bytes, the product checks them (record-ownership); wait for its verdict.
async function settle(file, key) {
  const row = rows.get(file.id);
  const fileId = fileIdOf(key);
  row.li.dataset.fileId = fileId;
  row.set("checking", "Uploaded, waiting for confirmation…");
  try {
    const record = await waitUntilSettled({ api, getToken }, fileId);
    if (record.status !== "ready") {
      row.set(record.status, `Rejected${record.reason ? `: ${record.reason}` : ""}`, true);
      return;
    }
    row.set("ready", "Ready");
    const res = await fetch(`${api}/files/${fileId}/url`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`view URL: HTTP ${res.status}`);
    const link = document.createElement("a");
    link.className = "view-link";
    link.href = (await res.json()).url;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = "Open";
    row.li.append(" ", link);
  } catch (err) {
    row.set("error", `Failed: ${err.message}`, true);
  }
}

function resultRow(file) {
  const li = document.createElement("li");
  li.className = "upload-row";
  const name = document.createElement("span");
  name.className = "file-name";
  name.textContent = file.name;
  const status = document.createElement("span");
  status.className = "upload-status";
  li.append(name, " ", status);
  $("results").append(li);
  const row = {
    li,
    state: "queued",
    set(state, text, isError = false) {
      row.state = state;
      li.dataset.state = state;
      status.textContent = text;
      status.classList.toggle("error", isError);
    },
  };
  row.set("queued", "Queued");
  return row;
}

// ---------- the buttons ----------

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picked = [...$("file-input").files];
  if (!token || picked.length === 0) return setStatus("Sign in and choose files first.", true);
  $("file-input").value = "";
  try {
    const instance = await currentUppy();
    for (const file of picked) instance.addFile({ name: file.name, type: file.type, data: file, source: "file-input" });
    $("pause-button").disabled = false;
    setStatus(`Uploading ${picked.length} file${picked.length === 1 ? "" : "s"}…`);
    const result = await instance.upload();
    setStatus(`${result?.successful?.length ?? 0} uploaded, ${result?.failed?.length ?? 0} failed.`);
    // Done with them (their rows stay): the same files may be picked again.
    for (const file of [...(result?.successful ?? []), ...(result?.failed ?? [])]) instance.removeFile(file.id);
  } catch (err) {
    setStatus(`Upload failed: ${err.message}`, true);
  } finally {
    $("pause-button").disabled = true;
    $("resume-button").disabled = true;
  }
});

$("pause-button").addEventListener("click", () => {
  uppy?.pauseAll();
  for (const [id, row] of rows) if (uppy?.getFile(id)?.isPaused) row.set("paused", "Paused");
  $("pause-button").disabled = true;
  $("resume-button").disabled = false;
});

$("resume-button").addEventListener("click", () => {
  for (const row of rows.values()) if (row.state === "paused") row.set("uploading", "Resuming…");
  uppy?.resumeAll();
  $("resume-button").disabled = true;
  $("pause-button").disabled = false;
});
