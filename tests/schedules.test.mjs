// Schedules and e-mail in the real window, on demo organization A: create a schedule and read
// its next five runs before saving it, run it now and find its job on the Jobs screen with the
// schedule as its trigger; set up the SMTP server in Settings and send a test e-mail that a real
// SMTP server on loopback (tools/smtp_sink.py) receives.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byTestId, click, gotoScreen, openApp, repoRoot, screenshot, startDemo, testId, typeInto, waitForJobEnd, waitForText } from "./app.mjs";

let browser;
let sink;
const mailDir = mkdtempSync(join(tmpdir(), "orgvault-e2e-mail-"));
const stamp = new Date().toISOString().slice(11, 19);
const SCHEDULE = `E2E nightly scan ${stamp}`;
const MAILED_BACKUP = `E2E mailed backup ${stamp}`;
const COPIED = `E2E backup with off-site copy ${stamp}`;
const offsite = mkdtempSync(join(tmpdir(), "orgvault-e2e-offsite-"));

/** A free loopback port for the SMTP sink. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts tools/smtp_sink.py on `port`; resolves once it prints "ready". */
function startSink(port) {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [join(repoRoot, "tools", "smtp_sink.py"), "--port", String(port), "--dir", mailDir], { stdio: ["ignore", "pipe", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`smtp_sink.py exited with ${code} before it was ready`)));
    child.stdout.on("data", (d) => {
      if (String(d).includes("ready")) resolve(child);
    });
  });
}

before(async () => {
  browser = await openApp();
  await startDemo(browser);
  const pick = await testId(browser, "current-identity");
  await pick.selectByVisibleText("Demo organization A");
});

after(async () => {
  sink?.kill("SIGTERM");
  rmSync(mailDir, { recursive: true, force: true });
  rmSync(offsite, { recursive: true, force: true });
  await browser?.deleteSession();
});

test("a schedule shows its next five runs, runs now, and its job names the schedule as trigger", async () => {
  await gotoScreen(browser, "schedules");
  await click(browser, "schedule-new");
  await typeInto(browser, "schedule-name", SCHEDULE);
  await (await testId(browser, "schedule-kind")).selectByAttribute("value", "scan");
  await (await testId(browser, "schedule-recurrence")).selectByAttribute("value", "cron");
  await typeInto(browser, "schedule-cron", "61 2 * * *");
  const refused = await testId(browser, "schedule-preview-error");
  assert.equal(await refused.getAttribute("data-code"), "invalid_input", "a minute 61 is refused before saving");

  await typeInto(browser, "schedule-cron", "30 2 * * *");
  await browser.waitUntil(async () => (await browser.$$(byTestId("schedule-preview-run"))).length === 5, {
    timeout: 10_000,
    timeoutMsg: "the next five runs were never shown",
  });
  const runs = [];
  for (const li of await browser.$$(byTestId("schedule-preview-run"))) runs.push(Number(await li.getAttribute("data-ms")));
  const now = Date.now();
  for (let i = 0; i < runs.length; i++) {
    const t = new Date(runs[i]);
    assert.equal([t.getHours(), t.getMinutes()].join(":"), "2:30", `run ${i + 1} is at 02:30 local time`);
    assert.ok(runs[i] > now, "every shown run is in the future");
    if (i > 0) assert.ok(Math.abs(runs[i] - runs[i - 1] - 86_400_000) <= 3_600_000, "one run a day (an hour off across a clock change)");
  }
  screenshot("schedules-form");
  await click(browser, "schedule-save");
  await waitForText(browser, [`Schedule “${SCHEDULE}” saved.`]);
  const row = await browser.$(`[data-testid="schedule-row"][data-name="${SCHEDULE}"]`);
  await row.waitForExist({ timeout: 10_000 });
  const next = await row.$(byTestId("schedule-next"));
  assert.equal(await next.getText(), new Date(runs[0]).toLocaleString(), "the list shows the first previewed run as the next run");
  screenshot("schedules");

  await (await row.$(byTestId("schedule-run-now"))).click();
  await waitForText(browser, [`“${SCHEDULE}” started`]);
  await gotoScreen(browser, "jobs");
  let cells = [];
  await browser.waitUntil(
    async () => {
      for (const r of await browser.$$(byTestId("job-row"))) {
        const trigger = await r.$(byTestId("job-trigger"));
        if ((await trigger.getText()).includes(SCHEDULE)) {
          cells = [];
          for (const td of await r.$$("td")) cells.push((await td.getText()).trim());
          return cells[2] === "Succeeded";
        }
      }
      return false;
    },
    { timeout: 120_000, interval: 500, timeoutMsg: `no succeeded job started by “${SCHEDULE}” on the Jobs screen` },
  );
  assert.equal(cells[1], "scan", "the schedule ran a scan");
  assert.equal(cells[3], `Schedule “${SCHEDULE}”`, "the job names the schedule that started it");
});

test("Send test e-mail in Settings reaches a real SMTP server on loopback", async () => {
  const port = await freePort();
  sink = await startSink(port);
  await gotoScreen(browser, "settings");
  await typeInto(browser, "smtp-host", "127.0.0.1");
  await typeInto(browser, "smtp-port", String(port));
  await (await testId(browser, "smtp-security")).selectByAttribute("value", "none");
  await typeInto(browser, "smtp-from", "OrgVault E2E <orgvault@example.org>");
  await typeInto(browser, "smtp-test-to", "ops@example.org");
  await click(browser, "smtp-test");
  await waitForText(browser, ["Test e-mail sent to ops@example.org."], 60_000);
  const got = readdirSync(mailDir).filter((f) => f.endsWith(".json"));
  assert.equal(got.length, 1, "the server received one message");
  const message = JSON.parse(readFileSync(join(mailDir, got[0]), "utf8"));
  assert.deepEqual(message.rcpt_tos, ["ops@example.org"], "to the address typed");
  assert.match(message.from, /orgvault@example\.org/, "from the sender set in Settings");
  const smtp = await testId(browser, "smtp-settings");
  await smtp.scrollIntoView();
  screenshot("settings-smtp");
});

test("Export support logs with the path left empty writes a new zip into the data folder", async () => {
  await gotoScreen(browser, "settings");
  const dataFolder = (await (await testId(browser, "settings-data-dir")).getValue()).trim();
  assert.ok(dataFolder, "Settings show the data folder");
  await (await testId(browser, "support-path")).clearValue();
  await click(browser, "support-export");
  await waitForText(browser, ["Support logs written to "], 60_000);
  const said = await (await browser.$("body")).getText();
  const path = /Support logs written to (\S+\.zip)\./.exec(said)?.[1];
  assert.ok(path, `the screen names the zip: ${said.slice(0, 400)}`);
  assert.match(path, /orgvault-support-\d{8}-\d{6}\.zip$/, "a new, dated file name");
  assert.ok(existsSync(path), `the zip exists: ${path}`);
  assert.ok(path.startsWith(dataFolder), `in the data folder ${dataFolder}: ${path}`);
  const zip = readFileSync(path);
  assert.equal(zip.subarray(0, 2).toString(), "PK", "it is a zip");
  // The same path again is refused: OrgVault never overwrites a file.
  await typeInto(browser, "support-path", path);
  await click(browser, "support-export");
  await waitForText(browser, ["already exists"], 30_000);
  await (await testId(browser, "support-export")).scrollIntoView();
  screenshot("settings-support");
});

test("Settings keep log files for a set number of days: older ones of OrgVault's are removed on save", async () => {
  await gotoScreen(browser, "settings");
  const dataFolder = (await (await testId(browser, "settings-data-dir")).getValue()).trim();
  const logs = join(dataFolder, "logs");
  const old = join(logs, "orgvault-desktop.log.2020-01-01");
  const oldCli = join(logs, "orgvault.log.2020-01-02");
  const notOurs = join(logs, "notes-2020-01-01.txt");
  for (const f of [old, oldCli, notOurs]) writeFileSync(f, "an old line\n");
  await typeInto(browser, "settings-log-keep-days", "7");
  await click(browser, "settings-save");
  await waitForText(browser, ["Settings saved."], 30_000);
  await (await testId(browser, "settings-log-keep-days")).scrollIntoView({ block: "center" });
  screenshot("settings-logs");
  assert.ok(!existsSync(old) && !existsSync(oldCli), "the app's and the CLI's log files older than 7 days are gone");
  assert.ok(existsSync(notOurs), "a file OrgVault did not write stays, whatever its age");
  const kept = readdirSync(logs).filter((f) => f.startsWith("orgvault-desktop.log."));
  assert.ok(kept.length >= 1, `today's log file stays: ${kept}`);
  const settings = JSON.parse(readFileSync(join(dataFolder, "settings.json"), "utf8"));
  assert.equal(settings.log_keep_days, 7, "the setting is saved where the CLI reads it too");
  rmSync(notOurs);
});

test("a backup started by hand e-mails its result to the address given before its start", async () => {
  assert.ok(sink, "the SMTP server of the test above is up, and Settings point at it");
  // Organization B (its two accounts only): a backup of A here would make the next file's backup
  // of A, in the same data folder, an incremental one with nothing to download.
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization B");
  await gotoScreen(browser, "scan");
  await click(browser, "scan-start");
  assert.equal(await waitForJobEnd(browser), "succeeded", "a fresh scan to back up from");
  await gotoScreen(browser, "backup");
  await typeInto(browser, "backup-name", MAILED_BACKUP);
  await typeInto(browser, "backup-email-to", "gis@example.org");
  await (await testId(browser, "backup-email-when")).selectByAttribute("value", "always");
  await click(browser, "backup-start");
  assert.equal(await waitForJobEnd(browser, 180_000), "succeeded", "the backup of organization B succeeds");
  const mailed = () =>
    readdirSync(mailDir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(mailDir, f), "utf8")))
      .filter((m) => m.subject.includes(MAILED_BACKUP));
  await browser.waitUntil(async () => mailed().length === 1, { timeout: 60_000, timeoutMsg: "the backup's result never arrived" });
  const [message] = mailed();
  assert.deepEqual(message.rcpt_tos, ["gis@example.org"], "to the address typed on the Backup screen");
  assert.match(message.subject, /succeeded/, `the subject says how it ended: ${message.subject}`);

  // The Jobs screen says the result was e-mailed, and to whom.
  await gotoScreen(browser, "jobs");
  await browser.waitUntil(
    async () => {
      for (const el of await browser.$$(byTestId("job-mail"))) if ((await el.getText()).includes("e-mailed to gis@example.org")) return true;
      return false;
    },
    { timeout: 15_000, timeoutMsg: "the Jobs screen never said the backup's result was e-mailed" },
  );
});

test("a backup schedule copies its new snapshot off-site: the copy is a job the schedule started", async () => {
  await (await testId(browser, "current-identity")).selectByVisibleText("Demo organization B");
  await gotoScreen(browser, "schedules");
  await click(browser, "schedule-new");
  await typeInto(browser, "schedule-name", COPIED);
  await (await testId(browser, "schedule-kind")).selectByAttribute("value", "backup");
  await (await testId(browser, "schedule-recurrence")).selectByAttribute("value", "cron");
  await typeInto(browser, "schedule-cron", "15 3 * * *");
  const dest = join(offsite, "repo");
  await typeInto(browser, "schedule-copy-to", dest);
  await click(browser, "schedule-save");
  // A backup schedule is confirmed with what it takes, as a backup is.
  await click(browser, "schedule-confirm-yes");
  await waitForText(browser, [`Schedule “${COPIED}” saved.`]);
  const row = await browser.$(`[data-testid="schedule-row"][data-name="${COPIED}"]`);
  await row.waitForExist({ timeout: 10_000 });
  await (await row.$(byTestId("schedule-run-now"))).click();
  await waitForText(browser, [`“${COPIED}” started`]);
  await gotoScreen(browser, "jobs");
  const kinds = new Map();
  await browser.waitUntil(
    async () => {
      kinds.clear();
      for (const r of await browser.$$(byTestId("job-row"))) {
        if (!(await (await r.$(byTestId("job-trigger"))).getText()).includes(COPIED)) continue;
        const cells = [];
        for (const td of await r.$$("td")) cells.push((await td.getText()).trim());
        kinds.set(cells[1], cells[2]);
      }
      return kinds.get("copy") === "Succeeded";
    },
    { timeout: 180_000, interval: 500, timeoutMsg: `no succeeded copy job started by “${COPIED}”: ${JSON.stringify([...kinds])}` },
  );
  assert.equal(kinds.get("backup"), "Succeeded", "the backup ran before its copy");
  assert.ok(existsSync(join(dest, "config")), "the off-site folder holds a repository");
  assert.equal(readdirSync(join(dest, "snapshots")).length, 1, "with the new snapshot");
});
