// What the browser scripts share: the checks they print, and headless
// Chromium started the same way for each.
import { chromium } from "playwright-core";

export function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

// The machine's Chromium (CHROMIUM overrides the path), headless; the
// network is closed, so nothing may call home.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}
