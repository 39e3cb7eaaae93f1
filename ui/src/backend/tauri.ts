import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type {
  AppInfo,
  Backend,
  Graph,
  IdentityInput,
  IdentityView,
  JobFilterInput,
  JobFinished,
  JobId,
  JobItemDone,
  JobItemView,
  JobProgress,
  JobView,
  MappingProfile,
  RestoreInput,
  RestorePlan,
  SelectionInput,
  Settings,
  SnapshotEntry,
  SnapshotView,
  StorageCheck,
  StorageInput,
  Tally,
  UiError,
  Unsubscribe,
} from "./backend";
import { toUiError } from "./backend";

/**
 * The desktop backend: each operation is one Tauri command (snake_case name, camelCase argument
 * keys as Tauri v2 expects). Written against the command list of the app contract; when the shell's
 * generated `bindings.ts` lands, its names win and this file follows them.
 */
async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw normalise(command, e);
  }
}

/** Tauri rejects an unregistered command with a bare string; the screens want a `{code, message}`. */
function normalise(command: string, e: unknown): UiError {
  if (typeof e === "string" && /not found|unknown command/i.test(e)) {
    return { code: "unavailable", message: `This version of OrgVault does not offer this yet (${command}).` };
  }
  return toUiError(e);
}

async function subscribe<T>(event: string, handler: (e: T) => void): Promise<Unsubscribe> {
  return listen<T>(event, (msg) => handler(msg.payload));
}

export class TauriBackend implements Backend {
  appInfo(): Promise<AppInfo> {
    return call("app_info");
  }
  listIdentities(): Promise<IdentityView[]> {
    return call("list_identities");
  }
  saveIdentity(input: IdentityInput): Promise<IdentityView> {
    return call("save_identity", { input });
  }
  checkStorage(storage: StorageInput): Promise<StorageCheck> {
    return call("check_storage", { storage });
  }
  removeIdentity(id: string): Promise<void> {
    return call("remove_identity", { id });
  }
  startDemo(): Promise<IdentityView[]> {
    return call("start_demo");
  }
  startScan(identityId: string): Promise<JobId> {
    return call("start_scan", { identityId });
  }
  loadGraph(identityId: string): Promise<Graph> {
    return call("load_graph", { identityId });
  }
  estimateSelection(identityId: string, selection: SelectionInput): Promise<Tally> {
    return call("estimate_selection", { identityId, selection });
  }
  startBackup(identityId: string, name: string, selection: SelectionInput): Promise<JobId> {
    return call("start_backup", { identityId, name, selection });
  }
  cancelJob(jobId: JobId): Promise<void> {
    return call("cancel_job", { jobId });
  }
  retryFailed(jobId: JobId): Promise<JobId> {
    return call("retry_failed", { jobId });
  }
  listSnapshots(identityId: string): Promise<SnapshotView[]> {
    return call("list_snapshots", { identityId });
  }
  verifySnapshot(identityId: string, snapshotId: string): Promise<JobId> {
    return call("verify_snapshot", { identityId, snapshotId });
  }
  exportSnapshotZip(identityId: string, snapshotId: string, path: string): Promise<void> {
    return call("export_snapshot_zip", { identityId, snapshotId, path });
  }
  snapshotContents(identityId: string, snapshotId: string): Promise<SnapshotEntry[]> {
    return call("snapshot_contents", { identityId, snapshotId });
  }
  listJobs(filter: JobFilterInput): Promise<JobView[]> {
    return call("list_jobs", { filter });
  }
  jobItems(jobId: JobId): Promise<JobItemView[]> {
    return call("job_items", { jobId });
  }
  jobLog(jobId: JobId): Promise<string> {
    return call("job_log", { jobId });
  }
  getSettings(): Promise<Settings> {
    return call("get_settings");
  }
  saveSettings(settings: Settings): Promise<void> {
    return call("save_settings", { settings });
  }
  exportSupportBundle(path: string): Promise<string> {
    return call("export_support_bundle", { path });
  }
  pickFolder(): Promise<string | null> {
    return call("pick_folder");
  }
  pickSavePath(suggestedName: string): Promise<string | null> {
    return call("pick_save_path", { suggestedName });
  }
  planRestore(input: RestoreInput): Promise<RestorePlan> {
    return call("plan_restore", { input });
  }
  startRestore(input: RestoreInput): Promise<JobId> {
    return call("start_restore", { input });
  }
  listMappingProfiles(): Promise<MappingProfile[]> {
    return call("list_mapping_profiles");
  }
  saveMappingProfile(profile: MappingProfile): Promise<void> {
    return call("save_mapping_profile", { profile });
  }
  // tauri-specta names typed events in kebab-case after their Rust type.
  onJobProgress(handler: (e: JobProgress) => void): Promise<Unsubscribe> {
    return subscribe("job-progress", handler);
  }
  onJobItemDone(handler: (e: JobItemDone) => void): Promise<Unsubscribe> {
    return subscribe("job-item-done", handler);
  }
  onJobFinished(handler: (e: JobFinished) => void): Promise<Unsubscribe> {
    return subscribe("job-finished", handler);
  }
}
