// Helpers for driving the real OrgVault window through tauri-driver (WebDriver on 127.0.0.1:4444).
// Not a test file: the Node runner only runs *.test.mjs.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, "..");

/** The debug binary built by `tauri build --debug --no-bundle`, copied by scripts/e2e.sh. */
export const application = process.env.ORGVAULT_APP ?? join(repoRoot, "target", "e2e", "orgvault-desktop");

/** Opens the app in a new WebDriver session. */
export async function openApp() {
  return remote({
    hostname: "127.0.0.1",
    port: Number(process.env.TAURI_DRIVER_PORT ?? 4444),
    logLevel: "warn",
    connectionRetryTimeout: 120_000,
    capabilities: { "tauri:options": { application } },
  });
}

export const byTestId = (id) => `[data-testid="${id}"]`;

/** Waits for an element by data-testid and returns it. */
export async function testId(browser, id, timeout = 30_000) {
  const el = await browser.$(byTestId(id));
  await el.waitForExist({ timeout, timeoutMsg: `no element with data-testid="${id}" after ${timeout} ms` });
  return el;
}

export async function click(browser, id, timeout) {
  const el = await testId(browser, id, timeout);
  await el.waitForClickable({ timeout: timeout ?? 30_000, timeoutMsg: `data-testid="${id}" never became clickable` });
  await el.click();
}

/** Waits until the page's text contains every string. */
export async function waitForText(browser, strings, timeout = 30_000) {
  let text = "";
  try {
    await browser.waitUntil(
      async () => {
        text = await browser.$("body").getText();
        return strings.every((s) => text.includes(s));
      },
      { timeout },
    );
  } catch {
    throw new Error(`the window never showed all of: ${strings.join(", ")}; it showed:\n${text.slice(0, 1500)}`);
  }
}

/** Waits for a job-state badge to reach a final state and returns it. */
export async function waitForJobEnd(browser, timeout = 120_000) {
  let state = "";
  await browser.waitUntil(
    async () => {
      const badges = await browser.$$(byTestId("job-state"));
      if (badges.length === 0) return false;
      const el = badges[badges.length - 1];
      state = (await el.getAttribute("data-state")) ?? (await el.getText()).trim().toLowerCase();
      return ["succeeded", "partial", "failed", "cancelled"].includes(state);
    },
    { timeout, interval: 250, timeoutMsg: "the job never reached a final state" },
  );
  return state;
}

/** Screenshots the whole Xvfb screen into docs/screenshots/<name>.png (for the README). */
export function screenshot(name) {
  if (!process.env.ORGVAULT_SCREENSHOTS) return;
  const out = join(repoRoot, "docs", "screenshots", `${name}.png`);
  mkdirSync(dirname(out), { recursive: true });
  execFileSync("/usr/bin/import", ["-window", "root", out], { stdio: "inherit" });
}

/** Where the app writes the demo simulator's ready line (scripts/e2e.sh sets it for the app). */
export const demoReadyFile = process.env.ORGVAULT_DEMO_READY_FILE ?? "";

/** Goes to a screen by its navigation button and waits for it. */
export async function gotoScreen(browser, name) {
  await click(browser, `nav-${name}`);
  await testId(browser, `screen-${name}`);
}

/**
 * Starts the demo organizations from the Identities screen (first run: "Try the demo"; later
 * runs: "Start the demo organizations", as they stop with the app) and answers the simulator's
 * ready line `{base_url, orgs: [{portal_url, admin, user}, ...]}` that the app wrote.
 */
export async function startDemo(browser) {
  if (!demoReadyFile) throw new Error("ORGVAULT_DEMO_READY_FILE is not set: run the tests through scripts/e2e.sh");
  rmSync(demoReadyFile, { force: true });
  await gotoScreen(browser, "identities");
  await click(browser, "demo-start", 60_000);
  await waitForText(browser, ["Demo organization A", "Demo organization B"], 60_000);
  let ready = null;
  await browser.waitUntil(
    async () => {
      try {
        ready = JSON.parse(readFileSync(demoReadyFile, "utf8"));
        return true;
      } catch {
        return false;
      }
    },
    { timeout: 30_000, interval: 100, timeoutMsg: `the app never wrote the demo's ready line to ${demoReadyFile}` },
  );
  return ready;
}

/** Changes the demo simulator's injected faults (e.g. `{latency_ms: 300}`) through its test control. */
export async function simFaults(ready, settings) {
  const res = await fetch(`${ready.base_url}/_sim/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(settings),
  });
  if (!res.ok) throw new Error(`the simulator refused the fault settings: HTTP ${res.status}`);
  return res.json();
}

/** Types into an input, replacing what it held. */
export async function typeInto(browser, id, text) {
  const el = await testId(browser, id);
  await el.clearValue();
  await el.setValue(text);
}

/** The number shown by a tally element (`tally-items`, ...) or its `data-bytes` for `tally-bytes`. */
export async function tally(browser, id) {
  const el = await testId(browser, id);
  const raw = id === "tally-bytes" ? await el.getAttribute("data-bytes") : await el.getText();
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${id} shows "${raw}", not a number`);
  return n;
}

/** Waits until `read()` answers something other than `before`, and returns it. */
export async function waitForChange(browser, read, before, what, timeout = 10_000) {
  let now = before;
  await browser.waitUntil(
    async () => {
      now = await read();
      return now !== before;
    },
    { timeout, interval: 100, timeoutMsg: `${what} stayed at ${before}` },
  );
  return now;
}

/** Scans the current organization, then backs it up whole under `name`; asserts both succeed. */
export async function scanAndBackUp(browser, name) {
  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  if ((await waitForJobEnd(browser)) !== "succeeded") throw new Error("the scan before the backup did not succeed");
  await gotoScreen(browser, "backup");
  await typeInto(browser, "backup-name", name);
  await click(browser, "backup-start");
  const state = await waitForJobEnd(browser, 180_000);
  if (state !== "succeeded") throw new Error(`the backup "${name}" ended ${state}`);
}

/** On the Restore screen: the snapshot whose name starts with `name`, restored into `target`. */
export async function chooseRestore(browser, name, target) {
  await gotoScreen(browser, "restore");
  const pick = await testId(browser, "restore-snapshot");
  await browser.waitUntil(async () => (await pick.$$("option")).length > 0, { timeout: 15_000, timeoutMsg: "no snapshot offered" });
  let value = null;
  for (const o of await pick.$$("option")) if ((await o.getText()).startsWith(name)) value = await o.getAttribute("value");
  if (!value) throw new Error(`the Restore screen does not offer "${name}"`);
  await pick.selectByAttribute("value", value);
  await (await testId(browser, "restore-target")).selectByVisibleText(target);
}

/**
 * Scans organization `org` (choosing it) until the Backup screen counts `items` items, at most
 * five times: search lags behind writes, as ArcGIS's does. Answers the last count.
 */
export async function scanUntilItems(browser, org, items) {
  await (await testId(browser, "current-identity")).selectByVisibleText(org);
  let n = -1;
  for (let attempt = 0; attempt < 5 && n !== items; attempt++) {
    if (attempt > 0) await browser.pause(2_000);
    await gotoScreen(browser, "scan");
    await click(browser, "scan-start");
    if ((await waitForJobEnd(browser)) !== "succeeded") throw new Error(`a scan of ${org} did not succeed`);
    await gotoScreen(browser, "backup");
    await browser
      .waitUntil(
        async () => {
          const m = /(\d+) items/.exec(await (await testId(browser, "backup-summary")).getText());
          return (n = Number(m?.[1] ?? -1)) === items;
        },
        { timeout: 5_000 },
      )
      .catch(() => undefined);
  }
  return n;
}
