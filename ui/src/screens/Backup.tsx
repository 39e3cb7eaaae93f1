import { Play, RotateCcw } from "lucide-preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { EmailWhen, Tally, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, JobProgressView, Notice } from "../components/common";
import { Outcomes } from "../components/Outcomes";
import { formatBytes } from "../state/selection";
import { useStore } from "../state/store";

export function BackupScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const ws = useStore(app.workspace);
  const tick = useStore(app.selectionTick);
  const name = useStore(app.backupName);
  const jobs = useStore(app.jobs);
  const [jobId, setJobId] = useState<number | null>(null);
  const [estimate, setEstimate] = useState<Tally | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const ready = ws && ws.identityId === current ? ws : null;
  // E-mail of the result: the identity's default, changeable for this backup.
  const [recipients, setRecipients] = useState("");
  const [emailWhen, setEmailWhen] = useState<EmailWhen>("problems");
  const [makeDefault, setMakeDefault] = useState(false);
  const [keepDefinitions, setKeepDefinitions] = useState(true);
  // The identity's default fills the fields unless the person already typed there.
  const typed = useRef(false);

  useEffect(() => {
    if (!ready) return;
    let stale = false;
    app.backend.identityMail(ready.identityId).then(
      (m) => {
        if (stale || typed.current) return;
        setRecipients(m.recipients.join(", "));
        setEmailWhen(m.email_when);
      },
      (e) => !stale && setError(toUiError(e)),
    );
    return () => {
      stale = true;
    };
  }, [ready?.identityId]);

  useEffect(() => {
    if (!ready) return;
    let stale = false;
    app.backend.estimateSelection(ready.identityId, ready.selection.toInput()).then(
      (t) => !stale && setEstimate(t),
      (e) => !stale && setError(toUiError(e)),
    );
    return () => {
      stale = true;
    };
  }, [ready, tick]);

  const byType = useMemo(() => {
    if (!ready) return [];
    const m = ready.model;
    const counts = new Map<string, number>();
    for (let i = 0; i < m.count; i++) if (m.kind[i] === 0 && ready.selection.isSelected(i)) counts.set(m.type[i], (counts.get(m.type[i]) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]);
  }, [ready, tick]);

  const live = jobId !== null ? jobs[jobId] : undefined;
  const failed = live?.items.filter((i) => i.outcome === "failed").length ?? 0;

  const start = async () => {
    if (!ready) return;
    setError(null);
    try {
      const list = recipients.split(/[,;\s]+/).filter((r) => r.length > 0);
      if (makeDefault) await app.backend.setIdentityMail(ready.identityId, { recipients: list, email_when: emailWhen });
      const id = await app.backend.startBackup(ready.identityId, name, ready.selection.toInput(), { recipients: list, when: emailWhen }, keepDefinitions);
      app.jobs.started(id, "backup", name);
      setJobId(id);
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const retry = async () => {
    if (jobId === null) return;
    try {
      const id = await app.backend.retryFailed(jobId);
      app.jobs.started(id, "backup", `${name} (retry)`);
      setJobId(id);
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const t = estimate ?? ready?.selection.tally;
  const empty = !t || t.items + t.users + t.groups === 0;
  const sel = ready?.selection.tally;
  const selectedCount = sel ? sel.items + sel.users + sel.groups : 0;
  const failedSelected = useMemo(() => ready?.selection.selectedFailed() ?? 0, [ready, tick]);
  const onlyFailed = selectedCount > 0 && failedSelected === selectedCount;
  return (
    <section data-testid="screen-backup" class="screen" aria-labelledby="backup-title">
      <header class="screen-head">
        <h1 id="backup-title">Backup</h1>
      </header>
      {!ready ? (
        <Notice>Scan the organization and choose what to back up on the Scan screen first.</Notice>
      ) : (
        <>
          <section class="panel" aria-label="Confirmation">
            <label class="field">
              <span class="field-label">Backup name</span>
              <input data-testid="backup-name" value={name} onInput={(e) => app.backupName.set(e.currentTarget.value)} />
            </label>
            <h2>What will be backed up</h2>
            {t && (
              <p data-testid="backup-summary">
                {t.items} items, {t.users} users and {t.groups} groups, about {formatBytes(t.bytes)}.
              </p>
            )}
            {byType.length > 0 && (
              <ul class="type-counts small">
                {byType.map(([ty, n]) => (
                  <li key={ty}>
                    {ty}: {n}
                  </li>
                ))}
              </ul>
            )}
            {empty && <Notice>Nothing is selected: select elements on the Scan screen.</Notice>}
            {failedSelected > 0 && (
              <div class={onlyFailed ? "notice warn" : "notice"} role="status" data-testid="backup-failed-selected">
                {onlyFailed
                  ? `Every selected element (${failedSelected}) failed in the scan: a backup of them is refused. Scan again, or select other elements.`
                  : `${failedSelected} of the selected elements failed in the scan (outlined in red on the Scan screen); the backup scans again and reports them if they still fail.`}
              </div>
            )}
            <label class="check">
              <input type="checkbox" data-testid="backup-service-definitions" checked={keepDefinitions} onChange={(e) => setKeepDefinitions(e.currentTarget.checked)} />
              Keep what each hosted service was published from too (a feature service's service definition, a tile or scene layer's package), so that a restore can publish it again
            </label>
            <fieldset class="field" aria-label="E-mail the result">
              <legend class="field-label">E-mail the result</legend>
              <label class="field">
                <span class="field-label">To (comma-separated)</span>
                <input data-testid="backup-email-to" value={recipients} placeholder="nobody" onInput={(e) => {
                    typed.current = true;
                    setRecipients(e.currentTarget.value);
                  }}
                />
              </label>
              <label class="field">
                <span class="field-label">When</span>
                <select data-testid="backup-email-when" value={emailWhen} onChange={(e) => {
                    typed.current = true;
                    setEmailWhen(e.currentTarget.value as EmailWhen);
                  }}
                >
                  <option value="always">Always</option>
                  <option value="problems">Only when something went wrong</option>
                  <option value="never">Never</option>
                </select>
              </label>
              <label class="check">
                <input type="checkbox" data-testid="backup-email-default" checked={makeDefault} onChange={(e) => setMakeDefault(e.currentTarget.checked)} />
                Make this the identity's default
              </label>
            </fieldset>
            <button type="button" class="primary" data-testid="backup-start" disabled={empty || onlyFailed || live?.state === "running" || !name.trim()} onClick={start}>
              <Play size={16} aria-hidden="true" /> Start backup
            </button>
          </section>
          <ErrorNote error={error} />
          {live && <JobProgressView job={live} onCancel={() => app.backend.cancelJob(live.id).catch((e) => setError(toUiError(e)))} />}
          {live && live.state !== "running" && failed > 0 && (
            <button type="button" data-testid="backup-retry" onClick={retry}>
              <RotateCcw size={16} aria-hidden="true" /> Retry {failed} failed
            </button>
          )}
          {live && live.items.length > 0 && <Outcomes rows={live.items} />}
        </>
      )}
    </section>
  );
}
