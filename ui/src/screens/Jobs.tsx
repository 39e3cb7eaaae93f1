import { RotateCcw } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { JobItemView, JobView, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Notice, formatTime, stateWord } from "../components/common";
import { Outcomes } from "../components/Outcomes";
import { useStore } from "../state/store";

/** Who started a job: a person, or a schedule by its name when it still exists. */
function triggerWords(j: JobView, schedules: Map<number, string>): string {
  if (j.trigger.by === "manual") return "You";
  const name = schedules.get(j.trigger.schedule_id);
  return name ? `Schedule “${name}”` : `Schedule ${j.trigger.schedule_id} (deleted)`;
}

export function JobsScreen() {
  const app = useApp();
  const jobsLive = useStore(app.jobs);
  const identities = useStore(app.identities);
  const [kind, setKind] = useState("");
  const [state, setState] = useState("");
  const [identity, setIdentity] = useState("");
  const [list, setList] = useState<JobView[]>([]);
  const [open, setOpen] = useState<{ job: JobView; items: JobItemView[]; log: string } | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [schedules, setSchedules] = useState<Map<number, string>>(new Map());
  const liveKey = Object.values(jobsLive)
    .map((j) => `${j.id}:${j.state}`)
    .join(",");

  useEffect(() => {
    const load = () => app.backend.listJobs({ kind: kind || null, state: state || null, identity_id: identity || null }).then(setList, (e) => setError(toUiError(e)));
    load();
    // Jobs of schedules, the CLI and the background service are not this window's: look again.
    const every = setInterval(load, 2000);
    return () => clearInterval(every);
  }, [kind, state, identity, liveKey]);
  useEffect(() => {
    app.backend.listSchedules().then((l) => setSchedules(new Map(l.map((s) => [s.id, s.name]))), (e) => setError(toUiError(e)));
  }, []);

  const show = async (job: JobView) => {
    setError(null);
    try {
      const [items, log] = await Promise.all([app.backend.jobItems(job.id), app.backend.jobLog(job.id)]);
      setOpen({ job, items, log });
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const retry = async (job: JobView) => {
    try {
      const id = await app.backend.retryFailed(job.id);
      app.jobs.started(id, job.kind, `${job.name} (retry)`);
    } catch (e) {
      setError(toUiError(e));
    }
  };

  return (
    <section data-testid="screen-jobs" class="screen" aria-labelledby="jobs-title">
      <header class="screen-head">
        <h1 id="jobs-title">Jobs</h1>
      </header>
      <div class="row wrap" role="group" aria-label="Filter jobs">
        <label class="inline-field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)} data-testid="jobs-kind">
            <option value="">Any</option>
            <option value="scan">Scan</option>
            <option value="backup">Backup</option>
            <option value="verify">Verify</option>
            <option value="restore">Restore</option>
            <option value="retention">Retention</option>
            <option value="copy">Copy</option>
            <option value="postprocess">Post-processing</option>
          </select>
        </label>
        <label class="inline-field">
          <span>State</span>
          <select value={state} onChange={(e) => setState(e.currentTarget.value)} data-testid="jobs-state">
            <option value="">Any</option>
            {["running", "succeeded", "partial", "failed", "cancelled"].map((s) => (
              <option key={s} value={s}>
                {stateWord(s)}
              </option>
            ))}
          </select>
        </label>
        <label class="inline-field">
          <span>Organization</span>
          <select value={identity} onChange={(e) => setIdentity(e.currentTarget.value)}>
            <option value="">Any</option>
            {identities.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      {list.length === 0 ? (
        <Notice>No job matches.</Notice>
      ) : (
        <table class="table" data-testid="job-list">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">Started by</th>
              <th scope="col">Started</th>
              <th scope="col">Ended</th>
              <th scope="col">Summary</th>
            </tr>
          </thead>
          <tbody>
            {list.map((j) => (
              <tr key={j.id} data-testid="job-row" class={open?.job.id === j.id ? "current" : ""}>
                <td>
                  <button type="button" class="link" onClick={() => show(j)}>
                    {j.name}
                  </button>
                </td>
                <td>{j.kind}</td>
                <td>
                  <span class={`badge state-${j.state}`}>{stateWord(j.state)}</span>
                </td>
                <td data-testid="job-trigger" data-trigger={j.trigger.by}>
                  {triggerWords(j, schedules)}
                </td>
                <td>{formatTime(j.started_ms)}</td>
                <td>{formatTime(j.ended_ms)}</td>
                <td class="small">
                  {j.summary}
                  {j.mail && (
                    <div data-testid="job-mail" class="muted">
                      {j.mail}
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && (
        <section class="panel" aria-label={`Details of ${open.job.name}`}>
          <div class="row spread">
            <h2>{open.job.name}</h2>
            <div class="row">
              {open.items.some((i) => i.outcome === "failed") && (
                <button type="button" data-testid="jobs-retry" onClick={() => retry(open.job)}>
                  <RotateCcw size={16} aria-hidden="true" /> Retry failed
                </button>
              )}
              <button type="button" onClick={() => setOpen(null)}>
                Close
              </button>
            </div>
          </div>
          <Outcomes rows={open.items} />
          <h3>Log</h3>
          <pre class="log" tabIndex={0} aria-label="Job log">
            {open.log || "(empty)"}
          </pre>
        </section>
      )}
    </section>
  );
}
