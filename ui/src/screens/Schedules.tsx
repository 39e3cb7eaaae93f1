import { CalendarClock, Pencil, Play, Plus, Trash2 } from "lucide-preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { RecurrencePreview, ScheduleOverview, ScheduleSpec, Tally, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, Notice, formatTime, stateWord } from "../components/common";
import { QuickFilters } from "../state/quickFilters";
import { WEEKDAYS, emptyForm, formOf, recurrenceOf, specOf, type ScheduleForm } from "../state/schedules";
import { useStore } from "../state/store";

function memoryStore() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

function lastOutcome(s: ScheduleOverview): string {
  const last = s.last;
  if (!last) return "Not run yet";
  if (last.state === "missed") return last.note ? `Missed: ${last.note}` : "Missed";
  if (last.error) return `Did not start: ${last.error}`;
  const job = s.last_job_state ? stateWord(s.last_job_state) : "No job";
  const said = last.state === "late" ? `${job} (late)` : job;
  return last.note ? `${said}; ${last.note}` : said;
}

/** What the form is doing: editing, or asking to confirm a backup with its real counts. */
type Step = { kind: "edit" } | { kind: "confirm"; spec: ScheduleSpec; counts: Tally | null; countError: UiError | null };

export function SchedulesScreen() {
  const app = useApp();
  const identities = useStore(app.identities);
  const current = useStore(app.current);
  const quick = useMemo(() => new QuickFilters(typeof localStorage !== "undefined" ? localStorage : memoryStore()), []);
  const [list, setList] = useState<ScheduleOverview[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: number | null; form: ScheduleForm } | null>(null);
  const [step, setStep] = useState<Step>({ kind: "edit" });
  const [preview, setPreview] = useState<RecurrencePreview | null>(null);
  const [previewError, setPreviewError] = useState<UiError | null>(null);
  const [deleting, setDeleting] = useState<ScheduleOverview | null>(null);

  const reload = () => app.backend.listSchedules().then(setList, (e) => setError(toUiError(e)));
  useEffect(() => {
    reload();
  }, []);

  const form = editing?.form;
  const recurrenceKey = form ? JSON.stringify([form.recurrence, form.time, form.minute, form.days, form.day_of_month, form.cron]) : "";
  useEffect(() => {
    if (!form) return;
    let choice;
    try {
      choice = recurrenceOf(form);
    } catch (e) {
      setPreview(null);
      setPreviewError(toUiError(e));
      return;
    }
    let live = true;
    app.backend.previewRecurrence(choice).then(
      (p) => live && (setPreview(p), setPreviewError(null)),
      (e) => live && (setPreview(null), setPreviewError(toUiError(e))),
    );
    return () => {
      live = false;
    };
  }, [recurrenceKey]);

  const set = (patch: Partial<ScheduleForm>) => editing && setEditing({ ...editing, form: { ...editing.form, ...patch } });

  const act = async (fn: () => Promise<string | null>) => {
    setError(null);
    setNotice(null);
    try {
      const said = await fn();
      if (said) setNotice(said);
      await reload();
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const specFromForm = (): ScheduleSpec => {
    if (!form) throw new Error("no form");
    if (!preview) throw previewError ?? new Error("The recurrence is not valid yet.");
    return specOf(form, preview.cron, (name) => quick.list().find((q) => q.name === name)?.filter);
  };

  const save = async (spec: ScheduleSpec) => {
    await act(async () => {
      const saved = await app.backend.saveSchedule(editing?.id ?? null, spec);
      setEditing(null);
      setStep({ kind: "edit" });
      return `Schedule “${saved.name}” saved.`;
    });
  };

  const submit = async () => {
    setError(null);
    let spec: ScheduleSpec;
    try {
      spec = specFromForm();
    } catch (e) {
      setError(toUiError(e));
      return;
    }
    if (spec.kind !== "backup") return save(spec);
    // A scheduled backup is confirmed with the real counts of its selection in the newest scan.
    try {
      const counts = await app.backend.countSelection(spec.identity_id, spec.selection);
      setStep({ kind: "confirm", spec, counts, countError: null });
    } catch (e) {
      setStep({ kind: "confirm", spec, counts: null, countError: toUiError(e) });
    }
  };

  const identityName = (id: string) => identities.find((i) => i.id === id)?.name ?? id;

  return (
    <section data-testid="screen-schedules" class="screen" aria-labelledby="schedules-title">
      <header class="screen-head row spread">
        <h1 id="schedules-title">Schedules</h1>
        <button
          type="button"
          class="primary"
          data-testid="schedule-new"
          disabled={identities.length === 0}
          onClick={() => {
            setStep({ kind: "edit" });
            setEditing({ id: null, form: emptyForm(current ?? identities[0]?.id ?? "") });
          }}
        >
          <Plus size={16} aria-hidden="true" /> New schedule
        </button>
      </header>
      <p class="small muted">
        Schedules run while OrgVault is open (closing the window keeps it in the tray) and in the background service <code>orgvault service run</code>; each run happens once.
      </p>
      <ErrorNote error={error} testid="schedules-error" />
      {notice && <Notice testid="schedules-notice">{notice}</Notice>}
      {list.length === 0 ? (
        <Notice>No schedules yet.</Notice>
      ) : (
        <table class="table" data-testid="schedule-list">
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Runs</th>
              <th scope="col">Organization</th>
              <th scope="col">When</th>
              <th scope="col">Next run</th>
              <th scope="col">Last outcome</th>
              <th scope="col">Enabled</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id} data-testid="schedule-row" data-name={s.name}>
                <td>{s.name}</td>
                <td>{s.kind}</td>
                <td>{s.identity_name}</td>
                <td>
                  <code>{s.cron}</code>
                </td>
                <td data-testid="schedule-next">{s.next_run_ms === null ? "—" : formatTime(s.next_run_ms)}</td>
                <td data-testid="schedule-last">{lastOutcome(s)}</td>
                <td>
                  <input
                    type="checkbox"
                    role="switch"
                    aria-label={`Enabled: ${s.name}`}
                    data-testid="schedule-enabled"
                    checked={s.enabled}
                    onChange={(e) => {
                      const on = e.currentTarget.checked;
                      act(async () => {
                        await app.backend.setScheduleEnabled(s.id, on);
                        return on ? `“${s.name}” is on.` : `“${s.name}” is off.`;
                      });
                    }}
                  />
                </td>
                <td class="row">
                  <button type="button" data-testid="schedule-run-now" onClick={() => act(async () => (await app.backend.runScheduleNow(s.id), `“${s.name}” started; the Jobs screen shows it.`))}>
                    <Play size={16} aria-hidden="true" /> Run now
                  </button>
                  <button
                    type="button"
                    data-testid="schedule-edit"
                    onClick={() => {
                      setStep({ kind: "edit" });
                      setEditing({ id: s.id, form: formOf(s) });
                    }}
                  >
                    <Pencil size={16} aria-hidden="true" /> Edit
                  </button>
                  <button type="button" class="danger" data-testid="schedule-delete" onClick={() => setDeleting(s)}>
                    <Trash2 size={16} aria-hidden="true" /> Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {deleting && (
        <section class="panel" role="alertdialog" aria-labelledby="schedule-delete-title" data-testid="schedule-delete-confirm">
          <h2 id="schedule-delete-title">Delete the schedule “{deleting.name}”?</h2>
          <p>It will not run again. Its jobs stay in the history.</p>
          <div class="row">
            <button
              type="button"
              class="danger"
              data-testid="schedule-delete-yes"
              onClick={() => {
                const s = deleting;
                setDeleting(null);
                act(async () => (await app.backend.removeSchedule(s.id), `Schedule “${s.name}” deleted.`));
              }}
            >
              Delete “{deleting.name}”
            </button>
            <button type="button" onClick={() => setDeleting(null)}>
              Keep it
            </button>
          </div>
        </section>
      )}
      {editing && form && step.kind === "edit" && (
        <form
          class="panel form"
          aria-label={editing.id === null ? "New schedule" : `Edit ${form.name}`}
          data-testid="schedule-form"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <h2>
            <CalendarClock size={18} aria-hidden="true" /> {editing.id === null ? "New schedule" : `Edit “${form.name}”`}
          </h2>
          <Field label="Name">
            <input value={form.name} onInput={(e) => set({ name: e.currentTarget.value })} data-testid="schedule-name" required />
          </Field>
          <Field label="Organization">
            <select value={form.identity_id} onChange={(e) => set({ identity_id: e.currentTarget.value })} data-testid="schedule-identity">
              {identities.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Runs">
            <select value={form.kind} onChange={(e) => set({ kind: e.currentTarget.value as ScheduleForm["kind"] })} data-testid="schedule-kind">
              <option value="backup">Backup (a scan first, then the backup)</option>
              <option value="scan">Scan</option>
              <option value="verify">Verify every snapshot</option>
            </select>
          </Field>
          {form.kind === "backup" && (
            <fieldset>
              <legend>What to back up</legend>
              <label class="inline-field">
                <input type="radio" name="selection" checked={form.selection_mode === "everything"} onChange={() => set({ selection_mode: "everything" })} />
                <span>Everything, including items created later</span>
              </label>
              <label class="inline-field">
                <input type="radio" name="selection" checked={form.selection_mode === "quick_filter"} onChange={() => set({ selection_mode: "quick_filter" })} />
                <span>A saved quick filter, evaluated at each run</span>
              </label>
              {form.selection_mode === "quick_filter" && (
                <select value={form.quick_filter} onChange={(e) => set({ quick_filter: e.currentTarget.value })} aria-label="Quick filter">
                  <option value="">Choose…</option>
                  {quick.list().map((q) => (
                    <option key={q.name} value={q.name}>
                      {q.name}
                    </option>
                  ))}
                </select>
              )}
              <label class="inline-field">
                <input type="radio" name="selection" checked={form.selection_mode === "ids"} onChange={() => set({ selection_mode: "ids" })} />
                <span>These items (ids)</span>
              </label>
              {form.selection_mode === "ids" && <textarea aria-label="Item ids" value={form.ids} onInput={(e) => set({ ids: e.currentTarget.value })} rows={3} />}
              <Field label="Snapshot name" hint="{identity}, {schedule}, {date} and {time} are replaced; empty: organization, date and time.">
                <input value={form.name_pattern} onInput={(e) => set({ name_pattern: e.currentTarget.value })} placeholder="{identity} {date} {time}" />
              </Field>
            </fieldset>
          )}
          <fieldset>
            <legend>When</legend>
            <select value={form.recurrence} onChange={(e) => set({ recurrence: e.currentTarget.value as ScheduleForm["recurrence"] })} aria-label="Repeats" data-testid="schedule-recurrence">
              <option value="hourly">Every hour</option>
              <option value="daily">Every day</option>
              <option value="weekly">On chosen days</option>
              <option value="monthly">Every month</option>
              <option value="cron">Cron expression</option>
            </select>
            {form.recurrence === "hourly" && (
              <Field label="At minute">
                <input type="number" min={0} max={59} value={form.minute} onInput={(e) => set({ minute: Number(e.currentTarget.value) })} />
              </Field>
            )}
            {(form.recurrence === "daily" || form.recurrence === "weekly" || form.recurrence === "monthly") && (
              <Field label="At (local time)">
                <input type="time" value={form.time} onInput={(e) => set({ time: e.currentTarget.value })} data-testid="schedule-time" />
              </Field>
            )}
            {form.recurrence === "weekly" && (
              <div class="row wrap" role="group" aria-label="Days">
                {WEEKDAYS.map(({ day, label }) => (
                  <label class="inline-field" key={day}>
                    <input
                      type="checkbox"
                      checked={form.days.includes(day)}
                      onChange={(e) => set({ days: e.currentTarget.checked ? [...form.days, day] : form.days.filter((d) => d !== day) })}
                    />
                    <span>{label}</span>
                  </label>
                ))}
              </div>
            )}
            {form.recurrence === "monthly" && (
              <Field label="On day">
                <input type="number" min={1} max={31} value={form.day_of_month} onInput={(e) => set({ day_of_month: Number(e.currentTarget.value) })} />
              </Field>
            )}
            {form.recurrence === "cron" && (
              <Field label="Cron expression" hint="Minute, hour, day of month, month, day of week; local time.">
                <input value={form.cron} onInput={(e) => set({ cron: e.currentTarget.value })} data-testid="schedule-cron" />
              </Field>
            )}
            <ErrorNote error={previewError} testid="schedule-preview-error" />
            {preview && (
              <div data-testid="schedule-preview" data-cron={preview.cron}>
                <span class="small muted">
                  Next runs (<code>{preview.cron}</code>):
                </span>
                <ol class="small">
                  {preview.next_runs_ms.map((t) => (
                    <li key={t} data-testid="schedule-preview-run" data-ms={t}>
                      {formatTime(t)}
                    </li>
                  ))}
                </ol>
              </div>
            )}
          </fieldset>
          {form.kind === "backup" && (
            <fieldset>
              <legend>After a successful backup, keep</legend>
              <div class="row wrap">
                {(["keep_last", "keep_daily", "keep_weekly", "keep_monthly"] as const).map((k) => (
                  <Field key={k} label={k.replace("keep_", "").replace(/^./, (c) => c.toUpperCase())}>
                    <input type="number" min={0} value={form[k]} onInput={(e) => set({ [k]: e.currentTarget.value })} style="width: 6em" />
                  </Field>
                ))}
              </div>
              <label class="inline-field">
                <input type="checkbox" checked={form.prune} onChange={(e) => set({ prune: e.currentTarget.checked })} />
                <span>Then delete data no kept snapshot needs (prune)</span>
              </label>
              <p class="small muted">Leave all empty to keep every snapshot.</p>
            </fieldset>
          )}
          {form.kind === "backup" && (
            <fieldset>
              <legend>Then copy off-site</legend>
              <Field
                label="Copy each new snapshot to"
                hint="Another repository: a folder (absolute path), az://container/prefix or s3://bucket/prefix?profile=NAME. Azure's connection string and S3's keys come from the environment or ~/.aws/credentials of the app or service that runs the schedule; the copy is encrypted with this identity's repository password. Empty: no copy."
              >
                <input value={form.copy_to} onInput={(e) => set({ copy_to: e.currentTarget.value })} data-testid="schedule-copy-to" />
              </Field>
            </fieldset>
          )}
          <fieldset>
            <legend>E-mail the result</legend>
            <Field label="Recipients" hint="Addresses separated by commas. The SMTP server is set in Settings.">
              <input value={form.email_to} onInput={(e) => set({ email_to: e.currentTarget.value })} data-testid="schedule-email" />
            </Field>
            <select value={form.email_when} onChange={(e) => set({ email_when: e.currentTarget.value as ScheduleForm["email_when"] })} aria-label="When to send">
              <option value="always">Always</option>
              <option value="problems">Only on problems</option>
              <option value="never">Never</option>
            </select>
          </fieldset>
          <div class="row">
            <button type="submit" class="primary" data-testid="schedule-save">
              Save schedule
            </button>
            <button type="button" onClick={() => setEditing(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {editing && step.kind === "confirm" && (
        <section class="panel" role="alertdialog" aria-labelledby="schedule-confirm-title" data-testid="schedule-confirm">
          <h2 id="schedule-confirm-title">Schedule the backup “{step.spec.name}” of {identityName(step.spec.identity_id)}?</h2>
          {step.counts ? (
            <p data-testid="schedule-confirm-counts" data-items={step.counts.items} data-users={step.counts.users} data-groups={step.counts.groups}>
              As of the newest scan it takes {step.counts.items} items, {step.counts.users} users and {step.counts.groups} groups.
              {step.spec.selection.kind === "everything" || step.spec.selection.kind === "filtered" ? " Each run scans first, so items created later are included." : ""}
            </p>
          ) : (
            <>
              <ErrorNote error={step.countError} />
              <p>The counts are known after the first scan; each run scans first.</p>
            </>
          )}
          <div class="row">
            <button type="button" class="primary" data-testid="schedule-confirm-yes" onClick={() => save(step.spec)}>
              Save schedule
            </button>
            <button type="button" onClick={() => setStep({ kind: "edit" })}>
              Back
            </button>
          </div>
        </section>
      )}
    </section>
  );
}
