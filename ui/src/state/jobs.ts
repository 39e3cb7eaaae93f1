import type { Backend, FinishedState, JobFinished, JobId, JobItemDone, JobProgress, JobView } from "../backend/backend";
import { formatBytes } from "./selection";
import { Store } from "./store";

/** What the UI knows of one job while and after it runs. */
export interface LiveJob {
  id: JobId;
  kind: string;
  name: string;
  state: "running" | FinishedState;
  done: number;
  total: number;
  bytes: number;
  current: string | null;
  phase: string | null;
  ratePerS: number;
  bytesPerS: number;
  items: JobItemDone[];
  summary: string;
}

export type JobsState = Record<number, LiveJob>;

function blank(id: JobId, kind = "job", name = `Job ${id}`): LiveJob {
  return { id, kind, name, state: "running", done: 0, total: 0, bytes: 0, current: null, phase: null, ratePerS: 0, bytesPerS: 0, items: [], summary: "" };
}

/**
 * Pure transitions of the job table. Invariants: a finished job never returns to running and ignores
 * late progress; neither the element count nor the bytes moved go backwards; events for a job the UI
 * did not start (a retry, a scheduled job) create its entry.
 */
export const jobTransitions = {
  started(s: JobsState, id: JobId, kind: string, name: string): JobsState {
    return { ...s, [id]: { ...(s[id] ?? blank(id)), kind, name } };
  },
  progress(s: JobsState, e: JobProgress): JobsState {
    const j = s[e.job_id] ?? blank(e.job_id);
    if (j.state !== "running") return s;
    // Events may arrive out of order across the IPC bridge; progress never goes backwards.
    if (e.done < j.done || e.bytes < j.bytes) return s;
    return {
      ...s,
      [e.job_id]: {
        ...j,
        done: e.done,
        total: e.total ?? j.total,
        phase: e.phase ?? j.phase,
        bytes: e.bytes,
        current: e.current,
        ratePerS: e.rate_per_s,
        bytesPerS: e.bytes_per_s,
      },
    };
  },
  itemDone(s: JobsState, e: JobItemDone): JobsState {
    const j = s[e.job_id] ?? blank(e.job_id);
    if (j.state !== "running") return s;
    return { ...s, [e.job_id]: { ...j, items: [...j.items, e] } };
  },
  finished(s: JobsState, e: JobFinished): JobsState {
    const j = s[e.job_id] ?? blank(e.job_id);
    if (j.state !== "running") return s;
    // Progress is sent at most every 150 ms, so the last step may never arrive: a job that went
    // through everything shows its bar full.
    const done = e.state === "succeeded" || e.state === "partial" ? Math.max(j.done, j.total) : j.done;
    return { ...s, [e.job_id]: { ...j, state: e.state, summary: e.summary, current: null, done } };
  },
  /**
   * Final states read from the job history end the jobs the UI still shows running: the shell may
   * send `JobFinished` before the start command has answered, or while no window listens.
   */
  fromHistory(s: JobsState, views: JobView[]): JobsState {
    let next = s;
    for (const v of views) {
      if (next[v.id]?.state === "running" && FINAL_STATES.includes(v.state as FinishedState)) {
        next = jobTransitions.finished(next, { job_id: v.id, state: v.state as FinishedState, summary: v.summary });
      }
    }
    return next;
  },
};

/** Kinds of job that move bytes; the others (scan, restore) show no byte figures. */
const MOVES_BYTES = ["backup", "verify"];

/**
 * The figures a progress panel shows: elements done (of the total when known), bytes moved and the
 * rates. Bytes appear for jobs that move them (and for any job that reported some), so a scan never
 * shows a meaningless "0 B".
 */
export function progressFigures(job: LiveJob): { count: string; bytes: string | null; rate: string } {
  const count = job.total > 0 ? `${job.done} of ${job.total} elements` : job.state === "running" ? `${job.done} of ? elements` : `${job.done} elements`;
  const movesBytes = job.bytes > 0 || MOVES_BYTES.includes(job.kind);
  const perSecond = `${job.ratePerS.toFixed(1)} elements/s`;
  return {
    count,
    bytes: movesBytes ? formatBytes(job.bytes) : null,
    rate: movesBytes ? `${formatBytes(job.bytesPerS)}/s · ${perSecond}` : perSecond,
  };
}

const FINAL_STATES: FinishedState[] = ["succeeded", "partial", "failed", "cancelled"];

/** How often the history is read while a job runs, in case its end event went missing. */
export const HISTORY_POLL_MS = 2000;

/** The live job table fed by the backend's events. */
export class JobsStore extends Store<JobsState> {
  private unsubs: (() => void)[] = [];
  private backend: Backend | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  constructor() {
    super({});
  }
  async connect(backend: Backend): Promise<void> {
    this.backend = backend;
    this.unsubs.push(
      await backend.onJobProgress((e) => this.update((s) => jobTransitions.progress(s, e))),
      await backend.onJobItemDone((e) => this.update((s) => jobTransitions.itemDone(s, e))),
      await backend.onJobFinished((e) => this.update((s) => jobTransitions.finished(s, e))),
    );
  }
  started(id: JobId, kind: string, name: string): void {
    this.update((s) => jobTransitions.started(s, id, kind, name));
    void this.reconcile();
    if (!this.poll && this.backend) {
      this.poll = setInterval(() => void this.reconcile(), HISTORY_POLL_MS);
    }
  }
  /** Applies the history's final states; stops polling once nothing runs. */
  async reconcile(): Promise<void> {
    const backend = this.backend;
    if (!backend) return;
    const running = Object.values(this.get()).some((j) => j.state === "running");
    if (running) {
      try {
        const views = await backend.listJobs({ kind: null, state: null, identity_id: null });
        this.update((s) => jobTransitions.fromHistory(s, views));
      } catch {
        // The events still arrive; the next poll tries again.
        return;
      }
    }
    if (!Object.values(this.get()).some((j) => j.state === "running")) this.stopPolling();
  }
  private stopPolling(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }
  disconnect(): void {
    this.stopPolling();
    this.unsubs.splice(0).forEach((u) => u());
    this.backend = null;
  }
}
