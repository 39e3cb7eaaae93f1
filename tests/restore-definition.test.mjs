// A hosted feature service restored from its service definition in the real window: demo
// organization A is backed up (each hosted feature service keeps the .sd it was published from),
// the Restore screen chooses the "Hydrant Inventory" services, the plan offers publishing the
// one with a service definition from it, the admin picks that, the plan says so, and after the
// apply a scan of the empty organization B finds the restored services.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { byTestId, chooseRestore, click, openApp, scanAndBackUp, scanUntilItems, screenshot, startDemo, tally, testId, typeInto, waitForJobEnd } from "./app.mjs";

let browser;
const stamp = new Date().toISOString().slice(11, 19);
const NAME = `E2E service definitions ${stamp}`;

before(async () => {
  browser = await openApp();
  await startDemo(browser);
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization A");
});

after(async () => {
  await browser?.deleteSession();
});

test("a hosted feature service is restored from the service definition kept with it", async () => {
  await scanAndBackUp(browser, NAME);
  assert.equal(await (await testId(browser, "backup-service-definitions")).isSelected(), true, "what services were published from is kept by default");
  await chooseRestore(browser, NAME, "Demo organization B");
  await browser.waitUntil(async () => (await tally(browser, "restore-tally-items")) > 0, { timeout: 30_000, timeoutMsg: "no selection" });
  for (const kind of ["user", "group"]) await click(browser, `restore-disable-${kind}`);
  await click(browser, "filter-add");
  const rule = await testId(browser, "filter-rule");
  await (await rule.$('select[aria-label="Field"]')).selectByAttribute("value", "type");
  await (await rule.$('select[aria-label="Operator"]')).selectByAttribute("value", "equals");
  await typeInto(browser, "filter-value", "Feature Service");
  await click(browser, "filter-add");
  const second = (await browser.$$(byTestId("filter-rule")))[1];
  await (await second.$('select[aria-label="Field"]')).selectByAttribute("value", "title");
  await (await second.$('select[aria-label="Operator"]')).selectByAttribute("value", "contains");
  await (await second.$(byTestId("filter-value"))).setValue("Hydrant Inventory");
  await click(browser, "filter-only");
  const chosen = await tally(browser, "restore-tally-items");
  assert.ok(chosen >= 1, `the Hydrant Inventory services are chosen (${chosen})`);

  await click(browser, "restore-plan");
  await testId(browser, "restore-plan-summary", 120_000);
  let select = null;
  for (const s of await browser.$$(byTestId("restore-method"))) {
    for (const o of await s.$$("option")) if ((await o.getAttribute("value")) === "publish_definition") select = s;
  }
  assert.ok(select, "the plan offers publishing a service from its service definition");
  assert.notEqual(await select.getAttribute("data-method"), "publish_definition", "the backed-up data is the default");
  const source = await select.getAttribute("data-source");
  await select.selectByAttribute("value", "publish_definition");
  await testId(browser, "restore-plan-stale", 10_000);
  await click(browser, "restore-plan");
  await browser.waitUntil(
    async () => (await (await browser.$(`[data-testid="restore-method"][data-source="${source}"]`)).getAttribute("data-method")) === "publish_definition",
    { timeout: 120_000, timeoutMsg: "the new plan does not use the service definition" },
  );
  assert.equal((await browser.$$(byTestId("restore-plan-stale"))).length, 0, "the plan on screen is the one for the choices made");
  if (process.env.ORGVAULT_SCREENSHOTS) {
    await browser.execute((el) => el.scrollIntoView({ block: "center", behavior: "instant" }), await testId(browser, "restore-plan-methods"));
    await browser.pause(700);
  }
  screenshot("restore-service-definition");
  await click(browser, "restore-start");
  assert.equal(await waitForJobEnd(browser, 360_000), "succeeded", "the restore succeeds");

  // The services are in B (search lags behind writes: scanned again until it has caught up).
  const b = await scanUntilItems(browser, "Demo organization B", chosen);
  assert.equal(b, chosen, "B holds the chosen services (the uploaded .sd was removed after publishing)");
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization A");
});
