// Drives the demo page's recovery screens in headless Chromium: sign up
// with an email address, send and open the verification link, log out,
// ask for a reset link, open it, choose a new password, and check that
// only the new one signs in. The links are read from the development
// outbox, as a developer reads them.
//
// Usage: node recovery.mjs BASE_URL OUTBOX_PATH SCREENSHOT_PATH
import { check, launch } from "./common.mjs";
import { randomUUID } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";

const [base, outbox, screenshot] = process.argv.slice(2);
if (!base || !outbox || !screenshot) {
  console.error("usage: node recovery.mjs BASE_URL OUTBOX_PATH SCREENSHOT_PATH");
  process.exit(2);
}

// The token of the newest link of `purpose` the outbox holds for `to`.
async function linkTo(to, purpose) {
  for (let i = 0; i < 100; i++) {
    if (existsSync(outbox)) {
      const found = readFileSync(outbox, "utf8").trim().split("\n")
        .map((line) => JSON.parse(line))
        .filter((m) => m.kind === "link" && m.to === to && m.purpose === purpose)
        .pop();
      if (found) return found;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${purpose} link for ${to} in the outbox`);
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const id = randomUUID().slice(0, 8);
  const identifier = `recover-${id}`;
  const email = `recover-${id}@example.test`;
  const password = "correct horse battery staple";
  const fresh = "a completely new pass phrase 42";
  const message = () => page.locator("#message").innerText();
  const waitMessage = (text) => page.waitForFunction(
    (t) => document.getElementById("message").textContent.includes(t), text);

  await page.goto(base + "/");
  await page.fill("#signup-identifier", identifier);
  await page.fill("#signup-password", password);
  await page.fill("#signup-email", email);
  await page.click("#signup-submit");
  await waitMessage("Account created");
  const login = async (pw) => {
    await page.fill("#login-identifier", identifier);
    await page.fill("#login-password", pw);
    await page.click("#login-submit");
  };
  await login(password);
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Signed in as"));
  check((await page.locator("#email-state").innerText()).includes("not verified"), "the address starts unverified");

  await page.click("#email-verify-send");
  await waitMessage("verification link is on its way");
  const verification = await linkTo(email, "email_verification");
  check(verification.text.includes("/#verify-email="), "the email carries a link to the page");
  await page.goto(base + "/#verify-email=" + encodeURIComponent(verification.token));
  await waitMessage("Email address verified");
  await page.waitForFunction(() => /\(verified\)/.test(document.getElementById("email-state").textContent));
  check(!(await page.locator("#email-verify-send").isVisible()), "verified: the page says so and offers no link");
  check(!page.url().includes("verify-email"), "the token left the address bar");

  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Not signed in"));
  await page.fill("#forgot-identifier", identifier);
  await page.click("#forgot-submit");
  await waitMessage("reset link is on its way");
  const reset = await linkTo(email, "password_reset");
  await page.goto(base + "/#reset=" + encodeURIComponent(reset.token));
  await page.waitForSelector("#reset:not(.hidden)");
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, "reset screen screenshot saved to " + screenshot);
  await page.fill("#reset-password", "short");
  await page.click("#reset-submit");
  await waitMessage("invalid_input");
  check(await page.locator("#reset").isVisible(), "a refused password keeps the screen (and the link)");
  await page.fill("#reset-password", fresh);
  await page.click("#reset-submit");
  await waitMessage("Password changed");
  check(!(await page.locator("#reset").isVisible()), "the new password is set");

  await login(password);
  await waitMessage("invalid_credentials");
  check(true, "the old password no longer signs in: " + (await message()));
  await login(fresh);
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Signed in as"));
  check(true, "the new password signs in");
  console.log("browser recovery test passed");
} finally {
  await browser.close();
}
