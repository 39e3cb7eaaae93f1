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
  // scripts/package-check.sh names the first screen of the installed app (docs/screenshots/installed.png).
  if (process.env.E2E_FIRST_SCREEN) {
    // The screen's element exists before WebKit paints it under Xvfb: wait for its words, then a frame.
    await waitForText(browser, ["Try the demo organization"]);
    await browser.pause(500);
    screenshot(process.env.E2E_FIRST_SCREEN);
  }
});

test("the demo adds two identities", async () => {
  await click(browser, "demo-start");
  await waitForText(browser, ["Demo organization A", "Demo organization B"], 60_000);
  screenshot("identities");
});

test("the About section names the version and the commit it was built from", async () => {
  await click(browser, "nav-settings");
  const about = await testId(browser, "about-version");
  const text = (await about.getText()).trim();
  assert.match(text, /^\d+\.\d+\.\d+\S* \(commit ([0-9a-f]{7,}|unknown)\)$/, `the About section says which build this is: ${text}`);
  if (process.env.ORGVAULT_EXPECT_VERSION) {
    assert.equal(text, process.env.ORGVAULT_EXPECT_VERSION, "the About section says what `orgvault --version` says");
  }
  await click(browser, "nav-identities");
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
