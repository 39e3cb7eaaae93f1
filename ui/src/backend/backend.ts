/**
 * The one seam between the screens and whatever does the work: the Tauri shell (tauri.ts) in the
 * desktop app, or an in-memory demo organization (mock.ts) for tests, the benchmark and UI work.
 * Field names follow the shell's serde names (snake_case), as the generated bindings do.
 */

import type {
  Action,
  AppInfo,
  ConflictOn,
  ConflictPolicy,
  EdgeKind,
  ErrorCode,
  Graph,
  GraphEdge,
  GraphGroup,
  GraphItem,
  GraphUser,
  GroupTargetView,
  Finding,
  HeaderSetting,
  EmailWhen,
  IdentityCheck,
  IdentityMail,
  IdentityInput as ShellIdentityInput,
  OnDemandMail,
  IdentitySaved,
  IdentityView,
  ItemMethod,
  JobItemDone,
  JobItemView,
  MappingProfile,
  MappingView,
  OutcomeView,
  PlanMode,
  PlannedGroup,
  PlannedItem,
  PlannedUser,
  PortalKind,
  RestoreInput,
  RestoreMode,
  RestorePlan,
  SelectionInput,
  Settings,
  SignInKind,
  SnapshotEntry,
  SnapshotView,
  PruneView,
  GraphFailure,
  UrlUse,
  UrlChange,
  UrlEdit,
  UrlReplacement,
  StorageCheck,
  StorageInput,
  StorageView,
  SubjectKind,
  Tally,
  TokenState,
  Preset,
  RecurrenceChoice,
  RecurrencePreview,
  Schedule,
  ScheduleOverview,
  ScheduleSpec,
  Selection,
  SmtpInput,
  SmtpSettings,
  SmtpView,
  Trigger,
} from "../bindings";

/*
 * The shell's and the engine's own types, generated into bindings.ts and re-exported here, so the
 * screens, the mock and the shell cannot drift apart: a changed field in Rust fails `npm run check`.
 * Hand-written below are only the shapes the UI really holds differently: the identity form's
 * portal-kind guess, the job list and its filter (free words from the screen), progress (an unknown
 * rate reads as 0) and a finished job (final states only).
 */
export type {
  Action,
  AppInfo,
  ConflictOn,
  ConflictPolicy,
  EdgeKind,
  ErrorCode,
  Graph,
  GraphEdge,
  GraphGroup,
  GraphItem,
  GraphUser,
  GroupTargetView,
  HeaderSetting,
  IdentitySaved,
  IdentityView,
  ItemMethod,
  JobItemDone,
  JobItemView,
  MappingProfile,
  PlanMode,
  PlannedGroup,
  PlannedItem,
  PlannedUser,
  PortalKind,
  RestoreInput,
  RestoreMode,
  RestorePlan,
  SelectionInput,
  Settings,
  SnapshotEntry,
  SnapshotView,
  PruneView,
  GraphFailure,
  UrlUse,
  UrlChange,
  UrlEdit,
  UrlReplacement,
  EmailWhen,
  Finding,
  IdentityCheck,
  IdentityMail,
  OnDemandMail,
  StorageCheck,
  StorageInput,
  StorageView,
  SubjectKind,
  Tally,
  TokenState,
  Preset,
  RecurrenceChoice,
  RecurrencePreview,
  Schedule,
  ScheduleOverview,
  ScheduleSpec,
  Selection,
  SmtpInput,
  SmtpSettings,
  SmtpView,
  Trigger,
};
export type SignIn = SignInKind;

/** Every failure crossing the seam: `code` is for branching, `message` is for people. */
export interface UiError {
  code: ErrorCode;
  message: string;
}

export type JobId = number;

/** An identity as the form holds it: the shell's input plus the form's guess of the portal kind
 * (the shell reads the real kind from the portal's own answer, so the guess is not sent). */
export type IdentityInput = ShellIdentityInput & { kind: PortalKind };

export type JobKind = "scan" | "backup" | "verify" | "restore" | "retention" | "copy" | "postprocess";
export type JobState = "running" | "succeeded" | "partial" | "failed" | "cancelled";
export type FinishedState = Exclude<JobState, "running">;

export interface JobFilterInput {
  kind: string | null;
  state: string | null;
  identity_id: string | null;
}

export interface JobView {
  id: JobId;
  kind: string;
  state: string;
  name: string;
  identity_id: string | null;
  /** null while the job waits in the queue */
  started_ms: number | null;
  ended_ms: number | null;
  summary: string;
  /** a person ("manual") or a schedule */
  trigger: Trigger;
  /** its latest e-mailed result in words, when it was e-mailed (or a send failed) */
  mail: string | null;
}

export type ItemOutcome = OutcomeView;

export interface JobProgress {
  job_id: JobId;
  /** what the job is doing now, e.g. "listing items" */
  phase?: string;
  done: number;
  /** null while still unknown (the job is listing what to do) */
  total: number | null;
  /** bytes moved so far (a backup's downloads, a verify's checks); never goes down within a job */
  bytes: number;
  current: string | null;
  /** elements per second in the current phase */
  rate_per_s: number;
  /** the job's average bytes per second */
  bytes_per_s: number;
}
export interface JobFinished {
  job_id: JobId;
  state: FinishedState;
  summary: string;
}

/** How owners, groups and folders of a snapshot land in the target organization; what a profile saves. */
export type RestoreMapping = MappingView;

export type Unsubscribe = () => void;

export interface Backend {
  appInfo(): Promise<AppInfo>;
  listIdentities(): Promise<IdentityView[]>;
  /** Save and verify; a new identity's repository is created encrypted when a password is given. */
  saveIdentity(input: IdentityInput): Promise<IdentitySaved>;
  /** Checks a storage as entered; while `identityId` is edited an empty secret field means the stored one. */
  checkStorage(storage: StorageInput, identityId: string | null): Promise<StorageCheck>;
  /** The token watch's last check of each identity (finding and time). */
  identityChecks(): Promise<IdentityCheck[]>;
  /** Checks one identity's sign-in now. */
  checkIdentity(identityId: string): Promise<IdentityCheck>;
  /** Whom the identity's token warnings and (by default) on-demand job results go to. */
  identityMail(identityId: string): Promise<IdentityMail>;
  setIdentityMail(identityId: string, mail: IdentityMail): Promise<void>;
  removeIdentity(id: string): Promise<void>;
  startDemo(): Promise<IdentityView[]>;
  startScan(identityId: string): Promise<JobId>;
  loadGraph(identityId: string): Promise<Graph>;
  estimateSelection(identityId: string, selection: SelectionInput): Promise<Tally>;
  /** `email` overrides the identity's on-demand e-mail default for this backup. */
  startBackup(identityId: string, name: string, selection: SelectionInput, email?: OnDemandMail, serviceDefinitions?: boolean): Promise<JobId>;
  cancelJob(jobId: JobId): Promise<void>;
  retryFailed(jobId: JobId): Promise<JobId>;
  listSnapshots(identityId: string): Promise<SnapshotView[]>;
  verifySnapshot(identityId: string, snapshotId: string): Promise<JobId>;
  exportSnapshotZip(identityId: string, snapshotId: string, path: string): Promise<void>;
  snapshotContents(identityId: string, snapshotId: string): Promise<SnapshotEntry[]>;
  /** Forgets one snapshot: its record goes now, its data at the next prune. */
  forgetSnapshot(identityId: string, snapshotId: string): Promise<void>;
  /** What a prune would delete now; deletes nothing. */
  prunePreview(identityId: string): Promise<PruneView>;
  /** Deletes the data no snapshot uses. */
  pruneRepository(identityId: string): Promise<PruneView>;
  /** Imports a zip made by "Export zip"; answers the new snapshot's id. */
  importSnapshotZip(identityId: string, path: string, zipPassword: string | null): Promise<string>;
  /** The system's open dialog for a .zip; null when cancelled. */
  pickZipFile(): Promise<string | null>;
  /** The snapshot as the visualizer's graph (failed subjects listed), to choose what to restore. */
  snapshotGraph(identityId: string, snapshotId: string): Promise<Graph>;
  listJobs(filter: JobFilterInput): Promise<JobView[]>;
  jobItems(jobId: JobId): Promise<JobItemView[]>;
  jobLog(jobId: JobId): Promise<string>;
  getSettings(): Promise<Settings>;
  saveSettings(settings: Settings): Promise<void>;
  exportSupportBundle(path: string): Promise<string>;
  /** The system's folder dialog; null when cancelled. */
  pickFolder(): Promise<string | null>;
  /** The system's save dialog; null when cancelled. */
  pickSavePath(suggestedName: string): Promise<string | null>;
  /** What the restore would do; writes nothing. */
  planRestore(input: RestoreInput): Promise<RestorePlan>;
  /** Plans again against the target as it is now and carries the plan out, as a job. */
  startRestore(input: RestoreInput): Promise<JobId>;
  /** The URLs the items of the restore of `snapshotId` into the target name (registered services marked). */
  restoredUrls(targetIdentityId: string, snapshotId: string): Promise<UrlUse[]>;
  /** What rules and edits would change; writes nothing. */
  previewUrlChanges(uses: UrlUse[], rules: UrlReplacement[], edits: UrlEdit[]): Promise<UrlChange[]>;
  /** Writes the changes as a post-processing job of the target identity. */
  applyUrlChanges(targetIdentityId: string, snapshotId: string, changes: UrlChange[]): Promise<JobId>;
  /** Puts `rules` as the URL rules of a mapping profile; answers how many it held before. */
  saveUrlRules(name: string, rules: UrlReplacement[]): Promise<number>;
  /** Saved mapping profiles, by name. */
  listMappingProfiles(): Promise<MappingProfile[]>;
  /** Saves or replaces the profile of that name. */
  saveMappingProfile(profile: MappingProfile): Promise<void>;
  deleteMappingProfile(name: string): Promise<void>;

  /** Schedules with their next run, last outcome and identity name. */
  listSchedules(): Promise<ScheduleOverview[]>;
  /** The next five runs of a preset or cron text, before saving; refused with the reason. */
  previewRecurrence(recurrence: RecurrenceChoice): Promise<RecurrencePreview>;
  /** Adds (`id` null) or replaces a schedule. */
  saveSchedule(id: number | null, spec: ScheduleSpec): Promise<Schedule>;
  setScheduleEnabled(id: number, enabled: boolean): Promise<Schedule>;
  removeSchedule(id: number): Promise<void>;
  /** Starts a schedule's run now, in the background (the Jobs screen shows its job). */
  runScheduleNow(id: number): Promise<void>;
  /** The counts of a selection in the identity's newest scan (a scheduled backup's confirmation). */
  countSelection(identityId: string, selection: Selection): Promise<Tally>;
  /** The SMTP server; never its password, only whether one is saved. */
  getSmtpSettings(): Promise<SmtpView | null>;
  saveSmtpSettings(input: SmtpInput): Promise<void>;
  sendTestEmail(to: string): Promise<void>;
  onJobProgress(handler: (e: JobProgress) => void): Promise<Unsubscribe>;
  onJobItemDone(handler: (e: JobItemDone) => void): Promise<Unsubscribe>;
  onJobFinished(handler: (e: JobFinished) => void): Promise<Unsubscribe>;
}

/** Turns anything thrown across the seam into a `UiError`, so screens have one shape to show. */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const o = e as { code: unknown; message: unknown };
    // The shell sends only `ErrorCode`s; `headline` still copes with anything else.
    return { code: String(o.code) as ErrorCode, message: String(o.message) };
  }
  if (e instanceof Error) return { code: "internal", message: e.message };
  return { code: "internal", message: String(e) };
}

/** No mapping: every owner, group and folder follows the engine's defaults (docs/restore.md). */
export const EMPTY_MAPPING: RestoreMapping = {
  owners: {},
  groups: {},
  folders: {},
  tags: [],
  url_replacements: [],
  conflict: "skip",
  mode: "auto",
};

/** Portal addresses are typed without a scheme as often as with one; the portal only speaks HTTPS. */
export function withScheme(url: string): string {
  const u = url.trim();
  if (!u || /^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return u;
  return `https://${u}`;
}
