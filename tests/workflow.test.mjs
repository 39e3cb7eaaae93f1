// The main path in the real window, on demo organization A: scan; select by clicking on the
// visualizer's canvas and with a filter, watching the tally and the estimate change; back up
// under a custom name and find it in Snapshots and Jobs; cancel a slowed-down backup and see
// it cancelled with no snapshot; restore that backup into the empty organization B after reading
// the plan, and find its items in a scan of B.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  byTestId,
  click,
  gotoScreen,
  openApp,
  screenshot,
  simFaults,
  startDemo,
  tally,
  testId,
  typeInto,
  waitForChange,
  waitForJobEnd,
} from "./app.mjs";

let browser;
let ready;
const stamp = new Date().toISOString().slice(11, 19);
const BACKUP_NAME = `E2E custom backup ${stamp}`;
const CANCELLED_NAME = `E2E cancelled backup ${stamp}`;

before(async () => {
  browser = await openApp();
  ready = await startDemo(browser);
  const pick = await testId(browser, "current-identity");
  await pick.selectByVisibleText("Demo organization A");
});

after(async () => {
  // Leave the simulator fast whatever happened, then close the window.
  if (ready) await simFaults(ready, { latency_ms: 0 }).catch(() => undefined);
  await browser?.deleteSession();
});

/** Elements the visualizer draws where a click lands on them (the UI's read-only test hook). */
async function clickable(kind, limit = 5) {
  return browser.execute((k, n) => window.__ovVisualizer?.clickable(k, n) ?? [], kind, limit);
}

/**
 * Clicks with the mouse where the element is drawn. The position is taken in the window's
 * coordinates: WebDriver's element-relative offsets start from the centre of the element's
 * visible part, which moves when the canvas is partly scrolled out.
 */
async function clickElement(el) {
  await browser
    .action("pointer", { parameters: { pointerType: "mouse" } })
    .move({ x: Math.round(el.clientX), y: Math.round(el.clientY), origin: "viewport" })
    .down()
    .up()
    .perform();
}

/** The Backup screen's confirmation as {items, users, groups, text}, once the shell's estimate is in. */
async function backupSummary() {
  const el = await testId(browser, "backup-summary");
  const text = await el.getText();
  const m = /(\d+) items, (\d+) users and (\d+) groups, about (.+)\./.exec(text);
  assert.ok(m, `the confirmation says what will be backed up: "${text}"`);
  return { items: Number(m[1]), users: Number(m[2]), groups: Number(m[3]), size: m[4], text };
}

/** Table rows (`snapshot-row`, `job-row`) whose first cell is `name`, as their cells' texts. */
async function rowsNamed(rowId, name) {
  const rows = await browser.$$(byTestId(rowId));
  const out = [];
  for (const r of rows) {
    const cells = [];
    for (const td of await r.$$("td")) cells.push((await td.getText()).trim());
    if (cells[0] === name) out.push(cells);
  }
  return out;
}

test("a scan of demo organization A loads the visualizer with everything selected", async () => {
  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  assert.equal(await waitForJobEnd(browser), "succeeded", "a scan of the small demo organization must succeed");
  await testId(browser, "visualizer-canvas");
  await browser.waitUntil(async () => (await clickable("item", 1)).length > 0, {
    timeout: 15_000,
    timeoutMsg: "the visualizer never drew a clickable item",
  });
  assert.ok((await tally(browser, "tally-items")) >= 100, "the demo organization's items are all selected after a scan");
});

test("clicking an item on the canvas leaves it out and clicking again selects it, the tally following", async () => {
  const items0 = await tally(browser, "tally-items");
  const bytes0 = await tally(browser, "tally-bytes");
  await (await testId(browser, "visualizer-canvas")).scrollIntoView();
  const [item] = (await clickable("item", 50)).filter((e) => e.selected && e.bytes > 0);
  assert.ok(item, "a selected item with a size is drawn where it can be clicked");

  await clickElement(item);
  const items1 = await waitForChange(browser, () => tally(browser, "tally-items"), items0, "the item tally after a click");
  assert.equal(items1, items0 - 1, `clicking "${item.label}" leaves out exactly one item`);
  assert.equal(await tally(browser, "tally-bytes"), bytes0 - item.bytes, "the estimate drops by the item's size at once");
  const [after] = (await clickable("item", 50)).filter((e) => e.key === item.key);
  assert.equal(after?.selected, false, "the clicked item is drawn as left out");
  screenshot("visualizer");

  await clickElement(item);
  assert.equal(
    await waitForChange(browser, () => tally(browser, "tally-items"), items1, "the item tally after a second click"),
    items0,
    "a second click selects the item again",
  );
  assert.equal(await tally(browser, "tally-bytes"), bytes0, "the estimate is back to the full size");
});

test("a filter leaves out its matches; the tally and the Backup screen's estimate follow", async () => {
  await gotoScreen(browser, "backup");
  const before = await backupSummary();
  await gotoScreen(browser, "scan");
  const items0 = await tally(browser, "tally-items");
  assert.equal(before.items, items0, "the shell's estimate counts what the Scan screen's tally counts");
  const bytes0 = await tally(browser, "tally-bytes");
  const [sample] = await clickable("item", 1);

  await click(browser, "filter-add");
  const rule = await testId(browser, "filter-rule");
  await (await rule.$('select[aria-label="Field"]')).selectByAttribute("value", "type");
  await (await rule.$('select[aria-label="Operator"]')).selectByAttribute("value", "equals");
  await typeInto(browser, "filter-value", sample.type);
  const matchesText = await waitForChange(
    browser,
    async () => (await testId(browser, "filter-matches")).getText(),
    "No filter",
    "the match count",
  );
  const matches = Number(/(\d+)/.exec(matchesText)?.[1]);
  assert.ok(matches >= 1 && matches < items0, `the rule "type equals ${sample.type}" matches some items: ${matchesText}`);

  await click(browser, "filter-deselect");
  const items1 = await waitForChange(browser, () => tally(browser, "tally-items"), items0, "the item tally after the filter");
  assert.equal(items1, items0 - matches, "leaving out the matches removes exactly them from the tally");
  assert.ok((await tally(browser, "tally-bytes")) < bytes0, "the estimated size drops with the items left out");
  screenshot("scan-filter");

  await gotoScreen(browser, "backup");
  let now = before;
  await browser.waitUntil(
    async () => {
      now = await backupSummary();
      return now.items === items1;
    },
    { timeout: 10_000, timeoutMsg: `the Backup screen's estimate never followed the filter: ${now.text}` },
  );
  assert.equal(now.users, before.users, "a rule on items leaves users as they were");
  assert.notEqual(now.size, before.size, "the estimated size on the Backup screen changes with the selection");
});

test("a backup under a custom name succeeds and is listed in Snapshots and Jobs", async () => {
  await gotoScreen(browser, "backup");
  const summary = await backupSummary();
  await typeInto(browser, "backup-name", BACKUP_NAME);
  await click(browser, "backup-start");
  assert.equal(await waitForJobEnd(browser, 180_000), "succeeded", "the backup of the demo organization succeeds");
  const moved = Number(await (await testId(browser, "progress-bytes")).getAttribute("data-bytes"));
  assert.ok(moved > 0, `the backup's progress shows the bytes it downloaded (got ${moved})`);
  screenshot("backup");

  await gotoScreen(browser, "snapshots");
  let rows = [];
  await browser.waitUntil(async () => (rows = await rowsNamed("snapshot-row", BACKUP_NAME)).length === 1, {
    timeout: 15_000,
    timeoutMsg: `Snapshots never listed "${BACKUP_NAME}"`,
  });
  // Name, Taken, Items, Users, Groups, Size, Verified, Actions.
  assert.deepEqual(
    rows[0].slice(2, 5).map(Number),
    [summary.items, summary.users, summary.groups],
    `the snapshot holds what the confirmation said would be backed up: ${rows[0].join(" | ")}`,
  );
  screenshot("snapshots");

  await gotoScreen(browser, "jobs");
  await browser.waitUntil(async () => (rows = await rowsNamed("job-row", BACKUP_NAME)).length === 1, {
    timeout: 15_000,
    timeoutMsg: `Jobs never listed "${BACKUP_NAME}"`,
  });
  // Job, Kind, State, Started, Ended, Summary.
  assert.equal(rows[0][1], "backup", "the job is a backup");
  assert.equal(rows[0][2], "Succeeded", `the job history shows it succeeded: ${rows[0].join(" | ")}`);
});

test("a running backup can be cancelled: the job ends cancelled and leaves no snapshot", async () => {
  // Every request to the simulator now waits, so the backup is still running when cancelled.
  await simFaults(ready, { latency_ms: 400 });
  await gotoScreen(browser, "backup");
  await typeInto(browser, "backup-name", CANCELLED_NAME);
  await click(browser, "backup-start");
  const badge = await testId(browser, "job-state");
  assert.equal(await badge.getAttribute("data-state"), "running", "the slowed-down backup is running");
  await click(browser, "backup-cancel", 10_000);
  assert.equal(await waitForJobEnd(browser, 60_000), "cancelled", "the cancelled backup ends cancelled, not failed or succeeded");
  await simFaults(ready, { latency_ms: 0 });

  await gotoScreen(browser, "jobs");
  let rows = [];
  await browser.waitUntil(async () => (rows = await rowsNamed("job-row", CANCELLED_NAME)).length === 1, {
    timeout: 15_000,
    timeoutMsg: `Jobs never listed "${CANCELLED_NAME}"`,
  });
  assert.equal(rows[0][2], "Cancelled", `the job history shows it cancelled: ${rows[0].join(" | ")}`);
  screenshot("jobs");

  await gotoScreen(browser, "snapshots");
  await browser.waitUntil(async () => (await rowsNamed("snapshot-row", BACKUP_NAME)).length === 1, {
    timeout: 15_000,
    timeoutMsg: "Snapshots never loaded",
  });
  assert.deepEqual(await rowsNamed("snapshot-row", CANCELLED_NAME), [], "a cancelled backup leaves no snapshot");
});

test("the backup restores into the empty demo organization B after reading the plan, and a scan of B finds it", async () => {
  await simFaults(ready, { latency_ms: 0 });
  // What the snapshot holds, as Snapshots lists it: Name, Taken, Items, Users, Groups, ...
  await gotoScreen(browser, "snapshots");
  let rows = [];
  await browser.waitUntil(async () => (rows = await rowsNamed("snapshot-row", BACKUP_NAME)).length === 1, {
    timeout: 15_000,
    timeoutMsg: `Snapshots never listed "${BACKUP_NAME}"`,
  });
  const [items, users, groups] = rows[0].slice(2, 5).map(Number);

  await gotoScreen(browser, "restore");
  const snapshotPick = await testId(browser, "restore-snapshot");
  await browser.waitUntil(async () => (await snapshotPick.$$("option")).length > 0, { timeout: 15_000, timeoutMsg: "no snapshot offered" });
  let value = null;
  for (const o of await snapshotPick.$$("option")) {
    if ((await o.getText()).startsWith(BACKUP_NAME)) value = await o.getAttribute("value");
  }
  assert.ok(value, `the Restore screen offers the snapshot "${BACKUP_NAME}"`);
  await snapshotPick.selectByAttribute("value", value);
  await (await testId(browser, "restore-target")).selectByVisibleText("Demo organization B");
  assert.equal(await (await testId(browser, "restore-start")).isEnabled(), false, "nothing can be applied before a plan is shown");

  await click(browser, "restore-plan");
  const summary = await testId(browser, "restore-plan-summary", 120_000);
  const planned = {
    items: Number(await summary.getAttribute("data-items")),
    users: Number(await summary.getAttribute("data-users")),
    groups: Number(await summary.getAttribute("data-groups")),
    create: Number(await summary.getAttribute("data-create")),
  };
  assert.deepEqual(
    [planned.items, planned.users, planned.groups],
    [items, users, groups],
    `the plan offers exactly what the snapshot holds: ${await summary.getText()}`,
  );
  assert.ok(planned.create >= planned.items, `every item is created in the empty organization B: ${await summary.getText()}`);
  // The plan sits below the mapping: bring it into the picture.
  await browser.execute((el) => el.scrollIntoView({ block: "start", behavior: "instant" }), await testId(browser, "restore-plan-view"));
  // WebKit under Xvfb paints the scrolled page a moment later; the screenshot reads the screen.
  if (process.env.ORGVAULT_SCREENSHOTS) await browser.pause(700);
  screenshot("restore");

  await click(browser, "restore-start");
  const state = await waitForJobEnd(browser, 360_000);
  if (state !== "succeeded") {
    const failures = [];
    for (const r of await browser.$$('[data-outcome="failed"]')) failures.push(await r.getText());
    assert.fail(`the restore into B ended ${state}, not succeeded; failed elements:\n${failures.slice(0, 10).join("\n")}`);
  }
  await testId(browser, "outcomes", 15_000);

  await gotoScreen(browser, "jobs");
  await browser.waitUntil(
    async () => {
      rows = [];
      for (const r of await browser.$$(byTestId("job-row"))) {
        const cells = [];
        for (const td of await r.$$("td")) cells.push((await td.getText()).trim());
        if (cells[1] === "restore") rows.push(cells);
      }
      return rows.length === 1;
    },
    { timeout: 15_000, timeoutMsg: "Jobs never listed the restore" },
  );
  assert.equal(rows[0][2], "Succeeded", `the job history shows the restore succeeded: ${rows[0].join(" | ")}`);

  // The restored content is really in B: scan it in the app.
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization B");
  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  assert.equal(await waitForJobEnd(browser), "succeeded", "a scan of organization B succeeds");
  // The Backup screen counts the current organization's own latest scan only (never A's, which the
  // Scan screen may show for a moment after the switch): everything of B is selected after its scan.
  await gotoScreen(browser, "backup");
  let b = null;
  try {
    await browser.waitUntil(async () => (b = await backupSummary()).items === planned.items, { timeout: 20_000 });
  } catch {
    // Fall through to the assertion, which says what B holds.
  }
  assert.equal(b?.items, planned.items, `B holds as many items as the restore planned from the snapshot: ${b?.text}`);
});
