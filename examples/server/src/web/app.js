// mfa-rs demo page: vanilla JS, no build step. Tokens live in
// sessionStorage for the demo; the device-trust token is an HttpOnly cookie
// the page never sees.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  access: sessionStorage.getItem("access_token"),
  refresh: sessionStorage.getItem("refresh_token"),
  ticket: null,
  ticketKind: null,
  factorId: null,
  auditCursor: null,
  resetToken: null,
};

// A random, stable identifier of this browser: a signal for device
// recognition, never a secret.
function fingerprint() {
  let fp = localStorage.getItem("device_fingerprint");
  if (!fp) {
    fp = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("device_fingerprint", fp);
  }
  return fp;
}

function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
}

async function api(method, path, body, opts = {}) {
  const headers = { "X-Device-Fingerprint": fingerprint() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.auth !== false && state.access) headers["Authorization"] = "Bearer " + state.access;
  if (opts.ticket) headers["X-MFA-Ticket"] = opts.ticket;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.message || res.statusText);
    err.code = data.error;
    err.status = res.status;
    err.retryAfter = data.retry_after;
    throw err;
  }
  return data;
}

function explain(err) {
  const retry = err.retryAfter ? ` (try again in ${err.retryAfter} s)` : "";
  say(`${err.code || "error"}: ${err.message}${retry}`);
}

function saveTokens(data) {
  state.access = data.access_token;
  state.refresh = data.refresh_token;
  sessionStorage.setItem("access_token", state.access);
  sessionStorage.setItem("refresh_token", state.refresh);
}

function clearTokens() {
  state.access = state.refresh = null;
  sessionStorage.removeItem("access_token");
  sessionStorage.removeItem("refresh_token");
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  row.appendChild(td);
  return td;
}

function when(ts) { return ts ? new Date(ts).toLocaleString() : ""; }

function button(row, label, onClick) {
  const td = document.createElement("td");
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  td.appendChild(b);
  row.appendChild(td);
}

// ---- passkeys (WebAuthn) ----

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let bin = "";
  for (const b of new Uint8Array(buffer)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The server's options (base64url fields) as navigator.credentials takes them.
function creationOptions(options) {
  const pk = structuredClone(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.user.id = fromB64url(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = fromB64url(c.id);
  return pk;
}

function requestOptions(options) {
  const pk = structuredClone(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = fromB64url(c.id);
  return pk;
}

// A credential as the JSON the server reads (PublicKeyCredential.toJSON()).
function credentialJson(cred) {
  if (typeof cred.toJSON === "function") return cred.toJSON();
  const r = cred.response;
  const out = { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, clientExtensionResults: cred.getClientExtensionResults(), response: { clientDataJSON: toB64url(r.clientDataJSON) } };
  if (r.attestationObject) {
    out.response.attestationObject = toB64url(r.attestationObject);
    out.response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    out.response.authenticatorData = toB64url(r.authenticatorData);
    out.response.signature = toB64url(r.signature);
    if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
  }
  return out;
}

// Passkeys offered in the user-name field's autofill (conditional UI),
// started when the field gets the focus, aborted before any other WebAuthn
// call and once signed in.
let autofill = null;

function stopAutofill() {
  if (autofill) { autofill.abort(); autofill = null; }
}

async function passkeySignIn(conditional) {
  stopAutofill();
  const data = await api("POST", "/api/passkey/login/options", {}, { auth: false });
  const request = { publicKey: requestOptions(data.options) };
  if (conditional) {
    autofill = new AbortController();
    request.mediation = "conditional";
    request.signal = autofill.signal;
  }
  const cred = await navigator.credentials.get(request);
  autofill = null;
  const result = await api("POST", "/api/passkey/login", { ceremony: data.ceremony, credential: credentialJson(cred) }, { auth: false });
  await afterSignIn(result);
}

async function startAutofill() {
  if (!window.PublicKeyCredential || !PublicKeyCredential.isConditionalMediationAvailable) return;
  if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
  if (autofill || state.access) return;
  passkeySignIn(true).catch((e) => { if (e.name !== "AbortError") explain(e); });
}

async function loadPasskeys() {
  const data = await api("GET", "/api/mfa/passkeys");
  const body = $("passkey-list");
  body.replaceChildren();
  for (const p of data.passkeys) {
    const row = document.createElement("tr");
    cell(row, (p.label || "passkey") + (p.status === "active" ? "" : ` (${p.status})`));
    cell(row, p.backup_eligible ? "synced" : "device-bound");
    cell(row, when(p.created_at));
    cell(row, when(p.last_used_at));
    button(row, "Remove", async () => {
      try { await api("DELETE", `/api/mfa/passkeys/${p.factor_id}`); say("Passkey removed.", true); await signedInView(); } catch (e) { explain(e); }
    });
    body.appendChild(row);
  }
}

// ---- views ----

function signedOutView() {
  show("signed-out", true);
  show("signed-in", false);
  show("mfa", false);
  show("enrol-required", false);
  show("totp", false);
  $("status").textContent = "Not signed in.";
}

async function signedInView() {
  stopAutofill();
  show("signed-out", false);
  show("mfa", false);
  show("enrol-required", false);
  show("signed-in", true);
  show("totp", true);
  show("totp-setup", false);
  try {
    const me = await api("GET", "/api/user/profile");
    $("status").textContent = `Signed in as ${me.identifier} (${me.session.aal.toUpperCase()}, ${me.session.amr.join(" + ")})`;
    $("profile").textContent = `User ${me.id}, created ${when(me.created_at)}`;
    $("email-state").textContent = me.email
      ? `${me.email} (${me.email_verified_at ? "verified" : "not verified"})`
      : "none";
    show("email-verify-send", Boolean(me.email && !me.email_verified_at));
    const settings = await api("GET", "/api/mfa/settings");
    const active = settings.factors.filter((f) => f.status === "active").map((f) => f.kind);
    $("profile").textContent += active.length
      ? ` · factors: ${active.join(", ")} · backup codes left: ${settings.backup_codes_remaining}`
      : " · no second factor yet";
    await Promise.all([loadTrusted(), loadSessions(), loadAudit(true), loadPasskeys()]);
  } catch (err) {
    if (err.status === 401) {
      clearTokens();
      signedOutView();
    }
    explain(err);
  }
}

async function loadTrusted() {
  const data = await api("GET", "/api/device/trusted");
  const body = $("trusted-list");
  body.replaceChildren();
  for (const d of data.devices) {
    const row = document.createElement("tr");
    const described = d.info.name || [d.info.browser, d.info.os].filter(Boolean).join(" on ");
    cell(row, (described || "device") + (d.current ? " (this one)" : ""));
    cell(row, when(d.last_seen_at));
    cell(row, when(d.trusted_until));
    button(row, "Forget", async () => {
      try { await api("DELETE", `/api/device/${d.id}`); say("Device forgotten.", true); await loadTrusted(); } catch (e) { explain(e); }
    });
    body.appendChild(row);
  }
}

async function loadSessions() {
  const data = await api("GET", "/api/sessions");
  const body = $("sessions-list");
  body.replaceChildren();
  for (const s of data.sessions) {
    const row = document.createElement("tr");
    cell(row, s.id.slice(-8) + (s.current ? " (this one)" : ""));
    cell(row, `${s.aal} · ${s.amr.join("+")}`);
    cell(row, when(s.created_at));
    cell(row, s.ip);
    button(row, s.current ? "Sign out" : "Revoke", async () => {
      try {
        await api("DELETE", `/api/sessions/${s.id}`);
        if (s.current) { clearTokens(); signedOutView(); say("Signed out.", true); } else { await loadSessions(); }
      } catch (e) { explain(e); }
    });
    body.appendChild(row);
  }
}

async function loadAudit(reset) {
  if (reset) { state.auditCursor = null; $("audit-list").replaceChildren(); }
  const q = new URLSearchParams({ limit: "15" });
  if (state.auditCursor) q.set("cursor", state.auditCursor);
  const data = await api("GET", `/api/audit?${q}`);
  for (const e of data.items) {
    const row = document.createElement("tr");
    cell(row, when(e.at));
    cell(row, e.kind.replaceAll("_", " "));
    cell(row, e.outcome);
    cell(row, e.ip);
    $("audit-list").appendChild(row);
  }
  state.auditCursor = data.next_cursor;
  show("audit-more", !!data.next_cursor);
}

function secondFactorView(data) {
  state.ticket = data.ticket;
  state.ticketKind = "mfa";
  show("signed-out", false);
  show("mfa", true);
  $("mfa-methods").textContent = data.methods.join(", ");
  const select = $("mfa-method");
  select.replaceChildren();
  for (const m of data.methods) {
    const o = document.createElement("option");
    o.value = m;
    if (m === "webauthn" || m === "push") continue; // answered with their own buttons
    o.textContent = { totp: "Authenticator app", backup_codes: "Backup code", email: "Email code", sms: "SMS code" }[m] || m;
    select.appendChild(o);
  }
  show("mfa-passkey", data.methods.includes("webauthn"));
  show("mfa-push", data.methods.includes("push"));
  show("push-wait", false);
  $("push-number").textContent = "";
  $("push-state").textContent = "";
  updateSend();
  $("mfa-code").value = "";
  $("mfa-code").focus();
}

function enrolmentView(data) {
  state.ticket = data.ticket;
  state.ticketKind = "enrollment";
  show("signed-out", false);
  show("enrol-required", true);
  show("skip-mfa", !!data.can_skip);
  show("totp", true);
}

function updateSend() {
  const m = $("mfa-method").value;
  show("mfa-send", m === "email" || m === "sms");
}

function showBackupCodes(codes) {
  const list = $("backup-codes");
  list.replaceChildren();
  for (const c of codes) {
    const li = document.createElement("li");
    li.textContent = c;
    list.appendChild(li);
  }
  show("backup", true);
}

async function afterSignIn(data) {
  if (data.access_token) {
    saveTokens(data);
    state.ticket = null;
    await signedInView();
    say("Signed in.", true);
  } else if (data.enrollment_required) {
    enrolmentView(data);
    say("A second factor is required for your account.");
  } else {
    secondFactorView(data);
  }
}

// ---- actions ----

$("signup-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const body = { identifier: $("signup-identifier").value, password: $("signup-password").value };
    if ($("signup-email").value) body.email = $("signup-email").value;
    await api("POST", "/api/signup", body, { auth: false });
    $("login-identifier").value = $("signup-identifier").value;
    say("Account created. Log in now.", true);
  } catch (e) { explain(e); }
});

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const data = await api("POST", "/api/login", {
      identifier: $("login-identifier").value,
      password: $("login-password").value,
    }, { auth: false });
    $("login-password").value = "";
    await afterSignIn(data);
  } catch (e) { explain(e); }
});

$("mfa-method").addEventListener("change", updateSend);

$("mfa-send").addEventListener("click", async () => {
  try {
    const sent = await api("POST", "/api/mfa/challenge", { method: $("mfa-method").value }, { auth: false, ticket: state.ticket });
    say(`Code sent to ${sent.masked_destination}.`, true);
  } catch (e) { explain(e); }
});

$("mfa-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const data = await api("POST", "/api/mfa/verify", {
      method: $("mfa-method").value,
      code: $("mfa-code").value.trim(),
      remember_device: $("mfa-remember").checked,
    }, { auth: false, ticket: state.ticket });
    await afterSignIn(data);
    if (data.backup_codes_remaining != null) say(`Backup code used; ${data.backup_codes_remaining} left.`, true);
  } catch (e) { explain(e); }
});

$("mfa-passkey").addEventListener("click", async () => {
  try {
    stopAutofill();
    const options = await api("POST", "/api/mfa/passkey/options", {}, { auth: false, ticket: state.ticket });
    const cred = await navigator.credentials.get({ publicKey: requestOptions(options.options) });
    const data = await api("POST", "/api/mfa/passkey/verify", {
      ceremony: options.ceremony,
      credential: credentialJson(cred),
      remember_device: $("mfa-remember").checked,
    }, { auth: false, ticket: state.ticket });
    await afterSignIn(data);
  } catch (e) { explain(e); }
});

// ---- push approval ----

const pushText = {
  pending: "Waiting for your phone…",
  approved: "Approved on your phone. Signing in…",
  denied: "Denied on your phone: this sign-in was refused.",
  wrong_number: "The wrong number was picked: this sign-in was refused.",
  expired: "The request expired. Ask for a new one.",
  completed: "Signed in.",
};

// The state of a push request as it changes: Server-Sent Events, or a
// long-poll where EventSource is missing. Calls onState until a final
// state (or an error).
function watchPush(id, ticket, onState) {
  const query = "?ticket=" + encodeURIComponent(ticket);
  if (typeof EventSource === "function") {
    const events = new EventSource(`/api/mfa/push/${id}/events${query}`);
    events.addEventListener("status", (ev) => {
      const { state } = JSON.parse(ev.data);
      if (state !== "pending") events.close();
      onState(state);
    });
    events.addEventListener("error", (ev) => {
      if (ev.data) { events.close(); onState("error", JSON.parse(ev.data).error); }
      // Without data: the connection dropped (a restart); EventSource
      // reconnects by itself and the server reads the state from the store.
    });
    return;
  }
  (async () => {
    let since = "pending";
    for (;;) {
      try {
        const res = await api("GET", `/api/mfa/push/${id}/status${query}&wait=25&since=${since}`, undefined, { auth: false });
        since = res.state;
        if (res.state !== "pending") { onState(res.state); return; }
      } catch (e) { onState("error", e.code); return; }
    }
  })();
}

$("mfa-push").addEventListener("click", async () => {
  try {
    const ticket = state.ticket;
    const pending = await api("POST", "/api/mfa/push", {}, { auth: false, ticket });
    $("push-number").textContent = String(pending.number);
    $("push-state").textContent = pushText.pending;
    show("push-wait", true);
    say(`Sent to ${pending.devices} device(s).`, true);
    watchPush(pending.request, ticket, async (s, code) => {
      if (s === "error") { say(`push: ${code}`); return; }
      $("push-state").textContent = pushText[s] || s;
      if (s !== "approved") { if (s !== "pending") say(pushText[s] || s); return; }
      try {
        const data = await api("POST", `/api/mfa/push/${pending.request}/complete`, {
          remember_device: $("mfa-remember").checked,
        }, { auth: false, ticket });
        show("push-wait", false);
        await afterSignIn(data);
      } catch (e) { explain(e); }
    });
  } catch (e) { explain(e); }
});

$("passkey-login").addEventListener("click", () => passkeySignIn(false).catch(explain));
$("login-identifier").addEventListener("focus", () => { startAutofill(); });

$("passkey-add").addEventListener("click", async () => {
  try {
    stopAutofill();
    const start = await api("POST", "/api/mfa/passkey/register/start", { label: $("passkey-label").value || null });
    const cred = await navigator.credentials.create({ publicKey: creationOptions(start.options) });
    const data = await api("POST", "/api/mfa/passkey/register/finish", { ceremony: start.ceremony, credential: credentialJson(cred) });
    if (data.backup_codes) showBackupCodes(data.backup_codes);
    say("Passkey added.", true);
    await signedInView();
  } catch (e) {
    explain(e);
    if (e.code === "step_up_required") say("This needs a fresh second factor: press “Verify again”.");
  }
});

$("skip-mfa").addEventListener("click", async () => {
  try { await afterSignIn(await api("POST", "/api/login/skip-mfa", {}, { auth: false, ticket: state.ticket })); } catch (e) { explain(e); }
});

$("enroll-start").addEventListener("click", async () => {
  try {
    const opts = state.ticketKind === "enrollment" ? { auth: false, ticket: state.ticket } : {};
    const e = await api("POST", "/api/mfa/totp/enroll", { label: "demo" }, opts);
    state.factorId = e.factor_id;
    $("totp-secret").textContent = e.secret;
    const img = document.createElement("img");
    img.alt = "QR code for your authenticator app";
    img.src = "data:image/svg+xml;base64," + btoa(e.qr_svg);
    $("totp-qr").replaceChildren(img);
    show("totp-setup", true);
    $("enroll-code").focus();
  } catch (e) { explain(e); }
});

$("enroll-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const opts = state.ticketKind === "enrollment" ? { auth: false, ticket: state.ticket } : {};
    const data = await api("POST", "/api/mfa/totp/confirm", { factor_id: state.factorId, code: $("enroll-code").value.trim() }, opts);
    show("totp-setup", false);
    $("enroll-code").value = "";
    if (data.access_token) { await afterSignIn(data); }
    if (data.backup_codes) showBackupCodes(data.backup_codes);
    say("Authenticator app enrolled.", true);
    if (!data.access_token) await signedInView();
  } catch (e) { explain(e); }
});

$("backup-done").addEventListener("click", () => { $("backup-codes").replaceChildren(); show("backup", false); });

$("regen-backup").addEventListener("click", async () => {
  try {
    const data = await api("POST", "/api/mfa/backup-codes");
    showBackupCodes(data.backup_codes);
    say("New backup codes generated; the old ones no longer work.", true);
  } catch (e) {
    explain(e);
    if (e.code === "step_up_required") say("This needs a fresh second factor: press “Verify again”.");
  }
});

$("step-up").addEventListener("click", async () => {
  try {
    const data = await api("POST", "/api/mfa/step-up");
    show("signed-in", false);
    secondFactorView(data);
  } catch (e) { explain(e); }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { /* already gone */ }
  clearTokens();
  signedOutView();
  say("Signed out.", true);
});

// ---- recovery and email verification ----

// The token of an emailed link (`/#reset=…`, `/#verify-email=…`), taken
// out of the address bar at once.
function linkToken(name) {
  const prefix = "#" + name + "=";
  if (!location.hash.startsWith(prefix)) return null;
  const token = decodeURIComponent(location.hash.slice(prefix.length));
  history.replaceState(null, "", location.pathname + location.search);
  return token;
}

async function followLink() {
  const verify = linkToken("verify-email");
  if (verify) {
    try {
      await api("POST", "/api/email/verify", { token: verify }, { auth: false });
      say("Email address verified: security notices and reset links will go there.", true);
    } catch (e) { explain(e); }
    if (state.access) await signedInView();
    return;
  }
  const reset = linkToken("reset");
  if (reset) {
    state.resetToken = reset;
    show("reset", true);
    say("Choose a new password below.", true);
  }
}

$("forgot-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/password/forgot", { identifier: $("forgot-identifier").value }, { auth: false });
    say("If the account has a verified email address, a reset link is on its way.", true);
  } catch (e) { explain(e); }
});

$("reset-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/password/reset", { token: state.resetToken, new_password: $("reset-password").value }, { auth: false });
    state.resetToken = null;
    $("reset-password").value = "";
    show("reset", false);
    clearTokens();
    signedOutView();
    say("Password changed, every session ended. Log in with it (and your second factor).", true);
  } catch (e) { explain(e); }
});

$("email-verify-send").addEventListener("click", async () => {
  try {
    await api("POST", "/api/user/email/verification");
    say("A verification link is on its way to your email address.", true);
  } catch (e) { explain(e); }
});

window.addEventListener("hashchange", () => { followLink(); });

$("refresh-all").addEventListener("click", () => signedInView());
$("audit-more").addEventListener("click", () => loadAudit(false).catch(explain));

if (state.access) { signedInView(); } else { signedOutView(); }
followLink();
