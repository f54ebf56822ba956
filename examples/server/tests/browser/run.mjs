// Drives the demo page in headless Chromium: sign up, enrol TOTP from the
// secret shown on the page, log out, log in with a TOTP code while ticking
// "remember this device", register a passkey (DevTools' virtual
// authenticator: internal transport, resident keys, user verification),
// log out, log in again without a code, step up with the passkey as the
// second factor, log out, and sign in with the passkey alone.
//
// Usage: node run.mjs BASE_URL SCREENSHOT_PATH PASSKEY_SCREENSHOT_PATH
// (CHROMIUM overrides the browser; BASE_URL must be http://localhost:PORT,
// the passkeys' relying party in development)
import { check, launch } from "./common.mjs";
import { createHmac, randomUUID } from "node:crypto";

const [base, screenshot, passkeyScreenshot] = process.argv.slice(2);
if (!base || !screenshot || !passkeyScreenshot) {
  console.error("usage: node run.mjs BASE_URL SCREENSHOT_PATH PASSKEY_SCREENSHOT_PATH");
  process.exit(2);
}

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, "").toUpperCase()) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error("bad base32");
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

// RFC 6238 with the defaults the service uses: SHA-1, 6 digits, 30 s.
function totp(secret, offsetSteps = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + offsetSteps;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000;
  return String(bin).padStart(6, "0");
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  // A platform authenticator with user verification, as a phone or laptop
  // with biometrics has, answering without a prompt.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const identifier = `browser-${randomUUID().slice(0, 8)}@example.test`;
  const password = "correct horse battery staple";
  const status = () => page.locator("#status").innerText();

  await page.goto(base + "/");
  check((await status()).includes("Not signed in"), "the demo page loads signed out");

  await page.fill("#signup-identifier", identifier);
  await page.fill("#signup-password", password);
  await page.click("#signup-submit");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("Account created"));
  check(true, "sign up");

  const login = async () => {
    await page.fill("#login-identifier", identifier);
    await page.fill("#login-password", password);
    await page.click("#login-submit");
  };
  await login();
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Signed in as"));
  check((await status()).includes("AAL1"), "password-only sign-in before enrolment");

  await page.click("#enroll-start");
  await page.waitForSelector("#totp-qr img");
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  check(/^[A-Z2-7]{16,}$/.test(secret), "the secret is shown");
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, "enrolment screenshot saved to " + screenshot);
  await page.fill("#enroll-code", totp(secret, 0));
  await page.click("#enroll-confirm");
  await page.waitForFunction(() => document.querySelectorAll("#backup-codes li").length === 10);
  check(true, "TOTP confirmed; ten backup codes shown once");
  const backupCode = (await page.locator("#backup-codes li").first().innerText()).trim();
  await page.click("#backup-done");

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  check(true, "log out");

  await login();
  await page.waitForSelector("#mfa:not(.hidden)");
  check((await page.locator("#mfa-methods").innerText()).includes("totp"), "the second factor is asked for");
  // The next step: the enrolment already spent the current one.
  await page.fill("#mfa-code", totp(secret, 1));
  await page.check("#mfa-remember");
  await page.click("#mfa-submit");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("AAL2"));
  check(true, "log in with a TOTP code, remembering the device");
  await page.waitForFunction(() => document.querySelectorAll("#trusted-list tr").length === 1);
  check(true, "the device is listed as trusted");

  await page.waitForFunction(() => document.querySelectorAll("#audit-list tr").length > 0);
  check(true, "own audit events are listed");

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  await login();
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Signed in as"));
  const s = await status();
  check(s.includes("device") && !(await page.locator("#mfa").isVisible()), "the remembered device signs in without a code: " + s);

  // Registering a passkey needs a recent second factor: step up with a
  // backup code first (the TOTP codes of these steps are spent).
  await page.click("#step-up");
  await page.waitForSelector("#mfa:not(.hidden)");
  await page.selectOption("#mfa-method", "backup_codes");
  await page.fill("#mfa-code", backupCode);
  await page.click("#mfa-submit");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("AAL2"));
  check(true, "step-up with a backup code");
  await page.fill("#passkey-label", "virtual authenticator");
  await page.click("#passkey-add");
  await page.waitForFunction(() => document.querySelectorAll("#passkey-list tr").length === 1);
  check((await page.locator("#passkey-list").innerText()).includes("virtual authenticator"), "a passkey is registered and listed");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, "the authenticator holds one discoverable credential");
  await page.locator("#passkeys").screenshot({ path: passkeyScreenshot });
  check(true, "passkey list screenshot saved to " + passkeyScreenshot);
  await page.waitForFunction(() => document.querySelectorAll("#trusted-list tr").length === 0);
  check(true, "the new factor ended the device's trust");

  await page.click("#step-up");
  await page.waitForSelector("#mfa-passkey:not(.hidden)");
  check((await page.locator("#mfa-methods").innerText()).includes("webauthn"), "the passkey is offered as a second factor");
  await page.click("#mfa-passkey");
  await page.waitForFunction(() => /AAL2.*user/.test(document.getElementById("status").textContent));
  check(true, "step-up with the passkey as second factor: " + (await status()));

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  await page.click("#passkey-login");
  await page.waitForFunction(() => /AAL2.*user/.test(document.getElementById("status").textContent));
  const p = await status();
  check(!p.includes("pwd"), "passwordless sign-in with the passkey button: " + p);

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  // The user-name field's autofill (conditional mediation): the focus
  // offers the passkey, and the authenticator's touch signs in.
  await page.focus("#login-identifier");
  await page.waitForFunction(() => /AAL2.*user/.test(document.getElementById("status").textContent));
  check(!(await status()).includes("pwd"), "passwordless sign-in from the user-name field's autofill: " + (await status()));
  console.log("browser test passed");
} finally {
  await browser.close();
}
