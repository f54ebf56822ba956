// Push approval on the demo page in headless Chromium. This script is also
// the phone app: an Ed25519 device key made with node:crypto, enrolled over
// the API, whose pushes arrive in the development outbox.
//
// The page signs in with the password, asks for a push and shows a
// number; the app reads the request, picks that number and approves; the
// page completes the sign-in from the event stream. A second sign-in is
// denied on the app, and the page says so.
//
// Usage: node push.mjs BASE_URL OUTBOX_PATH SCREENSHOT_PATH
import { check, launch } from "./common.mjs";
import { createHash, generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";

const [base, outbox, screenshot] = process.argv.slice(2);
if (!base || !outbox || !screenshot) {
  console.error("usage: node push.mjs BASE_URL OUTBOX_PATH SCREENSHOT_PATH");
  process.exit(2);
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

// ---- the app ----
const device = `node-phone-${randomUUID().slice(0, 8)}`;
const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const rawKey = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
const thumbprint = createHash("sha256").update("ed25519").update(Buffer.from([0])).update(rawKey).digest();

async function enrol(bearer) {
  const start = await api("POST", "/api/mfa/push/enroll/start", { label: "node phone" }, { authorization: "Bearer " + bearer });
  const message = `mfa-rs push enrolment v1\nchallenge=${start.challenge}\nkey=${b64url(thumbprint)}\n`;
  return api("POST", "/api/mfa/push/enroll/finish", {
    id: start.id,
    algorithm: "ed25519",
    public_key: b64url(rawKey),
    address: { kind: "dev", token: device },
    signature: b64url(sign(null, Buffer.from(message), privateKey)),
    device: { kind: "mobile", brand: "Node", model: "Test phone", app_version: "1.0" },
  }, { authorization: "Bearer " + bearer });
}

// The newest push the outbox holds for this device, other than `seen`.
async function nextPush(seen) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (existsSync(outbox)) {
      const pushes = readFileSync(outbox, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
        .filter((l) => l.kind === "push" && l.to === device && !seen.includes(l.request));
      if (pushes.length) return pushes[pushes.length - 1].request;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no push reached the app");
}

async function answer(request, number, decision) {
  const at = Math.floor(Date.now() / 1000);
  const text = `mfa-rs push answer v1\nrequest=${request}\nnumber=${number}\ndecision=${decision}\nat=${at}\nuser_verified=true\n`;
  return api("POST", "/api/mfa/push/answer", {
    request, number, decision, at, user_verified: true,
    signature: b64url(sign(null, Buffer.from(text), privateKey)),
  });
}

// ---- the account, with the app as its second factor ----
const identifier = `push-${randomUUID().slice(0, 8)}@example.test`;
const password = "correct horse battery staple";
await api("POST", "/api/signup", { identifier, password });
const first = await api("POST", "/api/login", { identifier, password });
const enrolled = await enrol(first.access_token);
check(Array.isArray(enrolled.backup_codes), "the app enrols as the first factor");

const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 900, height: 1100 } })).newPage();
  page.setDefaultTimeout(15_000);
  const status = () => page.locator("#status").innerText();
  const seen = [];

  const signInWithPush = async () => {
    await page.fill("#login-identifier", identifier);
    await page.fill("#login-password", password);
    await page.click("#login-submit");
    await page.waitForSelector("#mfa-push:not(.hidden)");
    await page.click("#mfa-push");
    await page.waitForFunction(() => /^\d\d$/.test(document.getElementById("push-number").textContent));
    const shown = Number(await page.locator("#push-number").innerText());
    const request = await nextPush(seen);
    seen.push(request);
    const prompt = await api("GET", `/api/mfa/push/requests/${request}`);
    check(prompt.choices.includes(shown), `the app offers the number the page shows (${shown} in ${prompt.choices})`);
    return { request, shown };
  };

  await page.goto(base + "/");
  check((await status()).includes("Not signed in"), "the demo page loads signed out");

  const approve = await signInWithPush();
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, "number screenshot saved to " + screenshot);
  await answer(approve.request, approve.shown, "approve");
  await page.waitForFunction(() => /AAL2.*swk/.test(document.getElementById("status").textContent));
  check(true, "the page completed the sign-in from the event stream: " + (await status()));

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  // The server's cooldown between two pushes (one second in this test).
  await new Promise((r) => setTimeout(r, 1500));

  const deny = await signInWithPush();
  await answer(deny.request, deny.shown, "deny");
  await page.waitForFunction(() => document.getElementById("push-state").textContent.includes("Denied"));
  check((await status()).includes("Not signed in"), "a denial leaves the page signed out and says so");
  console.log("push browser test passed");
} finally {
  await browser.close();
}
