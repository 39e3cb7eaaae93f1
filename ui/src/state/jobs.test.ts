import { afterEach, describe, expect, it, vi } from "vitest";
import { MockBackend } from "../backend/mock";
import { JobsStore, jobTransitions as t, progressFigures, type JobsState } from "./jobs";

const progress = (done: number, total = 10) => ({ job_id: 1, done, total, bytes: done * 100, current: `item ${done}`, rate_per_s: 2, bytes_per_s: 50 });

describe("job state transitions", () => {
  it("a backup's bytes and byte rate reach the progress figures and never go back", () => {
    let s: JobsState = t.started({}, 1, "backup", "Nightly");
    s = t.progress(s, { ...progress(3), bytes: 2 * 1024 * 1024, bytes_per_s: 1024 * 1024 });
    s = t.progress(s, { ...progress(3), bytes: 1_000_000, bytes_per_s: 500_000 });
    expect(s[1].bytes, "a late event with an older byte total must not shrink the bytes moved").toBe(2 * 1024 * 1024);
    const f = progressFigures(s[1]);
    expect(f.count, "items done of the total").toBe("3 of 10 elements");
    expect(f.bytes, "the bytes downloaded so far").toBe("2.0 MB");
    expect(f.rate, "the byte rate first, then the element rate").toBe("1.0 MB/s · 2.0 elements/s");
    const scan = progressFigures(t.progress(t.started({}, 2, "scan", "Scan"), { ...progress(1), job_id: 2, bytes: 0, bytes_per_s: 0 })[2]);
    expect([scan.bytes, scan.rate], "a scan moves no bytes and shows none").toEqual([null, "2.0 elements/s"]);
  });

  it("progress moves forward and never back", () => {
    let s: JobsState = t.started({}, 1, "backup", "Nightly");
    s = t.progress(s, progress(4));
    expect(s[1], "progress is recorded").toMatchObject({ state: "running", done: 4, total: 10, bytes: 400, current: "item 4" });
    s = t.progress(s, progress(2));
    expect(s[1].done, "an older progress event arriving late must not rewind the bar").toBe(4);
  });

  it("finished is terminal: late progress and items are ignored", () => {
    let s: JobsState = t.started({}, 1, "backup", "Nightly");
    s = t.itemDone(s, { job_id: 1, kind: "item", id: "a", title: "A", outcome: "failed", reason: "timeout" });
    s = t.finished(s, { job_id: 1, state: "partial", summary: "9 done, 1 failed" });
    expect(s[1], "finished carries state and summary and clears the current element").toMatchObject({ state: "partial", summary: "9 done, 1 failed", current: null });
    const after = t.progress(t.itemDone(s, { job_id: 1, kind: "item", id: "b", title: "B", outcome: "ok", reason: null }), progress(10));
    expect(after, "events after the end must not change a finished job").toBe(s);
    expect(t.finished(s, { job_id: 1, state: "succeeded", summary: "x" })[1].state, "a second finish cannot rewrite the outcome").toBe("partial");
  });

  it("cancelled is reachable from running", () => {
    let s: JobsState = t.started({}, 3, "scan", "Scan");
    s = t.progress(s, { ...progress(2, 9), job_id: 3 });
    s = t.finished(s, { job_id: 3, state: "cancelled", summary: "Cancelled after 2 of 9." });
    expect(s[3].state, "a running job can end cancelled").toBe("cancelled");
    expect(s[3].done, "a cancelled job keeps the count it reached").toBe(2);
  });

  it("a job that went through everything ends with its bar full even if the last progress was not sent", () => {
    let s: JobsState = t.progress({}, progress(324, 333));
    s = t.finished(s, { job_id: 1, state: "succeeded", summary: "333 done" });
    expect(s[1].done, "succeeded shows every element done").toBe(333);
  });

  it("an unknown total keeps the last known one and the phase is shown", () => {
    let s: JobsState = t.progress({}, progress(3, 10));
    s = t.progress(s, { ...progress(4), total: null, phase: "listing items" });
    expect(s[1], "a null total must not erase the known total").toMatchObject({ done: 4, total: 10, phase: "listing items" });
  });

  it("events for a job started elsewhere create its entry", () => {
    const s = t.progress({}, { ...progress(1), job_id: 42 });
    expect(s[42], "a retry or scheduled job shows up from its first event").toMatchObject({ id: 42, state: "running", done: 1 });
  });
});

describe("jobs store fed by the mock backend", () => {
  afterEach(() => vi.useRealTimers());

  it("a backup runs to completion with per-item outcomes", async () => {
    vi.useFakeTimers();
    const b = new MockBackend({ elements: 120, tickMs: 10, perTick: 5, withDemo: true });
    const store = new JobsStore();
    await store.connect(b);
    const id = await b.startBackup("demo-a", "Test", { everything: true, item_ids: [], usernames: [], group_ids: [] });
    store.started(id, "backup", "Test");
    await vi.advanceTimersByTimeAsync(30);
    const mid = store.get()[id];
    expect(mid.state, "after three steps the backup is still running").toBe("running");
    expect(mid.done, "three steps of five elements").toBe(15);
    await vi.advanceTimersByTimeAsync(10_000);
    const end = store.get()[id];
    expect(end.done, "every element was handled").toBe(end.total);
    expect(end.items.length, "one outcome per element").toBe(end.total);
    expect(["succeeded", "partial"], "the job ends succeeded or partial").toContain(end.state);
    const snaps = await b.listSnapshots("demo-a");
    expect(snaps.map((x) => x.name), "a finished backup appears among the snapshots under its name").toEqual(["Test"]);
    store.disconnect();
  });

  it("cancel stops a running job and no further progress arrives", async () => {
    vi.useFakeTimers();
    const b = new MockBackend({ elements: 300, tickMs: 10, perTick: 2, withDemo: true });
    const store = new JobsStore();
    await store.connect(b);
    const id = await b.startBackup("demo-a", "To cancel", { everything: true, item_ids: [], usernames: [], group_ids: [] });
    await vi.advanceTimersByTimeAsync(25);
    await b.cancelJob(id);
    const at = store.get()[id];
    expect(at.state, "the job is cancelled").toBe("cancelled");
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.get()[id].done, "no step runs after cancel").toBe(at.done);
    expect((await b.listSnapshots("demo-a")).length, "a cancelled backup leaves no snapshot").toBe(0);
    const jobs = await b.listJobs({ kind: null, state: "cancelled", identity_id: null });
    expect(jobs.map((j) => j.id), "the history filter finds the cancelled job").toEqual([id]);
  });

  it("retry failed runs only the failed elements", async () => {
    vi.useFakeTimers();
    const b = new MockBackend({ elements: 2000, tickMs: 1, perTick: 500, withDemo: true });
    const id = await b.startBackup("demo-a", "With failures", { everything: true, item_ids: [], usernames: [], group_ids: [] });
    await vi.advanceTimersByTimeAsync(100);
    const failed = (await b.jobItems(id)).filter((i) => i.outcome === "failed");
    expect(failed.length, "the demo organization has scene services that fail").toBeGreaterThan(0);
    const retry = await b.retryFailed(id);
    await vi.advanceTimersByTimeAsync(100);
    const items = await b.jobItems(retry);
    expect(items.map((i) => i.id).sort(), "the retry handles exactly the failed elements").toEqual(failed.map((i) => i.id).sort());
    expect(items.every((i) => i.outcome === "ok"), "the transient failures pass on retry").toBe(true);
  });
});

describe("job history reconciliation", () => {
  const view = (id: number, state: string) => ({ id, kind: "backup", state, name: "N", identity_id: null, started_ms: 1, ended_ms: 2, summary: `${state} from history`, trigger: { by: "manual" as const }, mail: null });

  it("a final state in the history ends a job still shown running", () => {
    const s: JobsState = t.started({}, 7, "backup", "Nightly");
    const next = t.fromHistory(s, [view(7, "succeeded")]);
    expect(next[7], "the history's final state and summary replace the missing JobFinished event").toMatchObject({ state: "succeeded", summary: "succeeded from history" });
  });

  it("running, queued and unknown jobs in the history change nothing", () => {
    const s: JobsState = t.started({}, 7, "backup", "Nightly");
    expect(t.fromHistory(s, [view(7, "running"), view(8, "succeeded"), view(9, "queued")]), "only jobs the UI shows running and the history ended are touched").toBe(s);
  });

  it("a job the event already ended keeps the event's outcome", () => {
    const s = t.finished(t.started({}, 7, "backup", "N"), { job_id: 7, state: "cancelled", summary: "by you" });
    expect(t.fromHistory(s, [view(7, "failed")])[7].state, "finished stays terminal").toBe("cancelled");
  });

  it("the store reads the history when a job starts, so a lost end event still ends it", async () => {
    const b = new MockBackend({ elements: 30, withDemo: true });
    // A backend whose events never arrive, as when JobFinished came before anyone listened.
    const silent = Object.assign(Object.create(b), {
      onJobProgress: async () => () => undefined,
      onJobItemDone: async () => () => undefined,
      onJobFinished: async () => () => undefined,
      listJobs: async () => [view(5, "succeeded")],
    });
    const store = new JobsStore();
    await store.connect(silent);
    store.started(5, "scan", "Scan");
    await vi.waitFor(() => expect(store.get()[5].state, "the start reads the history and ends the job").toBe("succeeded"));
    store.disconnect();
  });
});
