import type { Filter, Preset, RecurrenceChoice, ScheduleRetention, ScheduleSpec, Selection, Weekday } from "../bindings";
import type { FilterSet } from "./filters";

/**
 * The Schedules form's own shapes and the few conversions it needs: a saved quick filter (the
 * visualizer's rules) as the engine's `Selection`, the recurrence picker as a `RecurrenceChoice`,
 * and the form as a `ScheduleSpec`. Everything else (checks, next runs, counts) is asked of the
 * shell, which asks the engine.
 */

export type SelectionMode = "everything" | "quick_filter" | "ids";
export type RecurrenceMode = "hourly" | "daily" | "weekly" | "monthly" | "cron";
export const WEEKDAYS: { day: Weekday; label: string }[] = [
  { day: "mon", label: "Mon" },
  { day: "tue", label: "Tue" },
  { day: "wed", label: "Wed" },
  { day: "thu", label: "Thu" },
  { day: "fri", label: "Fri" },
  { day: "sat", label: "Sat" },
  { day: "sun", label: "Sun" },
];

export interface ScheduleForm {
  name: string;
  identity_id: string;
  kind: "scan" | "backup" | "verify";
  selection_mode: SelectionMode;
  quick_filter: string;
  /** item ids, one per line or separated by commas or spaces */
  ids: string;
  name_pattern: string;
  /** Where each new snapshot is copied after the backup; empty: no copy. */
  copy_to: string;
  recurrence: RecurrenceMode;
  /** "HH:MM" for daily, weekly and monthly */
  time: string;
  minute: number;
  days: Weekday[];
  day_of_month: number;
  cron: string;
  keep_last: string;
  keep_daily: string;
  keep_weekly: string;
  keep_monthly: string;
  prune: boolean;
  /** addresses, separated by commas, spaces or new lines */
  email_to: string;
  email_when: "always" | "problems" | "never";
  enabled: boolean;
  catch_up_ms: number;
}

export const DAY_MS = 24 * 3_600_000;

export function emptyForm(identityId: string): ScheduleForm {
  return {
    name: "",
    identity_id: identityId,
    kind: "backup",
    selection_mode: "everything",
    quick_filter: "",
    ids: "",
    name_pattern: "",
    copy_to: "",
    recurrence: "daily",
    time: "02:00",
    minute: 0,
    days: ["mon"],
    day_of_month: 1,
    cron: "0 2 * * *",
    keep_last: "",
    keep_daily: "",
    keep_weekly: "",
    keep_monthly: "",
    prune: true,
    email_to: "",
    email_when: "problems",
    enabled: true,
    catch_up_ms: DAY_MS,
  };
}

/** The form's recurrence as the shell takes it; `Error` with words when the time is not HH:MM. */
export function recurrenceOf(f: ScheduleForm): RecurrenceChoice {
  if (f.recurrence === "cron") return { by: "cron", expression: f.cron.trim() };
  if (f.recurrence === "hourly") return { by: "preset", preset: { every: "hourly", minute: f.minute } };
  const m = /^(\d{1,2}):(\d{2})$/.exec(f.time.trim());
  if (!m) throw new Error(`"${f.time}" is not a time like 02:30`);
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  let preset: Preset;
  if (f.recurrence === "daily") preset = { every: "daily", hour, minute };
  else if (f.recurrence === "weekly") preset = { every: "weekly", days: f.days, hour, minute };
  else preset = { every: "monthly", day: f.day_of_month, hour, minute };
  return { by: "preset", preset };
}

/** The engine's filter for one quick-filter rule, or why it cannot run unattended. */
function filterOf(rule: FilterSet["rules"][number]): Filter | string {
  const v = rule.value.trim();
  if (rule.target !== "item") return `a rule on ${rule.target}s`;
  if (rule.field === "title" && rule.op === "contains") return { kind: "title_contains", value: v };
  if (rule.field === "type" && rule.op === "equals") return { kind: "type_equals", value: v };
  if (rule.field === "type" && rule.op === "contains") return { kind: "type_contains", value: v };
  if (rule.field === "owner" && rule.op === "equals") return { kind: "owner", value: v };
  return `item ${rule.field} ${rule.op.replace("_", " ")}`;
}

/**
 * A saved quick filter as a selection a schedule re-evaluates at each run (new items that match
 * are taken too). Only the rules the engine can evaluate alone are accepted: item title contains,
 * type equals or contains, owner equals; anything else is refused with its words.
 */
export function quickFilterSelection(filter: FilterSet): Selection {
  const filters: Filter[] = [];
  for (const r of filter.rules) {
    const f = filterOf(r);
    if (typeof f === "string") throw new Error(`A schedule cannot use this quick filter: ${f} is not supported (item title contains, type equals or contains, owner equals are).`);
    filters.push(f);
  }
  return { kind: "filtered", combine: filter.combine, filters };
}

function words(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((w) => w.trim())
    .filter(Boolean);
}

function keep(n: string): number | null {
  const t = n.trim();
  if (!t) return null;
  const v = Number(t);
  if (!Number.isInteger(v) || v < 0) throw new Error(`"${n}" is not a number of snapshots to keep`);
  return v;
}

/** The form as the engine's schedule; `quick` finds a saved quick filter by name. */
export function specOf(f: ScheduleForm, cron: string, quick: (name: string) => FilterSet | undefined): ScheduleSpec {
  let selection: Selection = { kind: "everything" };
  let label: string | null = null;
  if (f.kind === "backup" && f.selection_mode === "quick_filter") {
    const q = quick(f.quick_filter);
    if (!q) throw new Error("Choose a saved quick filter.");
    selection = quickFilterSelection(q);
    label = f.quick_filter;
  } else if (f.kind === "backup" && f.selection_mode === "ids") {
    const ids = words(f.ids);
    if (ids.length === 0) throw new Error("Enter at least one item id.");
    selection = { kind: "explicit", items: ids, users: [], groups: [] };
  }
  const k = { keep_last: keep(f.keep_last), keep_daily: keep(f.keep_daily), keep_weekly: keep(f.keep_weekly), keep_monthly: keep(f.keep_monthly) };
  const retention: ScheduleRetention | null = f.kind === "backup" && Object.values(k).some((v) => v !== null && v > 0) ? { ...k, prune: f.prune } : null;
  return {
    name: f.name.trim(),
    identity_id: f.identity_id,
    kind: f.kind,
    selection,
    selection_label: label,
    name_pattern: f.name_pattern.trim() || null,
    cron,
    retention,
    copy_to: f.kind === "backup" && f.copy_to.trim() ? { dest: f.copy_to.trim() } : null,
    email_to: words(f.email_to),
    email_when: f.email_when,
    catch_up_ms: f.catch_up_ms,
    enabled: f.enabled,
  };
}

/** A stored schedule back in the form (its recurrence shown as the cron text it is). */
export function formOf(spec: ScheduleSpec): ScheduleForm {
  const base = emptyForm(spec.identity_id);
  const r = spec.retention;
  const n = (v: number | null | undefined) => (v === null || v === undefined ? "" : String(v));
  const selection_mode: SelectionMode = spec.selection_label ? "quick_filter" : spec.selection.kind === "everything" ? "everything" : "ids";
  const ids = spec.selection.kind === "explicit" || spec.selection.kind === "exact" ? spec.selection.items.join("\n") : "";
  return {
    ...base,
    name: spec.name,
    kind: spec.kind,
    selection_mode,
    quick_filter: spec.selection_label ?? "",
    ids,
    name_pattern: spec.name_pattern ?? "",
    copy_to: spec.copy_to?.dest ?? "",
    recurrence: "cron",
    cron: spec.cron,
    keep_last: n(r?.keep_last),
    keep_daily: n(r?.keep_daily),
    keep_weekly: n(r?.keep_weekly),
    keep_monthly: n(r?.keep_monthly),
    prune: r?.prune ?? true,
    email_to: spec.email_to.join(", "),
    email_when: spec.email_when,
    enabled: spec.enabled,
    catch_up_ms: spec.catch_up_ms,
  };
}
