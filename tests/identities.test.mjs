// Adding an identity through the Identities form, against the in-process demo simulator:
// "Save and verify" refuses the organization's non-admin user and says why, refuses it again as
// a custom administrator that can only view, naming the privilege it lacks, then accepts its
// administrator with an encrypted repository, shows the recovery key once, and the new identity
// is listed as signed in; its first backup goes into the encrypted repository, where nothing of
// the organization can be read.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { byTestId, click, gotoScreen, openApp, screenshot, startDemo, testId, typeInto, waitForJobEnd, waitForText } from "./app.mjs";

let browser;
let ready;
const NAME = "Field office (e2e)";
const FOLDER = `${process.env.ORGVAULT_DATA_DIR ?? "/tmp"}/e2e-field-office-${Date.now()}`;
const REPO_PASSWORD = "correct horse battery e2e";

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
  await typeInto(browser, "identity-folder", FOLDER);
  await typeInto(browser, "identity-repo-password", REPO_PASSWORD);
  await typeInto(browser, "identity-repo-password-again", REPO_PASSWORD);
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

test("Save and verify refuses a custom administrator role that can only view, naming the privilege a backup needs", async () => {
  // The same account, given a custom administrator role that may only view (members, content,
  // groups): it can scan, but a backup's exports are items of its own, which it may not make.
  const org = ready.orgs[0];
  const res = await fetch(`${ready.base_url}/_sim/orgs/${org.url_key}/users/${encodeURIComponent(org.user.username)}/view-only-admin`, { method: "POST" });
  assert.deepEqual(await res.json(), { changed: true }, "the simulator gave the account a view-only admin role");
  await click(browser, "identity-save");
  const error = await testId(browser, "identity-error", 60_000);
  await browser.waitUntil(async () => (await error.getText()).includes("portal:user:createItem"), {
    timeout: 60_000,
    timeoutMsg: `the refusal never named the missing privilege: ${await error.getText()}`,
  });
  assert.equal(await error.getAttribute("data-code"), "not_admin", "refused as not enough of an administrator");
  const text = await error.getText();
  assert.ok(!text.includes("portal:admin:viewItems"), `only what is missing is named: ${text}`);
  assert.ok(!text.includes(org.user.password), "the refusal never shows the password");
  screenshot("identity-view-only-refused");
});

test("Save and verify accepts the administrator and lists the identity as signed in", async () => {
  await typeInto(browser, "identity-username", ready.orgs[0].admin.username);
  await typeInto(browser, "identity-password", ready.orgs[0].admin.password);
  assert.equal(await (await testId(browser, "identity-encrypt")).isSelected(), true, "a new repository is encrypted unless the admin says otherwise");
  await click(browser, "identity-save");

  const dialog = await testId(browser, "recovery-key-dialog", 60_000);
  const key = (await (await testId(browser, "recovery-key")).getText()).trim();
  assert.ok(key.length >= 32, `the recovery key is shown: ${key.length} characters`);
  assert.match(await dialog.getText(), /cannot restore|OrgVault keeps\s+no copy/i, "the dialog warns that a lost password and key mean lost backups");
  const config = JSON.parse(readFileSync(join(FOLDER, "config"), "utf8"));
  assert.equal(config.version, 2, "the repository was created encrypted (format 2)");
  assert.equal(readdirSync(join(FOLDER, "keys")).length, 2, "two key objects: the password's and the recovery key's");
  assert.equal(await (await testId(browser, "recovery-key-done")).isEnabled(), false, "Done waits until the admin says the key is stored");
  screenshot("recovery-key");
  await click(browser, "recovery-key-kept");
  await click(browser, "recovery-key-done");
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

/** Every file under `dir`. */
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test("the new identity's backup goes into its encrypted repository: no name of the organization is readable there", async () => {
  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  assert.equal(await waitForJobEnd(browser), "succeeded", "the scan of the new identity succeeds");
  await gotoScreen(browser, "backup");
  await typeInto(browser, "backup-name", "Encrypted first backup");
  await click(browser, "backup-start");
  assert.equal(await waitForJobEnd(browser, 180_000), "succeeded", "the backup opens the encrypted repository with the password kept in the vault");
  assert.ok(existsSync(join(FOLDER, "snapshots")), "the backup wrote its snapshot into the identity's repository");
  const stored = files(FOLDER);
  assert.ok(stored.length > 10, `the repository holds the backup's objects (${stored.length} files)`);
  const needles = [ready.orgs[0].admin.username, ready.orgs[0].user.username, REPO_PASSWORD];
  for (const path of stored) {
    const bytes = readFileSync(path);
    for (const needle of needles) {
      assert.ok(!bytes.includes(Buffer.from(needle)), `${JSON.stringify(needle)} is readable in ${path}`);
    }
  }
});
