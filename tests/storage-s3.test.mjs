// An identity whose backups go to an S3 bucket, set up in the Identities form against moto's
// S3 server on loopback (started by scripts/e2e.sh): the credential check tells a key that may
// not delete (append-only) from one that may; the identity is saved with an encrypted repository
// and its recovery key; its first backup lands in the bucket and is listed in Snapshots.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { click, gotoScreen, openApp, repoRoot, screenshot, startDemo, testId, typeInto, waitForJobEnd, waitForText } from "./app.mjs";

const s3File = process.env.ORGVAULT_E2E_S3;
let browser;
let ready;
let s3;
const NAME = "Offsite S3 (e2e)";
const PREFIX = `e2e-${Date.now()}`;

before(async () => {
  assert.ok(s3File, "scripts/e2e.sh starts moto's S3 server and names its keys in ORGVAULT_E2E_S3 (is tools/s3/.venv installed?)");
  s3 = JSON.parse(readFileSync(s3File, "utf8"));
  browser = await openApp();
  ready = await startDemo(browser);
});

after(async () => {
  await browser?.deleteSession();
});

/** What the bucket holds under the test's prefix, counted with AWS's own SDK (not OrgVault). */
function objects() {
  const out = execFileSync(join(repoRoot, "tools/s3/.venv/bin/python"), [join(repoRoot, "tools/s3/s3-admin.py"), "objects", s3.endpoint, s3.bucket, PREFIX], {
    env: { ...process.env, S3_KEY_ID: s3.full[0], S3_SECRET: s3.full[1] },
  });
  return JSON.parse(out.toString());
}

async function checkWith([keyId, secret]) {
  await typeInto(browser, "identity-s3-key-id", keyId);
  await typeInto(browser, "identity-s3-secret", secret);
  await click(browser, "storage-check");
  let result;
  try {
    result = await testId(browser, "storage-result", 60_000);
  } catch (e) {
    throw new Error(`${e.message}; the window showed:\n${(await browser.$("body").getText()).slice(0, 3000)}`);
  }
  let text = "";
  await browser.waitUntil(async () => (text = await result.getText()).length > 0, { timeout: 60_000 });
  return text;
}

test("the S3 credential check tells an append-only key from a full one", async () => {
  await click(browser, "identity-add-online");
  await typeInto(browser, "identity-name", NAME);
  await typeInto(browser, "identity-url", ready.orgs[0].portal_url);
  await click(browser, "signin-builtin");
  await typeInto(browser, "identity-username", ready.orgs[0].admin.username);
  await typeInto(browser, "identity-password", ready.orgs[0].admin.password);
  await click(browser, "storage-s3");
  await typeInto(browser, "identity-s3-url", `s3://${s3.bucket}/${PREFIX}?endpoint=${s3.endpoint}&region=us-east-1`);
  await typeInto(browser, "identity-s3-cache", join(process.env.ORGVAULT_DATA_DIR ?? "/tmp", "s3-cache"));

  const appendOnly = await checkWith(s3.no_delete);
  assert.match(appendOnly, /append-only/i, `a key without DeleteObject is reported append-only: ${appendOnly}`);
  assert.ok(!appendOnly.includes(s3.no_delete[1]), "the check never shows the secret key");
  screenshot("identity-s3-append-only");
  const full = await checkWith(s3.full);
  await browser.waitUntil(async () => /accepts write, list, read and delete/.test(await (await testId(browser, "storage-result")).getText()), {
    timeout: 60_000,
    timeoutMsg: `the full key's check never said it may delete: ${full}`,
  });
});

test("saved with an encrypted repository, its first backup lands in the bucket", async () => {
  await typeInto(browser, "identity-repo-password", "s3 e2e repository password");
  await typeInto(browser, "identity-repo-password-again", "s3 e2e repository password");
  await click(browser, "identity-save");
  await testId(browser, "recovery-key-dialog", 60_000);
  await click(browser, "recovery-key-kept");
  await click(browser, "recovery-key-done");
  await waitForText(browser, [NAME, `S3 s3://${s3.bucket}/${PREFIX}`]);
  const before = objects();
  assert.ok(before.count >= 3, `the repository was created in the bucket (config and key objects): ${JSON.stringify(before)}`);

  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  assert.equal(await waitForJobEnd(browser), "succeeded", "the scan succeeds");
  await gotoScreen(browser, "backup");
  await typeInto(browser, "backup-name", "First backup to S3");
  await click(browser, "backup-start");
  assert.equal(await waitForJobEnd(browser, 180_000), "succeeded", "the backup into the bucket succeeds");
  const afterBackup = objects();
  assert.ok(afterBackup.count > before.count + 10 && afterBackup.bytes > before.bytes, `the backup's objects are in the bucket: ${JSON.stringify(afterBackup)}`);
  await gotoScreen(browser, "snapshots");
  await waitForText(browser, ["First backup to S3"], 60_000);
  screenshot("snapshots-s3");
});
