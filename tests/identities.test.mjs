// Adding an identity through the Identities form, against the in-process demo simulator:
// "Save and verify" refuses the organization's non-admin user and says why, then accepts its
// administrator, and the new identity is listed as signed in.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { byTestId, click, openApp, screenshot, startDemo, testId, typeInto, waitForText } from "./app.mjs";

let browser;
let ready;
const NAME = "Field office (e2e)";

before(async () => {
  browser = await openApp();
  ready = await startDemo(browser);
});

after(async () => {
  await browser?.deleteSession();
});

async function fillForm(login) {
  await typeInto(browser, "identity-name", NAME);
  await typeInto(browser, "identity-url", ready.orgs[0].portal_url);
  await click(browser, "signin-builtin");
  await typeInto(browser, "identity-username", login.username);
  await typeInto(browser, "identity-password", login.password);
  await typeInto(browser, "identity-folder", `${process.env.ORGVAULT_DATA_DIR ?? "/tmp"}/e2e-field-office`);
}

test("Save and verify refuses the non-admin user with a message saying why", async () => {
  assert.ok(ready.orgs.length >= 2 && ready.orgs[0].user.username, "the demo's ready line names a non-admin user");
  await click(browser, "identity-add-online");
  await fillForm(ready.orgs[0].user);
  await click(browser, "identity-save");
  const error = await testId(browser, "identity-error", 60_000);
  assert.equal(await error.getAttribute("data-code"), "not_admin", "the refusal is the not-admin one, not a sign-in or network failure");
  const text = await error.getText();
  assert.match(text, /not an organization administrator/i, `the headline says the account is not an admin: ${text}`);
  assert.match(text, /privilege|administrator|admin/i, `the message names what is missing: ${text}`);
  assert.ok(!text.includes(ready.orgs[0].user.password), "the refusal never shows the password");
  screenshot("identity-refused");
  const cards = await browser.$$(`${byTestId("screen-identities")} li.card`);
  for (const card of cards) {
    assert.ok(!(await card.getText()).includes(NAME), "a refused identity must not be saved");
  }
});

test("Save and verify accepts the administrator and lists the identity as signed in", async () => {
  await typeInto(browser, "identity-username", ready.orgs[0].admin.username);
  await typeInto(browser, "identity-password", ready.orgs[0].admin.password);
  await click(browser, "identity-save");
  await browser.waitUntil(async () => !(await (await browser.$(byTestId("identity-save"))).isExisting()), {
    timeout: 60_000,
    timeoutMsg: "the form never closed after saving the administrator",
  });
  await waitForText(browser, [NAME]);
  const cards = await browser.$$(`${byTestId("screen-identities")} li.card`);
  let card = null;
  for (const c of cards) if ((await c.getText()).includes(NAME)) card = c;
  assert.ok(card, "the saved identity is listed");
  const token = await card.$(byTestId("token-state"));
  assert.equal(await token.getText(), "Signed in", "a verified identity shows a valid sign-in");
  assert.match(await card.getText(), new RegExp(ready.orgs[0].admin.username), "the card shows the admin's username");
  screenshot("identities-added");
});
