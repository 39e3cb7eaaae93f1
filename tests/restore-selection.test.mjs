// Choosing part of a snapshot in the real window: back up demo organization A, then on the
// Restore screen leave everything out, select only the web maps with a filter, take the items
// they need when offered, restore that into the empty organization B and find exactly those
// items in a scan of B. Then, on the Snapshots screen: a snapshot exported as a zip, forgotten
// after a confirmation naming it, the repository pruned after a confirmation saying how much,
// and the zip imported back. Between the two, post-processing changes the registered service
// URL of a restored web map, and saving its rules over a profile's asks first.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  byTestId,
  chooseRestore,
  click,
  gotoScreen,
  openApp,
  scanAndBackUp,
  scanUntilItems,
  screenshot,
  startDemo,
  tally,
  testId,
  typeInto,
  waitForJobEnd,
} from "./app.mjs";

let browser;
const stamp = new Date().toISOString().slice(11, 19);
const NAME = `E2E selection source ${stamp}`;
const scratch = mkdtempSync(join(tmpdir(), "orgvault-e2e-zip-"));

before(async () => {
  browser = await openApp();
  await startDemo(browser);
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization A");
});

after(async () => {
  await browser?.deleteSession();
  rmSync(scratch, { recursive: true, force: true });
});

/** The Snapshots screen's rows as {id, cells}. */
async function snapshotRows() {
  const out = [];
  for (const r of await browser.$$(byTestId("snapshot-row"))) {
    const cells = [];
    for (const td of await r.$$("td")) cells.push((await td.getText()).trim());
    out.push({ id: await r.getAttribute("data-snapshot-id"), cells });
  }
  return out;
}

test("only the web maps chosen on the Restore screen, and the layers they need, are restored into B", async () => {
  await scanAndBackUp(browser, NAME);
  await chooseRestore(browser, NAME, "Demo organization B");
  await browser.waitUntil(async () => (await tally(browser, "restore-tally-items")) > 0, {
    timeout: 30_000,
    timeoutMsg: "the snapshot's elements never appeared in the restore selection",
  });
  const all = await tally(browser, "restore-tally-items");

  for (const kind of ["item", "user", "group"]) await click(browser, `restore-disable-${kind}`);
  assert.deepEqual(
    [await tally(browser, "restore-tally-items"), await tally(browser, "restore-tally-users"), await tally(browser, "restore-tally-groups")],
    [0, 0, 0],
    "disabling all items, users and groups leaves nothing selected",
  );
  await click(browser, "filter-add");
  const rule = await testId(browser, "filter-rule");
  await (await rule.$('select[aria-label="Field"]')).selectByAttribute("value", "type");
  await (await rule.$('select[aria-label="Operator"]')).selectByAttribute("value", "equals");
  await typeInto(browser, "filter-value", "Web Map");
  await click(browser, "filter-only");
  const maps = await tally(browser, "restore-tally-items");
  assert.ok(maps >= 1 && maps < all, `the filter selects the web maps only (${maps} of ${all} items)`);

  // The maps name layers left out: the screen says so and offers them.
  const needs = await testId(browser, "restore-needs", 10_000);
  assert.match(await needs.getText(), /need/, "the screen names what the maps need");
  if (process.env.ORGVAULT_SCREENSHOTS) {
    await browser.execute((el) => el.scrollIntoView({ block: "start", behavior: "instant" }), await testId(browser, "restore-tally-items"));
    await browser.pause(700);
  }
  screenshot("restore-selection");
  await click(browser, "restore-add-needs");
  const chosen = await tally(browser, "restore-tally-items");
  assert.ok(chosen > maps, `adding what the maps need selects more items (${maps} -> ${chosen})`);
  assert.equal((await browser.$$(byTestId("restore-needs"))).length, 0, "nothing needed is left out any more");

  await click(browser, "restore-plan");
  const summary = await testId(browser, "restore-plan-summary", 120_000);
  assert.equal(Number(await summary.getAttribute("data-items")), chosen, `the plan holds exactly the chosen items: ${await summary.getText()}`);
  assert.equal(Number(await summary.getAttribute("data-groups")), 0, "no group was chosen, none is planned");
  await click(browser, "restore-start");
  assert.equal(await waitForJobEnd(browser, 360_000), "succeeded", "the restore of the chosen items succeeds");

  // Search lags behind writes (as ArcGIS's does): B is scanned again until it has caught up.
  assert.equal(await scanUntilItems(browser, "Demo organization B", chosen), chosen, "B holds exactly the chosen items");
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization A");
});

test("post-processing changes the registered service URL of the restored web map, and saving its rules over a profile's asks first", async () => {
  await chooseRestore(browser, NAME, "Demo organization B");
  await click(browser, "postprocess-find");
  await testId(browser, "postprocess-uses", 60_000);
  const urls = async () => {
    const out = [];
    for (const r of await browser.$$(byTestId("postprocess-use"))) out.push(await r.getAttribute("data-url"));
    return out;
  };
  const before = await urls();
  assert.ok(before.length >= 1 && before.every((t) => t.includes("gis.foreign.invalid")), `the restored map names the registered service: ${before.join(" | ")}`);

  await typeInto(browser, "postprocess-rule-find", "https://gis.foreign.invalid/");
  await typeInto(browser, "postprocess-rule-replace", "https://gis.partner.example/");
  await click(browser, "postprocess-preview");
  const list = await testId(browser, "postprocess-preview-list", 30_000);
  assert.equal(Number(await list.getAttribute("data-changes")), before.length, "one change per registered use");
  if (process.env.ORGVAULT_SCREENSHOTS) {
    await browser.execute((el) => el.scrollIntoView({ block: "start", behavior: "instant" }), await testId(browser, "postprocess"));
    await browser.pause(700);
  }
  screenshot("postprocess");
  await click(browser, "postprocess-apply");
  assert.equal(await waitForJobEnd(browser, 120_000), "succeeded", "the post-processing job succeeds");

  await click(browser, "postprocess-find");
  let after = [];
  await browser.waitUntil(async () => (after = await urls()).length > 0 && after.every((t) => t.includes("gis.partner.example")), {
    timeout: 30_000,
    timeoutMsg: `the restored items still name the old host: ${after.join(" | ")}`,
  });

  // Saving the rules into a mapping profile; saving over its rules asks first, naming them.
  const profile = `E2E post rules ${stamp}`;
  await typeInto(browser, "postprocess-profile-name", profile);
  await click(browser, "postprocess-profile-save");
  await browser.waitUntil(async () => /Saved 1 URL rules/.test(await (await testId(browser, "postprocess-done", 30_000)).getText()), { timeout: 30_000 });
  await typeInto(browser, "postprocess-rule-replace", "https://gis.partner2.example/");
  await click(browser, "postprocess-profile-save");
  const confirm = await testId(browser, "postprocess-profile-confirm", 10_000);
  const text = await confirm.getText();
  assert.ok(text.includes(profile) && text.includes("https://gis.partner.example/"), `the confirmation names the profile and the rules it replaces: ${text}`);
  await click(browser, "postprocess-profile-confirm-yes");
  await browser.waitUntil(async () => /earlier ones replaced/.test(await (await testId(browser, "postprocess-done", 30_000)).getText()), { timeout: 30_000 });
});

test("Snapshots: a snapshot forgotten after a confirmation, the repository pruned after one, a zip imported back", async () => {
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization A");
  await gotoScreen(browser, "snapshots");
  let rows = [];
  await browser.waitUntil(async () => (rows = await snapshotRows()).some((r) => r.cells[0].startsWith(NAME)), {
    timeout: 15_000,
    timeoutMsg: `Snapshots never listed "${NAME}"`,
  });
  const snap = rows.find((r) => r.cells[0].startsWith(NAME));
  const count = rows.length;
  // Exported through the app's own command (the native save dialog is the desktop's, not ours).
  const zip = join(scratch, "selection.zip");
  const identityId = await (await testId(browser, "current-identity")).getValue();
  const exportError = await browser.executeAsync(
    (args, done) => window.__TAURI_INTERNALS__.invoke("export_snapshot_zip", args).then(() => done(null), (e) => done(String(e?.message ?? e))),
    { identityId, snapshotId: snap.id, path: zip },
  );
  assert.equal(exportError, null, "the export command succeeds");
  assert.ok(statSync(zip).size > 0, "the snapshot was exported as a zip");

  await (await browser.$(`tr[data-snapshot-id="${snap.id}"] [data-testid="snapshot-forget"]`)).click();
  const confirm = await testId(browser, "snapshot-forget-confirm");
  assert.ok((await confirm.getText()).includes(NAME), "the confirmation names the snapshot it deletes");
  screenshot("snapshots-forget");
  await click(browser, "snapshot-forget-confirm-yes");
  await testId(browser, "snapshots-done", 30_000);
  await browser.waitUntil(async () => (await snapshotRows()).length === count - 1, { timeout: 15_000, timeoutMsg: "the forgotten snapshot is still listed" });
  assert.ok(!(await snapshotRows()).some((r) => r.id === snap.id), "the forgotten snapshot is gone from the list");

  await click(browser, "snapshot-prune");
  const prune = await testId(browser, "snapshot-prune-confirm", 60_000);
  assert.match(await prune.getText(), /no snapshot uses/, `the confirmation says what is deleted: ${await prune.getText()}`);
  await click(browser, "snapshot-prune-confirm-yes");
  let done = "";
  await browser.waitUntil(async () => /Pruned/.test((done = await (await testId(browser, "snapshots-done", 120_000)).getText())), {
    timeout: 120_000,
    timeoutMsg: "the prune never reported",
  });
  assert.match(done, /Pruned: [1-9]\d* unused pieces/, `the prune deleted the forgotten snapshot's own data: ${done}`);

  await typeInto(browser, "snapshot-import-path", zip);
  await click(browser, "snapshot-import");
  await browser.waitUntil(async () => /Imported/.test(await (await testId(browser, "snapshots-done", 120_000)).getText()), {
    timeout: 120_000,
    timeoutMsg: "the import never finished",
  });
  await browser.waitUntil(async () => (await snapshotRows()).length === count, { timeout: 15_000, timeoutMsg: "the imported snapshot is not listed" });
  assert.ok((await snapshotRows()).some((r) => r.cells[0].startsWith(NAME)), "the imported snapshot is listed under its name");
});
