// Smoke test in the real window: it opens, the demo starts, the identities screen lists the two
// demo identities, and a scan of the first runs to "succeeded".
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { click, openApp, screenshot, testId, waitForJobEnd, waitForText } from "./app.mjs";

let browser;

before(async () => {
  browser = await openApp();
});

after(async () => {
  await browser?.deleteSession();
});

test("the window opens on the identities screen", async () => {
  const title = await browser.getTitle();
  assert.equal(
    title,
    "OrgVault",
    "the window is the OrgVault app (an empty title usually means a plain `cargo build` binary, which waits for the Vite dev server)",
  );
  await testId(browser, "screen-identities");
});

test("the demo adds two identities", async () => {
  await click(browser, "demo-start");
  await waitForText(browser, ["Demo organization A", "Demo organization B"], 60_000);
  screenshot("identities");
});

test("a scan of the demo organization succeeds", async () => {
  await click(browser, "nav-scan");
  await testId(browser, "screen-scan");
  await click(browser, "scan-start");
  const state = await waitForJobEnd(browser);
  assert.equal(state, "succeeded", "a scan of the small demo organization must succeed");
  await testId(browser, "tally-items", 30_000);
  screenshot("scan");
});
