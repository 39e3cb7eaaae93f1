import { describe, expect, it } from "vitest";
import { MockBackend } from "../backend/mock";
import { emptyForm, formOf, quickFilterSelection, recurrenceOf, specOf } from "./schedules";

describe("the schedule form", () => {
  it("turns a saved quick filter into the engine's filter, re-evaluated at each run", () => {
    const sel = quickFilterSelection({
      combine: "any",
      rules: [
        { target: "item", field: "type", op: "equals", value: " Web Map " },
        { target: "item", field: "title", op: "contains", value: "roads" },
        { target: "item", field: "owner", op: "equals", value: "gis_admin" },
      ],
    });
    expect(sel).toEqual({
      kind: "filtered",
      combine: "any",
      filters: [
        { kind: "type_equals", value: "Web Map" },
        { kind: "title_contains", value: "roads" },
        { kind: "owner", value: "gis_admin" },
      ],
    });
  });

  it("refuses a quick filter whose rules the engine cannot evaluate, saying which", () => {
    expect(() => quickFilterSelection({ combine: "all", rules: [{ target: "user", field: "role", op: "equals", value: "org_admin" }] })).toThrow(/a rule on users/);
    expect(() => quickFilterSelection({ combine: "all", rules: [{ target: "item", field: "access", op: "equals", value: "public" }] })).toThrow(/item access equals/);
  });

  it("sends presets and cron text as the shell's recurrence, refusing a malformed time", () => {
    const f = { ...emptyForm("acme"), recurrence: "weekly" as const, time: "02:30", days: ["mon" as const, "fri" as const] };
    expect(recurrenceOf(f)).toEqual({ by: "preset", preset: { every: "weekly", days: ["mon", "fri"], hour: 2, minute: 30 } });
    expect(recurrenceOf({ ...f, recurrence: "cron", cron: " 5 4 * * * " })).toEqual({ by: "cron", expression: "5 4 * * *" });
    expect(() => recurrenceOf({ ...f, time: "2.30" })).toThrow(/not a time/);
  });

  it("keeps retention, recipients and explicit ids, and reads a stored schedule back", () => {
    const f = { ...emptyForm("acme"), name: " Nightly ", selection_mode: "ids" as const, ids: "a1, b2\nc3", keep_last: "7", email_to: "ops@example.org, gis@example.org" };
    const spec = specOf(f, "0 2 * * *", () => undefined);
    expect(spec.name).toBe("Nightly");
    expect(spec.selection).toEqual({ kind: "explicit", items: ["a1", "b2", "c3"], users: [], groups: [] });
    expect(spec.retention).toEqual({ keep_last: 7, keep_daily: null, keep_weekly: null, keep_monthly: null, prune: true });
    expect(spec.email_to).toEqual(["ops@example.org", "gis@example.org"]);
    const back = formOf(spec);
    expect([back.selection_mode, back.ids, back.keep_last, back.cron, back.recurrence]).toEqual(["ids", "a1\nb2\nc3", "7", "0 2 * * *", "cron"]);
    expect(specOf({ ...f, kind: "scan" }, "0 2 * * *", () => undefined).retention).toBeNull();
    expect(() => specOf({ ...f, selection_mode: "quick_filter", quick_filter: "gone" }, "0 2 * * *", () => undefined)).toThrow(/quick filter/);
  });
});

describe("the demo backend's schedules", () => {
  it("lists, previews, switches off and runs a schedule as a job triggered by it", async () => {
    const b = new MockBackend({ elements: 20, tickMs: 1, perTick: 50 });
    b.now = () => new Date(2026, 5, 1, 10, 0).getTime();
    const [acme] = await b.startDemo();
    const shown = await b.previewRecurrence({ by: "preset", preset: { every: "daily", hour: 2, minute: 30 } });
    expect(shown.cron).toBe("30 2 * * *");
    expect(shown.next_runs_ms[0]).toBe(new Date(2026, 5, 2, 2, 30).getTime());
    expect(shown.next_runs_ms).toHaveLength(5);
    const saved = await b.saveSchedule(null, specOf({ ...emptyForm(acme.id), name: "Nightly" }, shown.cron, () => undefined));
    expect((await b.listSchedules())[0]).toMatchObject({ name: "Nightly", identity_name: acme.name, next_run_ms: shown.next_runs_ms[0] });
    await b.setScheduleEnabled(saved.id, false);
    expect((await b.listSchedules())[0].next_run_ms).toBeNull();
    await b.runScheduleNow(saved.id);
    const jobs = await b.listJobs({ kind: null, state: null, identity_id: null });
    expect(jobs.find((j) => j.trigger.by === "schedule")?.trigger).toEqual({ by: "schedule", schedule_id: saved.id });
  });
});
