import { commands, events } from "../bindings";
import type * as B from "../bindings";
import type {
  AppInfo,
  Backend,
  FinishedState,
  Graph,
  IdentityCheck,
  IdentityMail,
  OnDemandMail,
  IdentityInput,
  IdentitySaved,
  IdentityView,
  JobFilterInput,
  JobFinished,
  JobId,
  JobItemDone,
  JobItemView,
  JobProgress,
  JobView,
  MappingProfile,
  RecurrenceChoice,
  RecurrencePreview,
  RestoreInput,
  RestorePlan,
  Schedule,
  ScheduleOverview,
  ScheduleSpec,
  Selection,
  SelectionInput,
  Settings,
  SmtpInput,
  SmtpView,
  SnapshotEntry,
  SnapshotView,
  PruneView,
  UrlUse,
  UrlChange,
  UrlEdit,
  UrlReplacement,
  StorageCheck,
  StorageInput,
  Tally,
  Unsubscribe,
} from "./backend";
import { toUiError } from "./backend";

/**
 * The desktop backend over the generated `bindings.ts` (tauri-specta). Every call goes through
 * the typed `commands` and `events`, so a renamed command or a changed shape in the shell makes
 * `npm run check` fail here rather than at run time in the window.
 *
 * Each command answers `{status: "ok", data} | {status: "error", error: UiError}`; `unwrap` turns
 * that back into a value or a thrown `UiError`, the one shape the screens handle.
 */
type Answer<T> = { status: "ok"; data: T } | { status: "error"; error: B.UiError };

async function unwrap<T>(answer: Promise<Answer<T>>): Promise<T> {
  let a: Answer<T>;
  try {
    a = await answer;
  } catch (e) {
    // The generated wrapper rethrows only real exceptions (IPC failures), never a UiError.
    throw toUiError(e);
  }
  if (a.status === "error") throw toUiError(a.error);
  return a.data;
}

const FINAL: readonly string[] = ["succeeded", "partial", "failed", "cancelled"] satisfies FinishedState[];

/** Whether a job state from the history is final; `queued` and `running` are not. */
export function isFinal(state: string): state is FinishedState {
  return FINAL.includes(state);
}

/** The shell's progress in the UI's shape: an unknown rate reads as 0 per second. */
export function progressOf(e: B.JobProgress): JobProgress {
  return { ...e, rate_per_s: e.rate_per_s ?? 0, bytes_per_s: e.bytes_per_s ?? 0 };
}

/** The shell's filter takes known kinds and states only; "" and unknown words mean "any". */
function filterOf(f: JobFilterInput): B.JobFilterInput {
  const kinds: B.JobKindView[] = ["scan", "backup", "restore", "verify", "retention", "copy", "postprocess"];
  const states: B.JobStateView[] = ["queued", "running", "succeeded", "partial", "failed", "cancelled"];
  return {
    kind: kinds.find((k) => k === f.kind) ?? null,
    state: states.find((s) => s === f.state) ?? null,
    identity_id: f.identity_id || null,
  };
}

/** The shell reads the portal kind from the portal's own answer, so the form's guess is not sent. */
function identityInputOf(input: IdentityInput): B.IdentityInput {
  const { kind: _guess, ...rest } = input;
  return rest;
}

export class TauriBackend implements Backend {
  appInfo(): Promise<AppInfo> {
    return unwrap(commands.appInfo());
  }
  listIdentities(): Promise<IdentityView[]> {
    return unwrap(commands.listIdentities());
  }
  saveIdentity(input: IdentityInput): Promise<IdentitySaved> {
    return unwrap(commands.saveIdentity(identityInputOf(input)));
  }
  checkStorage(storage: StorageInput, identityId: string | null): Promise<StorageCheck> {
    return unwrap(commands.checkStorage(storage, identityId));
  }
  identityChecks(): Promise<IdentityCheck[]> {
    return unwrap(commands.identityChecks());
  }
  checkIdentity(identityId: string): Promise<IdentityCheck> {
    return unwrap(commands.checkIdentity(identityId));
  }
  identityMail(identityId: string): Promise<IdentityMail> {
    return unwrap(commands.identityMail(identityId));
  }
  async setIdentityMail(identityId: string, mail: IdentityMail): Promise<void> {
    await unwrap(commands.setIdentityMail(identityId, mail));
  }
  async removeIdentity(id: string): Promise<void> {
    await unwrap(commands.removeIdentity(id));
  }
  startDemo(): Promise<IdentityView[]> {
    return unwrap(commands.startDemo());
  }
  startScan(identityId: string): Promise<JobId> {
    return unwrap(commands.startScan(identityId));
  }
  loadGraph(identityId: string): Promise<Graph> {
    return unwrap(commands.loadGraph(identityId));
  }
  estimateSelection(identityId: string, selection: SelectionInput): Promise<Tally> {
    return unwrap(commands.estimateSelection(identityId, selection));
  }
  startBackup(identityId: string, name: string, selection: SelectionInput, email?: OnDemandMail, serviceDefinitions?: boolean): Promise<JobId> {
    return unwrap(commands.startBackup(identityId, name, selection, email ?? null, serviceDefinitions ?? null));
  }
  async cancelJob(jobId: JobId): Promise<void> {
    await unwrap(commands.cancelJob(jobId));
  }
  retryFailed(jobId: JobId): Promise<JobId> {
    return unwrap(commands.retryFailed(jobId));
  }
  listSnapshots(identityId: string): Promise<SnapshotView[]> {
    return unwrap(commands.listSnapshots(identityId));
  }
  verifySnapshot(identityId: string, snapshotId: string): Promise<JobId> {
    return unwrap(commands.verifySnapshot(identityId, snapshotId));
  }
  async exportSnapshotZip(identityId: string, snapshotId: string, path: string): Promise<void> {
    await unwrap(commands.exportSnapshotZip(identityId, snapshotId, path));
  }
  snapshotContents(identityId: string, snapshotId: string): Promise<SnapshotEntry[]> {
    return unwrap(commands.snapshotContents(identityId, snapshotId));
  }
  restoredUrls(targetIdentityId: string, snapshotId: string): Promise<UrlUse[]> {
    return unwrap(commands.restoredUrls(targetIdentityId, snapshotId));
  }
  previewUrlChanges(uses: UrlUse[], rules: UrlReplacement[], edits: UrlEdit[]): Promise<UrlChange[]> {
    return commands.previewUrlChanges(uses, rules, edits);
  }
  applyUrlChanges(targetIdentityId: string, snapshotId: string, changes: UrlChange[]): Promise<JobId> {
    return unwrap(commands.applyUrlChanges(targetIdentityId, snapshotId, changes));
  }
  saveUrlRules(name: string, rules: UrlReplacement[]): Promise<number> {
    return unwrap(commands.saveUrlRules(name, rules));
  }
  forgetSnapshot(identityId: string, snapshotId: string): Promise<void> {
    return unwrap(commands.forgetSnapshot(identityId, snapshotId)).then(() => undefined);
  }
  prunePreview(identityId: string): Promise<PruneView> {
    return unwrap(commands.prunePreview(identityId));
  }
  pruneRepository(identityId: string): Promise<PruneView> {
    return unwrap(commands.pruneRepository(identityId));
  }
  importSnapshotZip(identityId: string, path: string, zipPassword: string | null): Promise<string> {
    return unwrap(commands.importSnapshotZip(identityId, path, zipPassword));
  }
  pickZipFile(): Promise<string | null> {
    return unwrap(commands.pickZipFile());
  }
  snapshotGraph(identityId: string, snapshotId: string): Promise<Graph> {
    return unwrap(commands.snapshotGraph(identityId, snapshotId));
  }
  listJobs(filter: JobFilterInput): Promise<JobView[]> {
    return unwrap(commands.listJobs(filterOf(filter)));
  }
  jobItems(jobId: JobId): Promise<JobItemView[]> {
    return unwrap(commands.jobItems(jobId));
  }
  jobLog(jobId: JobId): Promise<string> {
    return unwrap(commands.jobLog(jobId));
  }
  getSettings(): Promise<Settings> {
    return unwrap(commands.getSettings());
  }
  async saveSettings(settings: Settings): Promise<void> {
    await unwrap(commands.saveSettings(settings));
  }
  exportSupportBundle(path: string): Promise<string> {
    return unwrap(commands.exportSupportBundle(path));
  }
  pickFolder(): Promise<string | null> {
    return unwrap(commands.pickFolder());
  }
  pickSavePath(suggestedName: string): Promise<string | null> {
    return unwrap(commands.pickSavePath(suggestedName));
  }
  planRestore(input: RestoreInput): Promise<RestorePlan> {
    return unwrap(commands.planRestore(input));
  }
  startRestore(input: RestoreInput): Promise<JobId> {
    return unwrap(commands.startRestore(input));
  }
  listMappingProfiles(): Promise<MappingProfile[]> {
    return unwrap(commands.listMappingProfiles());
  }
  async saveMappingProfile(profile: MappingProfile): Promise<void> {
    await unwrap(commands.saveMappingProfile(profile.name, profile.mapping));
  }
  async deleteMappingProfile(name: string): Promise<void> {
    await unwrap(commands.deleteMappingProfile(name));
  }
  listSchedules(): Promise<ScheduleOverview[]> {
    return unwrap(commands.listSchedules());
  }
  previewRecurrence(recurrence: RecurrenceChoice): Promise<RecurrencePreview> {
    return unwrap(commands.previewRecurrence(recurrence));
  }
  saveSchedule(id: number | null, spec: ScheduleSpec): Promise<Schedule> {
    return unwrap(commands.saveSchedule(id, spec));
  }
  setScheduleEnabled(id: number, enabled: boolean): Promise<Schedule> {
    return unwrap(commands.setScheduleEnabled(id, enabled));
  }
  async removeSchedule(id: number): Promise<void> {
    await unwrap(commands.removeSchedule(id));
  }
  async runScheduleNow(id: number): Promise<void> {
    await unwrap(commands.runScheduleNow(id));
  }
  countSelection(identityId: string, selection: Selection): Promise<Tally> {
    return unwrap(commands.countSelection(identityId, selection));
  }
  getSmtpSettings(): Promise<SmtpView | null> {
    return unwrap(commands.getSmtpSettings());
  }
  async saveSmtpSettings(input: SmtpInput): Promise<void> {
    await unwrap(commands.saveSmtpSettings(input));
  }
  async sendTestEmail(to: string): Promise<void> {
    await unwrap(commands.sendTestEmail(to));
  }

  onJobProgress(handler: (e: JobProgress) => void): Promise<Unsubscribe> {
    return events.jobProgress.listen((msg) => handler(progressOf(msg.payload)));
  }
  onJobItemDone(handler: (e: JobItemDone) => void): Promise<Unsubscribe> {
    return events.jobItemDone.listen((msg) => handler(msg.payload));
  }
  onJobFinished(handler: (e: JobFinished) => void): Promise<Unsubscribe> {
    return events.jobFinished.listen((msg) => {
      const { job_id, state, summary } = msg.payload;
      // Only final states end a job in the UI; the shell sends no other, but the type allows them.
      if (isFinal(state)) handler({ job_id, state, summary });
    });
  }
}
