// The JavaScript peer of `benches/peers/run.sh`: better-auth with its
// `twoFactor` plugin on better-sqlite3, in-process (no HTTP).
//
// Usage: node better_auth.mjs OUT.json WORK_DIR
// (run from the directory whose node_modules hold better-auth; run.sh copies
// this file there, so imports resolve against the temporary install).
//
// Times the same operations as `benches/src/bin/peers.rs`:
// - totp_verify: `createOTP(secret).verify(code)` from @better-auth/utils/otp,
//   the primitive the plugin's verify-totp endpoint calls (window ±1; it
//   imports the WebCrypto HMAC key on every call, as the endpoint does).
// - totp_verify_sealed_seed: `symmetricDecrypt` (better-auth/crypto, the
//   stored-secret decryption the endpoint runs first) + the same verify.
// - login_totp_flow_{default,cheap}_hash: `auth.api.signInEmail` (returns
//   twoFactorRedirect and sets the signed two-factor cookie) then
//   `auth.api.verifyTOTP` with that cookie (session created), on a
//   better-sqlite3 file database. Default hashing is better-auth's scrypt
//   (N=16384, r=16, p=1); cheap is a salted SHA-256 through
//   `emailAndPassword.password.{hash,verify}`.
//
// better-auth keeps no last-used TOTP step, so it has no replay guard to
// exercise: the code of the current real time is verified on every flow.

import { writeFileSync, rmSync, readFileSync } from "node:fs";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { twoFactor } from "better-auth/plugins";
import { getMigrations } from "better-auth/db/migration";
import { symmetricDecrypt, symmetricEncrypt } from "better-auth/crypto";
import { createOTP } from "@better-auth/utils/otp";
import { base32 } from "@better-auth/utils/base32";

const PURE_BATCHES = 200;
const PURE_PER_BATCH = 100;
const FLOWS_DEFAULT_HASH = 20;
const FLOWS_CHEAP_HASH = 300;
const WARMUP_FLOWS = 3;
const SECRET = "peers-bench-secret-not-for-production-0123456789abcdef";

function summary(perOpNs, note, iterations) {
  const sorted = [...perOpNs].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  return { median_ns: median, mean_ns: mean, iterations: iterations ?? n, note };
}

const now = () => process.hrtime.bigint();

async function batched(op, note) {
  for (let i = 0; i < PURE_PER_BATCH * 10; i++) await op();
  const samples = [];
  for (let b = 0; b < PURE_BATCHES; b++) {
    const start = now();
    for (let i = 0; i < PURE_PER_BATCH; i++) await op();
    samples.push(Number(now() - start) / PURE_PER_BATCH);
  }
  return summary(samples, note, PURE_BATCHES * PURE_PER_BATCH);
}

function fail(what) {
  throw new Error(`${what}: a valid code was rejected`);
}

async function pureTotp(results) {
  // A secret as the plugin generates it: a random string whose UTF-8 bytes
  // are the HMAC key.
  const secret = randomBytes(24).toString("base64url").slice(0, 32);
  const code = await createOTP(secret, { period: 30, digits: 6 }).totp();
  results.totp_verify = {
    "better-auth": await batched(
      async () => (await createOTP(secret, { period: 30, digits: 6 }).verify(code)) || fail("createOTP.verify"),
      "@better-auth/utils/otp createOTP(secret).verify(code) (window 1, WebCrypto HMAC key imported per call)",
    ),
  };
  const sealed = await symmetricEncrypt({ key: SECRET, data: secret });
  results.totp_verify_sealed_seed = {
    "better-auth": await batched(
      async () => {
        const seed = await symmetricDecrypt({ key: SECRET, data: sealed });
        (await createOTP(seed, { period: 30, digits: 6 }).verify(code)) || fail("decrypt + verify");
      },
      "better-auth/crypto symmetricDecrypt (XChaCha20-Poly1305, key from the auth secret) + createOTP(seed).verify(code)",
    ),
  };
}

/// Session cookies as a browser would keep them across the two calls.
class Jar {
  constructor() {
    this.cookies = new Map();
  }
  take(headers) {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }
  headers() {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    return new Headers({ cookie });
  }
}

function cheapPasswords() {
  return {
    hash: async (password) => {
      const salt = randomBytes(16).toString("hex");
      return `${salt}:${createHash("sha256").update(salt + password).digest("hex")}`;
    },
    verify: async ({ hash, password }) => {
      const [salt, digest] = hash.split(":");
      const actual = createHash("sha256").update(salt + password).digest();
      return timingSafeEqual(actual, Buffer.from(digest, "hex"));
    },
  };
}

async function loginFlow(results, workDir, mode) {
  const file = join(workDir, `better-auth-${mode}.db`);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  const db = new Database(file);
  // The same pragmas as our SqliteStore (WAL, synchronous=NORMAL).
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  const options = {
    database: db,
    secret: SECRET,
    baseURL: "http://localhost:3000",
    logger: { disabled: true },
    telemetry: { enabled: false },
    emailAndPassword: {
      enabled: true,
      ...(mode === "cheap" ? { password: cheapPasswords() } : {}),
    },
    plugins: [twoFactor()],
  };
  const auth = betterAuth(options);
  const { runMigrations } = await getMigrations(options);
  await runMigrations();

  const email = "alice@peers.test";
  const password = "peer bench password 123";
  const jar = new Jar();
  const signUp = await auth.api.signUpEmail({
    body: { email, password, name: "Alice" },
    returnHeaders: true,
  });
  jar.take(signUp.headers);
  const enabled = await auth.api.enableTwoFactor({
    body: { password },
    headers: jar.headers(),
    returnHeaders: true,
  });
  jar.take(enabled.headers);
  const uri = new URL(enabled.response.totpURI);
  const seed = new TextDecoder().decode(base32.decode(uri.searchParams.get("secret")));
  const otp = createOTP(seed, { period: 30, digits: 6 });
  // Confirm the enrolment (marks the factor verified, turns 2FA on).
  const confirmed = await auth.api.verifyTOTP({
    body: { code: await otp.totp() },
    headers: jar.headers(),
    returnHeaders: true,
  });
  jar.take(confirmed.headers);

  const flows = mode === "cheap" ? FLOWS_CHEAP_HASH : FLOWS_DEFAULT_HASH;
  const warmup = WARMUP_FLOWS * (mode === "cheap" ? 10 : 1);
  const samples = [];
  for (let i = 0; i < warmup + flows; i++) {
    const code = await otp.totp();
    const browser = new Jar();
    const start = now();
    const signIn = await auth.api.signInEmail({
      body: { email, password },
      returnHeaders: true,
    });
    if (!signIn.response.twoFactorRedirect) throw new Error("sign-in did not ask for the second factor");
    browser.take(signIn.headers);
    const verified = await auth.api.verifyTOTP({
      body: { code },
      headers: browser.headers(),
      returnHeaders: true,
    });
    const elapsed = Number(now() - start);
    if (!verified.response.token) fail("verifyTOTP");
    if (i >= warmup) samples.push(elapsed);
  }
  db.close();
  const hashing =
    mode === "cheap"
      ? "salted SHA-256 via emailAndPassword.password.{hash,verify} (cheap test hasher)"
      : "scrypt N=16384 r=16 p=1 via node:crypto (better-auth default)";
  results[`login_totp_flow_${mode}_hash`] = {
    "better-auth": summary(
      samples,
      "auth.api.signInEmail (twoFactorRedirect + signed cookie, verification row) -> auth.api.verifyTOTP " +
        "(cookie check, attempt counter, decrypt + verify, session row + cookie); better-sqlite3 file " +
        `(WAL, synchronous=NORMAL); no TOTP replay guard in better-auth; its rate limiter only runs in the HTTP handler, so not here; ${hashing}`,
    ),
  };
}

function version(name) {
  const pkg = JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)));
  return pkg.version;
}

const out = process.argv[2] ?? "/tmp/peers-better-auth.json";
const workDir = process.argv[3] ?? "/tmp";
const results = {};
await pureTotp(results);
await loginFlow(results, workDir, "default");
await loginFlow(results, workDir, "cheap");
const report = {
  side: "better-auth",
  versions: {
    node: process.versions.node,
    "better-auth": version("better-auth"),
    "@better-auth/utils": version("@better-auth/utils"),
    "better-sqlite3": version("better-sqlite3"),
  },
  results,
};
writeFileSync(out, JSON.stringify(report, null, 2));
console.error(`better-auth: wrote ${out}`);
