import type { ComponentChildren } from "preact";
import type { IdentityView, UiError } from "../backend/backend";
import { headline } from "../app/errors";
import { progressFigures, type LiveJob } from "../state/jobs";

/** An error as `{code, message}` shown in plain words; `role=alert` so screen readers announce it. */
export function ErrorNote({ error, testid }: { error: UiError | null; testid?: string }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid={testid} data-code={error.code}>
      <strong>{headline(error)}</strong> <span>{error.message}</span>
    </div>
  );
}

export function Notice({ children, testid }: { children: ComponentChildren; testid?: string }) {
  return (
    <div class="notice" role="status" data-testid={testid}>
      {children}
    </div>
  );
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

const STATE_WORDS: Record<string, string> = {
  running: "Running",
  succeeded: "Succeeded",
  partial: "Finished with failures",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function stateWord(state: string): string {
  return STATE_WORDS[state] ?? state;
}

/** Live progress of one job: items, bytes, rate and the element being worked on. */
export function JobProgressView({ job, onCancel }: { job: LiveJob; onCancel?: () => void }) {
  const pct = job.total > 0 ? Math.round((job.done / job.total) * 100) : 0;
  const figures = progressFigures(job);
  return (
    <section class="progress-panel" aria-label={`Progress of ${job.name}`}>
      <div class="row spread">
        <strong>{job.name}</strong>
        <span class={`badge state-${job.state}`} data-testid="job-state" data-state={job.state}>
          {stateWord(job.state)}
        </span>
      </div>
      <progress max={job.total || 1} value={job.done} aria-label="Progress">
        {pct}%
      </progress>
      <div class="row muted small">
        <span data-testid="progress-count">{figures.count}</span>
        {figures.bytes !== null && <span data-testid="progress-bytes" data-bytes={job.bytes}>{figures.bytes}</span>}
        <span data-testid="progress-rate">{figures.rate}</span>
        {job.phase && <span>{job.phase}</span>}
        {job.current && <span class="ellipsis">Now: {job.current}</span>}
      </div>
      {job.summary && <p class="small">{job.summary}</p>}
      {job.state === "running" && onCancel && (
        <button type="button" class="danger" data-testid={`${job.kind}-cancel`} onClick={onCancel}>
          Cancel
        </button>
      )}
    </section>
  );
}

export function formatTime(ms: number | null): string {
  if (ms === null) return "";
  return new Date(ms).toLocaleString();
}

/** Where an identity's backups go, in a few words (its card, the Snapshots header). */
export function storageText(v: IdentityView): string {
  switch (v.storage.kind) {
    case "local":
      return `Folder ${v.storage.path}`;
    case "azure":
      return `Azure container ${v.storage.container}`;
    case "s3":
      // The address without its options (region, endpoint): bucket and prefix.
      return `S3 ${v.storage.url.split("?")[0]}`;
  }
}

/**
 * An in-page confirmation that says what will be deleted or replaced, with a button naming the
 * action and one to keep things as they are.
 */
export function Confirm({
  title,
  children,
  yes,
  no = "Cancel",
  onYes,
  onNo,
  testid,
}: {
  title: string;
  children?: ComponentChildren;
  yes: string;
  no?: string;
  onYes: () => void;
  onNo: () => void;
  testid: string;
}) {
  return (
    <section class="panel" role="alertdialog" aria-label={title} data-testid={testid}>
      <h2>{title}</h2>
      {children}
      <div class="row">
        <button type="button" class="danger" data-testid={`${testid}-yes`} onClick={onYes}>
          {yes}
        </button>
        <button type="button" data-testid={`${testid}-no`} onClick={onNo}>
          {no}
        </button>
      </div>
    </section>
  );
}
