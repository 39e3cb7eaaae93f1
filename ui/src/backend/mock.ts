import type {
  AppInfo,
  Backend,
  FinishedState,
  Graph,
  IdentityCheck,
  IdentityInput,
  IdentityMail,
  OnDemandMail,
  IdentitySaved,
  IdentityView,
  JobFilterInput,
  JobFinished,
  JobId,
  JobItemDone,
  JobItemView,
  JobProgress,
  JobView,
  Action,
  MappingProfile,
  PlannedGroup,
  PlannedItem,
  PlannedUser,
  SubjectKind,
  RestoreInput,
  RestorePlan,
  SelectionInput,
  Settings,
  SnapshotEntry,
  SnapshotView,
  PruneView,
  ItemMethod,
  UrlUse,
  UrlChange,
  UrlEdit,
  UrlReplacement,
  StorageCheck,
  StorageInput,
  Tally,
  ErrorCode,
  Preset,
  RecurrenceChoice,
  RecurrencePreview,
  Schedule,
  ScheduleOverview,
  ScheduleSpec,
  Selection,
  SmtpInput,
  SmtpView,
  Trigger,
  UiError,
  Unsubscribe,
} from "./backend";
import { EMPTY_MAPPING, withScheme } from "./backend";
import { generateGraph } from "./demoOrg";

export interface MockOptions {
  /** Elements (items + users + groups) in the first demo organization. */
  elements?: number;
  /** Milliseconds between simulated job steps. */
  tickMs?: number;
  /** Work units (items) handled per step. */
  perTick?: number;
  /** Start with the two demo organizations already added and scanned. */
  withDemo?: boolean;
}

interface WorkUnit {
  kind: SubjectKind;
  id: string;
  title: string;
  /** the item type (items only) */
  type?: string;
  bytes: number;
  fails: boolean;
}

interface RunningJob {
  view: JobView;
  units: WorkUnit[];
  done: number;
  bytes: number;
  timer: ReturnType<typeof setTimeout> | null;
  items: JobItemView[];
  log: string[];
  onSuccess: (job: RunningJob) => void;
}

function fail(code: ErrorCode, message: string): UiError {
  return { code, message };
}

/**
 * An in-memory OrgVault: two demo organizations, jobs that progress on timers and can be cancelled.
 * Deterministic for a given option set, so tests can drive it with fake timers.
 */
export class MockBackend implements Backend {
  private identities: IdentityView[] = [];
  private checks = new Map<string, IdentityCheck>();
  private mail = new Map<string, IdentityMail>();
  /** The e-mail choice of each backup started (the mock sends nothing). */
  readonly backupMail: (OnDemandMail | undefined)[] = [];
  private graphs = new Map<string, Graph>();
  private snapshots = new Map<string, SnapshotView[]>();
  private snapshotEntries = new Map<string, SnapshotEntry[]>();
  /** Per snapshot: the graph it was backed up from, and what failed in it. */
  private snapshotSource = new Map<string, { graph: Graph; failed: WorkUnit[] }>();
  private jobs = new Map<JobId, RunningJob>();
  private nextJob = 1;
  private profiles: MappingProfile[] = [];
  private settings: Settings = { log_level: "info", headers: [], data_dir: "/home/demo/.local/share/orgvault", log_keep_days: 30, start_at_login: false };
  private schedules: Schedule[] = [];
  private nextSchedule = 1;
  private smtp: SmtpView | null = null;
  private progressHandlers = new Set<(e: JobProgress) => void>();
  private itemHandlers = new Set<(e: JobItemDone) => void>();
  private finishedHandlers = new Set<(e: JobFinished) => void>();
  private readonly elements: number;
  private readonly tickMs: number;
  private readonly perTick: number;
  private demoRunning = false;
  now: () => number = () => Date.now();

  constructor(opts: MockOptions = {}) {
    this.elements = opts.elements ?? 400;
    this.tickMs = opts.tickMs ?? 120;
    this.perTick = opts.perTick ?? 3;
    if (opts.withDemo) this.addDemo();
  }

  async appInfo(): Promise<AppInfo> {
    return { version: "0.1.0-mock", data_dir: this.settings.data_dir, demo_running: this.demoRunning, vault: "in memory (mock)" };
  }

  async identityChecks(): Promise<IdentityCheck[]> {
    return [...this.checks.values()].map((c) => ({ ...c }));
  }

  async identityMail(identityId: string): Promise<IdentityMail> {
    const m = this.mail.get(identityId);
    return m ? { ...m, recipients: [...m.recipients] } : { recipients: [], email_when: "problems" };
  }

  async setIdentityMail(identityId: string, mail: IdentityMail): Promise<void> {
    const bad = mail.recipients.find((r) => !/^[^@\s]+@[^@\s]+$/.test(r));
    if (bad !== undefined) throw fail("invalid_input", `${bad} is not an e-mail address.`);
    this.mail.set(identityId, { ...mail, recipients: [...mail.recipients] });
  }

  /** The mock's identities always sign in: a check finds them ok. */
  async checkIdentity(identityId: string): Promise<IdentityCheck> {
    const identity = this.identities.find((i) => i.id === identityId);
    if (!identity) throw fail("not_found", `No identity ${identityId}.`);
    const check: IdentityCheck = {
      identity_id: identity.id,
      identity: identity.name,
      finding: "ok",
      detail: null,
      expires_ms: null,
      checked_ms: Date.now(),
      mail_error: null,
    };
    this.checks.set(identity.id, check);
    return { ...check };
  }

  async listIdentities(): Promise<IdentityView[]> {
    return this.identities.map((i) => ({ ...i }));
  }

  async saveIdentity(input: IdentityInput): Promise<IdentitySaved> {
    if (!input.name.trim()) throw fail("invalid_input", "Give the organization a name.");
    const loopback = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/.test(input.portal_url);
    const plainHttp = /^http:\/\/[^\s/]+/.test(input.portal_url) && (loopback || input.allow_insecure_http);
    if (!/^https:\/\/[^\s/]+/.test(input.portal_url) && !plainHttp) {
      throw fail("invalid_input", "The portal address must use HTTPS (or plain http with the opt-in) and name the organization's host.");
    }
    if (input.sign_in === "builtin" && !input.password && !input.id) {
      throw fail("invalid_input", "Enter the password of the built-in account.");
    }
    if (input.sign_in === "oauth" && !input.app_id) throw fail("invalid_input", "Enter the App ID registered in the portal.");
    if (input.sign_in === "builtin" && !input.username.startsWith("admin")) {
      throw fail(
        "not_admin",
        `The account ${input.username} signed in, but it is not an administrator: it lacks the privileges ` +
          "to view and update all content, users and groups. Use an administrator account.",
      );
    }
    const check = await this.checkStorage(input.storage, input.id);
    if (!check.ok) throw fail("storage_check", check.message);
    const given = input.storage;
    const storage: IdentityView["storage"] =
      given.kind === "local"
        ? { kind: "local", path: given.path }
        : given.kind === "azure"
          ? { kind: "azure", container: given.container, cache_dir: given.cache_dir }
          : { kind: "s3", url: given.url, access_key_id: given.access_key_id, cache_dir: given.cache_dir };
    const id = input.id ?? `id-${this.identities.length + 1}`;
    const view: IdentityView = {
      id,
      name: input.name,
      portal_url: input.portal_url,
      kind: input.kind,
      sign_in: input.sign_in,
      username: input.username,
      storage,
      token: "valid",
      allow_insecure_http: input.allow_insecure_http,
      header_names: [],
    };
    const at = this.identities.findIndex((i) => i.id === id);
    if (at >= 0) this.identities[at] = view;
    else this.identities.push(view);
    // As the shell: a new identity with a repository password gets an encrypted repository and its recovery key, once.
    const recovery_key = !input.id && input.repository_password ? "ovrk-mock-3f9a-12c4-7d0e-b5a1" : null;
    return { identity: { ...view }, recovery_key };
  }

  async checkStorage(storage: StorageInput, identityId: string | null): Promise<StorageCheck> {
    // As the shell: editing, an empty secret field means the one stored for the identity.
    const stored = identityId ? this.identities.find((i) => i.id === identityId) : undefined;
    if (stored && storage.kind === "azure" && !storage.connection_string.trim()) {
      storage = { ...storage, connection_string: "AccountName=stored;AccountKey=stored" };
    }
    if (stored && storage.kind === "s3" && !storage.secret_access_key.trim()) {
      storage = { ...storage, secret_access_key: "stored" };
    }
    if ((storage.kind === "azure" || storage.kind === "s3") && storage.cache_dir.startsWith("/readonly")) {
      return { ok: false, failed_step: "cache_dir", message: `the local cache folder cannot be used: ${storage.cache_dir} is not writable`, append_only: false };
    }
    if (storage.kind === "local") {
      if (!storage.path.trim()) return { ok: false, failed_step: "path", message: "Choose a folder for the backups.", append_only: false };
      if (storage.path.startsWith("/readonly")) {
        return { ok: false, failed_step: "write", message: `OrgVault cannot write to ${storage.path}: permission denied.`, append_only: false };
      }
      return { ok: true, failed_step: null, message: "The folder exists and is writable.", append_only: false };
    }
    if (storage.kind === "s3") {
      if (!storage.url.startsWith("s3://")) return { ok: false, failed_step: "address", message: "An S3 address starts with s3://", append_only: false };
      if (!storage.secret_access_key) return { ok: false, failed_step: "secret_access_key", message: "Enter the secret access key.", append_only: false };
      return { ok: true, failed_step: null, message: `${storage.url} accepts write, list, read and delete`, append_only: false };
    }
    if (!/AccountName=/.test(storage.connection_string) || !/AccountKey=/.test(storage.connection_string)) {
      return {
        ok: false,
        failed_step: "sign in",
        message: "The connection string is not valid: it needs AccountName and AccountKey (copy it from Access keys).",
        append_only: false,
      };
    }
    if (!storage.container.trim()) return { ok: false, failed_step: "list", message: "Enter the container name.", append_only: false };
    return { ok: true, failed_step: null, message: "Azure accepted read, write, list and delete in the container.", append_only: false };
  }

  async removeIdentity(id: string): Promise<void> {
    this.identities = this.identities.filter((i) => i.id !== id);
  }

  async startDemo(): Promise<IdentityView[]> {
    this.addDemo();
    return this.listIdentities();
  }

  private addDemo(): void {
    this.demoRunning = true;
    for (const [id, name, n, seed] of [
      ["demo-a", "Demo organization A", this.elements, 1],
      ["demo-b", "Demo organization B", 60, 2],
    ] as const) {
      if (this.identities.some((i) => i.id === id)) continue;
      this.identities.push({
        id,
        name,
        portal_url: withScheme(`127.0.0.1/${id}/portal`),
        kind: "online",
        sign_in: "builtin",
        username: "admin_demo",
        storage: { kind: "local", path: `${this.settings.data_dir}/demo/${id}` },
        token: "valid",
        allow_insecure_http: false,
        header_names: [],
      });
      this.graphs.set(id, generateGraph(n, seed));
      this.snapshots.set(id, []);
    }
  }

  private identity(id: string): IdentityView {
    const found = this.identities.find((i) => i.id === id);
    if (!found) throw fail("not_found", "This organization is no longer configured.");
    return found;
  }

  async startScan(identityId: string): Promise<JobId> {
    const ident = this.identity(identityId);
    const prev = this.graphs.get(identityId) ?? generateGraph(this.elements, 7);
    const units = [...prev.users, ...prev.groups].slice(0, 30).map((x): WorkUnit => ({
      kind: "username" in x ? "user" : "group",
      id: "username" in x ? x.username : x.id,
      title: "username" in x ? x.full_name : x.title,
      bytes: 0,
      fails: false,
    }));
    return this.runJob("scan", `Scan of ${ident.name}`, identityId, units, () => {
      this.graphs.set(identityId, { ...prev, scan_id: prev.scan_id + 1 });
    });
  }

  async loadGraph(identityId: string): Promise<Graph> {
    this.identity(identityId);
    const g = this.graphs.get(identityId);
    if (!g) throw fail("no_scan", "This organization has not been scanned yet. Start a scan first.");
    return g;
  }

  async estimateSelection(identityId: string, selection: SelectionInput): Promise<Tally> {
    const g = await this.loadGraph(identityId);
    if (selection.everything) {
      return { items: g.items.length, users: g.users.length, groups: g.groups.length, bytes: sumBytes(g.items) };
    }
    const ids = new Set(selection.item_ids);
    return {
      items: ids.size,
      users: selection.usernames.length,
      groups: selection.group_ids.length,
      bytes: sumBytes(g.items.filter((i) => ids.has(i.id))),
    };
  }

  async startBackup(identityId: string, name: string, selection: SelectionInput, email?: OnDemandMail, _serviceDefinitions?: boolean): Promise<JobId> {
    this.backupMail.push(email);
    const g = await this.loadGraph(identityId);
    if (!name.trim()) throw fail("invalid_input", "Give the backup a name.");
    const pick = new Set(selection.item_ids);
    const items = selection.everything ? g.items : g.items.filter((i) => pick.has(i.id));
    const users = selection.everything ? g.users.map((u) => u.username) : selection.usernames;
    const groups = selection.everything ? g.groups.map((x) => x.id) : selection.group_ids;
    if (items.length + users.length + groups.length === 0) throw fail("empty_selection", "Nothing is selected.");
    const units: WorkUnit[] = [
      ...users.map((u) => ({ kind: "user" as const, id: u, title: u, bytes: 2_000, fails: false })),
      ...groups.map((id) => ({ kind: "group" as const, id, title: g.groups.find((x) => x.id === id)?.title ?? id, bytes: 1_000, fails: false })),
      // Every 13th scene service fails, so the result screen and "retry failed" have something to show.
      ...items.map((i, n) => ({ kind: "item" as const, id: i.id, title: i.title, type: i.type, bytes: i.size, fails: i.type === "Scene Service" && n % 13 === 0 })),
    ];
    return this.runJob("backup", name, identityId, units, (job) => this.addSnapshot(identityId, job));
  }

  private addSnapshot(identityId: string, job: RunningJob): void {
    const ok = job.units.filter((u) => !u.fails);
    const snap: SnapshotView = {
      id: `snap-${job.view.id}`,
      name: job.view.name,
      time_ms: this.now(),
      items: ok.filter((u) => u.kind === "item").length,
      users: ok.filter((u) => u.kind === "user").length,
      groups: ok.filter((u) => u.kind === "group").length,
      bytes: ok.reduce((s, u) => s + u.bytes, 0),
      verified: null,
      other_identity: false,
    };
    this.snapshots.get(identityId)?.unshift(snap);
    this.snapshotEntries.set(snap.id, ok.map((u) => ({ kind: u.kind, id: u.id, title: u.title, type: u.type ?? u.kind })));
    const graph = this.graphs.get(identityId);
    if (graph) this.snapshotSource.set(snap.id, { graph, failed: job.units.filter((u) => u.fails) });
  }

  async cancelJob(jobId: JobId): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job || job.view.state !== "running") return;
    this.finish(job, "cancelled", `Cancelled after ${job.done} of ${job.units.length}.`);
  }

  async retryFailed(jobId: JobId): Promise<JobId> {
    const job = this.jobs.get(jobId);
    if (!job) throw fail("not_found", "That job is not in the history.");
    const failedIds = new Set(job.items.filter((i) => i.outcome === "failed").map((i) => i.id));
    if (failedIds.size === 0) throw fail("invalid_input", "No item failed in that job.");
    // A retry succeeds in the mock: the simulated fault was transient.
    const units = job.units.filter((u) => failedIds.has(u.id)).map((u) => ({ ...u, fails: false }));
    return this.runJob(job.view.kind, `${job.view.name} (retry)`, job.view.identity_id, units, () => undefined);
  }

  async listSnapshots(identityId: string): Promise<SnapshotView[]> {
    this.identity(identityId);
    return (this.snapshots.get(identityId) ?? []).map((s) => ({ ...s }));
  }

  async verifySnapshot(identityId: string, snapshotId: string): Promise<JobId> {
    const snap = (this.snapshots.get(identityId) ?? []).find((s) => s.id === snapshotId);
    if (!snap) throw fail("not_found", "That snapshot no longer exists.");
    const units = (this.snapshotEntries.get(snapshotId) ?? []).map((e) => ({ ...e, bytes: 0, fails: false }));
    return this.runJob("verify", `Verify ${snap.name}`, identityId, units, () => {
      snap.verified = true;
    });
  }

  async exportSnapshotZip(identityId: string, snapshotId: string, path: string): Promise<void> {
    if (!(this.snapshots.get(identityId) ?? []).some((s) => s.id === snapshotId)) {
      throw fail("not_found", "That snapshot no longer exists.");
    }
    if (!path.endsWith(".zip")) throw fail("invalid_input", "The export file name must end with .zip.");
  }

  async restoredUrls(targetIdentityId: string, snapshotId: string): Promise<UrlUse[]> {
    const target = this.identity(targetIdentityId);
    if (!this.snapshotEntries.has(snapshotId)) throw fail("invalid_input", "No restore of that snapshot into this organization is recorded here.");
    // A registered server of the organization's own, named after it (nothing is fetched).
    const host = `gis.${target.name.toLowerCase().replace(/[^a-z0-9]+/g, "")}.example`;
    const url = `https://${host}/arcgis/rest/services/Parcels/MapServer`;
    return [{ item_id: "restored-0", title: "Parcels map", item_type: "Web Map", owner: "admin_demo", place: "/operationalLayers/0/url", url, registered: true }];
  }

  async previewUrlChanges(uses: UrlUse[], rules: UrlReplacement[], edits: UrlEdit[]): Promise<UrlChange[]> {
    // The shell computes this in core (postprocess::changes); the demo applies the same rules.
    return uses
      .map((u) => {
        const edit = edits.find((e) => e.item_id === u.item_id && e.place === u.place && e.to.trim());
        const to = edit ? edit.to.trim() : rules.filter((r) => r.find).reduce((s, r) => s.split(r.find).join(r.replace), u.url);
        return { item_id: u.item_id, title: u.title, owner: u.owner, place: u.place, from: u.url, to };
      })
      .filter((c) => c.to !== c.from);
  }

  async applyUrlChanges(targetIdentityId: string, _snapshotId: string, changes: UrlChange[]): Promise<JobId> {
    const units: WorkUnit[] = changes.map((c) => ({ kind: "item" as const, id: c.item_id, title: c.title, bytes: 0, fails: false }));
    return this.runJob("postprocess", `Post-processing: ${changes.length} URLs`, targetIdentityId, units, () => undefined);
  }

  async saveUrlRules(name: string, rules: UrlReplacement[]): Promise<number> {
    const p = this.profiles.find((x) => x.name === name);
    const before = p?.mapping.url_replacements.length ?? 0;
    const mapping = { ...(p?.mapping ?? structuredClone(EMPTY_MAPPING)), url_replacements: rules.filter((r) => r.find) };
    this.profiles = [...this.profiles.filter((x) => x.name !== name), { name, mapping }];
    return before;
  }

  /** Bytes of forgotten snapshots, freed by the next prune. */
  private forgottenBytes = 0;

  async forgetSnapshot(identityId: string, snapshotId: string): Promise<void> {
    const list = this.snapshots.get(identityId) ?? [];
    const at = list.findIndex((s) => s.id === snapshotId);
    if (at < 0) throw fail("not_found", "That snapshot no longer exists.");
    this.forgottenBytes += list[at].bytes;
    list.splice(at, 1);
  }

  async prunePreview(identityId: string): Promise<PruneView> {
    const kept = (this.snapshots.get(identityId) ?? []).reduce((n, s) => n + s.bytes, 0);
    return { blobs_removed: this.forgottenBytes > 0 ? 1 : 0, bytes_removed: this.forgottenBytes, blobs_kept: 1, bytes_kept: kept };
  }

  async pruneRepository(identityId: string): Promise<PruneView> {
    const report = await this.prunePreview(identityId);
    this.forgottenBytes = 0;
    return report;
  }

  async importSnapshotZip(identityId: string, path: string, _zipPassword: string | null): Promise<string> {
    if (!path.endsWith(".zip")) throw fail("invalid_input", `${path} is not a .zip file.`);
    const snap: SnapshotView = { id: `snap-import-${this.now()}`, name: path.split("/").pop() ?? path, time_ms: this.now(), items: 0, users: 0, groups: 0, bytes: 0, verified: null, other_identity: true };
    this.snapshots.get(identityId)?.unshift(snap);
    this.snapshotEntries.set(snap.id, []);
    return snap.id;
  }

  async pickZipFile(): Promise<string | null> {
    return null;
  }

  async snapshotGraph(_identityId: string, snapshotId: string): Promise<Graph> {
    const entries = this.snapshotEntries.get(snapshotId);
    if (!entries) throw fail("not_found", "That snapshot no longer exists.");
    const src = this.snapshotSource.get(snapshotId);
    const g = src?.graph ?? { scan_id: 0, items: [], users: [], groups: [], edges: [], failed: [] };
    const failed = src?.failed ?? [];
    const keep = new Set([...entries.map((e) => e.id), ...failed.map((u) => u.id)]);
    return {
      scan_id: 0,
      items: g.items.filter((i) => keep.has(i.id)),
      users: g.users.filter((u) => keep.has(u.username)),
      groups: g.groups.filter((x) => keep.has(x.id)),
      edges: g.edges.filter((e) => keep.has(e.from) && keep.has(e.to)),
      failed: failed.map((u) => ({ kind: u.kind, id: u.id, reason: "export failed: the service answered 500" })),
    };
  }

  async snapshotContents(_identityId: string, snapshotId: string): Promise<SnapshotEntry[]> {
    return [...(this.snapshotEntries.get(snapshotId) ?? [])];
  }

  async listJobs(filter: JobFilterInput): Promise<JobView[]> {
    return [...this.jobs.values()]
      .map((j) => j.view)
      .filter((v) => (!filter.kind || v.kind === filter.kind) && (!filter.state || v.state === filter.state))
      .filter((v) => !filter.identity_id || v.identity_id === filter.identity_id)
      .sort((a, b) => b.id - a.id)
      .map((v) => ({ ...v }));
  }

  async jobItems(jobId: JobId): Promise<JobItemView[]> {
    return [...(this.jobs.get(jobId)?.items ?? [])];
  }

  async jobLog(jobId: JobId): Promise<string> {
    const job = this.jobs.get(jobId);
    if (!job) throw fail("not_found", "That job is not in the history.");
    return job.log.join("\n");
  }

  async getSettings(): Promise<Settings> {
    // Header values are write-only: only the names come back.
    return { ...this.settings, headers: this.settings.headers.map((h) => ({ name: h.name, value: null })) };
  }

  async saveSettings(settings: Settings): Promise<void> {
    if (!Number.isInteger(settings.log_keep_days) || settings.log_keep_days < 1 || settings.log_keep_days > 3650) {
      throw fail("invalid_input", `log files are kept for 1 to 3650 days (got ${settings.log_keep_days})`);
    }
    if (!["error", "warn", "info", "debug", "trace"].includes(settings.log_level)) {
      throw fail("invalid_input", `Unknown log level ${settings.log_level}.`);
    }
    const saved = this.settings.headers;
    const headers = settings.headers.map((h) => {
      const value = h.value?.trim() ? h.value : (saved.find((s) => s.name.toLowerCase() === h.name.toLowerCase())?.value ?? null);
      if (!value) throw fail("invalid_input", `Enter a value for the header ${h.name}.`);
      return { name: h.name, value };
    });
    this.settings = { ...settings, headers };
  }

  async exportSupportBundle(path: string): Promise<string> {
    return path || `${this.settings.data_dir}/orgvault-support.zip`;
  }

  async pickFolder(): Promise<string | null> {
    return `${this.settings.data_dir}/backups`;
  }

  async pickSavePath(suggestedName: string): Promise<string | null> {
    return `${this.settings.data_dir}/exports/${suggestedName}`;
  }

  /**
   * A plan in the shell's shape, computed like the engine does for the cases the screens show:
   * items are created unless the target holds the same title and type (then the conflict policy
   * decides), users are matched by their mapped name or created, groups follow "Create New", an
   * existing group, or a same-title match.
   */
  async planRestore(input: RestoreInput): Promise<RestorePlan> {
    const target = this.identity(input.target_identity_id);
    const source = this.identities.find((i) => (this.snapshots.get(i.id) ?? []).some((s) => s.id === input.snapshot_id));
    const snap = source && (this.snapshots.get(source.id) ?? []).find((s) => s.id === input.snapshot_id);
    if (!source || !snap) throw fail("not_found", "That snapshot no longer exists.");
    const m = input.mapping;
    const tg = this.graphs.get(target.id);
    const sel = input.selection && !input.selection.everything ? input.selection : null;
    const chosen = sel ? new Set([...sel.item_ids, ...sel.usernames, ...sel.group_ids]) : null;
    const entries = (this.snapshotEntries.get(snap.id) ?? []).filter((e) => !chosen || chosen.has(e.id));
    const sourceGraph = this.graphs.get(source.id);
    const ownerOf = (id: string) => sourceGraph?.items.find((i) => i.id === id)?.owner ?? "admin_demo";
    const toUser = (u: string) => m.owners[u]?.trim() || u;
    const users: PlannedUser[] = entries
      .filter((e) => e.kind === "user")
      .map((e) => {
        const to = toUser(e.id);
        const found = tg?.users.some((u) => u.username === to);
        return {
          source_username: e.id,
          target_username: to,
          action: found ? { kind: "match" as const, target_id: to } : { kind: "create" as const },
          role: "org_user",
          license_type: null,
          notes: [],
        };
      });
    const missingGroups: string[] = [];
    const groups: PlannedGroup[] = entries
      .filter((e) => e.kind === "group")
      .map((e) => {
        const mapped = m.groups[e.id];
        const sameTitle = tg?.groups.find((g) => g.title.toLowerCase() === e.title.toLowerCase());
        let action: Action = { kind: "create" };
        let title = e.title;
        if (mapped?.kind === "create_new") {
          if (sameTitle) title = `${e.title} (restored)`;
        } else if (mapped?.kind === "existing") {
          const g = tg?.groups.find((x) => x.id === mapped.group || x.title === mapped.group);
          if (g) action = { kind: "match", target_id: g.id };
          else missingGroups.push(mapped.group);
        } else if (sameTitle) {
          action = { kind: "match", target_id: sameTitle.id };
        }
        return { source_id: e.id, title: e.title, target_title: title, action, owner: target.username, members: [], managers: [], notes: [] };
      });
    let conflicts = 0;
    const items: PlannedItem[] = entries
      .filter((e) => e.kind === "item")
      .map((e) => {
        const existing = tg?.items.find((i) => i.title === e.title && i.type === e.type);
        let action: Action = { kind: "create" };
        let title = e.title;
        if (existing) {
          conflicts++;
          if (m.conflict === "skip") action = { kind: "skip", reason: "an item of the same title and type exists", target_id: existing.id };
          else if (m.conflict === "overwrite") action = { kind: "update", target_id: existing.id };
          else title = `${e.title} (restored)`;
        }
        const isMap = e.type === "Web Map";
        return {
          source_id: e.id,
          title: e.title,
          target_title: title,
          item_type: e.type,
          source_owner: ownerOf(e.id),
          target_owner: toUser(ownerOf(e.id)),
          target_folder: null,
          level: isMap ? 1 : 0,
          action,
          method: e.type === "Feature Service" ? (input.methods?.[e.id] ?? ("publish" as const)) : ("item" as const),
          methods: e.type === "Feature Service" ? (["publish", "create_service"] as ItemMethod[]) : (["item"] as ItemMethod[]),
          service_definition: null,
          package: null,
          service_name: null,
          replaces: null,
          upload_bytes: 0,
          multipart: false,
          conflict: existing ? { on: "title" as const, value: e.title, existing_id: existing.id, policy: m.conflict } : null,
          rewrites: isMap ? [{ pointer: "/operationalLayers/0/url", from: `${source.portal_url}/x`, to: `${target.portal_url}/x` }] : [],
          notes: [],
        };
      });
    const all = [...items, ...users, ...groups].map((x) => x.action.kind);
    const count = (k: Action["kind"]) => all.filter((a) => a === k).length;
    return {
      snapshot_id: snap.id,
      snapshot_name: snap.name,
      source_org_id: source.id,
      source_portal_url: source.portal_url,
      target_org_id: target.id,
      target_portal_url: target.portal_url,
      mode: m.mode === "copies" ? "copies" : source.id === target.id ? "in_place" : "migrate",
      conflict_policy: m.conflict,
      resuming: false,
      items,
      users,
      groups,
      not_offered: [],
      missing_owners: [],
      missing_groups: missingGroups,
      missing_privileges: [],
      group_limit: [],
      upload_bytes: 0,
      largest_upload: 0,
      multipart_uploads: 0,
      url_rewrites: source.id === target.id ? [] : [[source.portal_url, target.portal_url]],
      levels: items.some((i) => i.level > 0) ? 2 : 1,
      counts: { create: count("create"), update: count("update"), skip: count("skip"), matched: count("match"), conflicts },
    };
  }

  async startRestore(input: RestoreInput): Promise<JobId> {
    const plan = await this.planRestore(input);
    const units: WorkUnit[] = [
      ...plan.users.filter((u) => u.action.kind === "create").map((u) => ({ kind: "user" as const, id: u.source_username, title: u.target_username, bytes: 0, fails: false })),
      ...plan.groups.filter((g) => g.action.kind === "create").map((g) => ({ kind: "group" as const, id: g.source_id, title: g.target_title, bytes: 0, fails: false })),
      ...plan.items
        .filter((i) => i.action.kind !== "skip")
        .map((i) => ({ kind: "item" as const, id: i.source_id, title: i.target_title, bytes: i.upload_bytes, fails: false })),
    ];
    const target = this.identity(input.target_identity_id);
    return this.runJob("restore", `restore ${plan.snapshot_name} into ${target.name}`, target.id, units, () => {
      // The restored content is in the target's next scan.
      const g = this.graphs.get(target.id) ?? { scan_id: 0, items: [], users: [], groups: [], edges: [], failed: [] };
      const made = plan.items.filter((i) => i.action.kind === "create");
      this.graphs.set(target.id, {
        ...g,
        items: [
          ...g.items,
          ...made.map((i, n) => ({ id: `restored-${n}-${i.source_id}`, title: i.target_title, type: i.item_type, owner: i.target_owner, size: 0, access: "private" })),
        ],
      });
    });
  }

  async listMappingProfiles(): Promise<MappingProfile[]> {
    return [...this.profiles].sort((a, b) => a.name.localeCompare(b.name)).map((p) => structuredClone(p));
  }

  async saveMappingProfile(profile: MappingProfile): Promise<void> {
    if (!profile.name.trim()) throw fail("invalid_input", "Give the mapping profile a name.");
    const name = profile.name.trim();
    this.profiles = [...this.profiles.filter((p) => p.name !== name), structuredClone({ ...profile, name })];
  }

  async deleteMappingProfile(name: string): Promise<void> {
    this.profiles = this.profiles.filter((p) => p.name !== name);
  }

  async listSchedules(): Promise<ScheduleOverview[]> {
    return this.schedules.map((sc) => ({
      ...sc,
      next_run_ms: sc.enabled ? (mockNextRuns(sc.cron, this.now(), 1)[0] ?? null) : null,
      last: null,
      identity_name: this.identities.find((i) => i.id === sc.identity_id)?.name ?? sc.identity_id,
      last_job_state: null,
    }));
  }

  async previewRecurrence(r: RecurrenceChoice): Promise<RecurrencePreview> {
    const cron = r.by === "cron" ? r.expression.trim() : presetCron(r.preset);
    const runs = mockNextRuns(cron, this.now(), 5);
    if (runs.length === 0) throw fail("invalid_input", `the demo reads only "M H * * D" expressions, not ${JSON.stringify(cron)}`);
    return { cron, next_runs_ms: runs };
  }

  async saveSchedule(id: number | null, spec: ScheduleSpec): Promise<Schedule> {
    if (!spec.name.trim()) throw fail("invalid_input", "a schedule needs a name");
    if (this.schedules.some((s) => s.id !== id && s.name.toLowerCase() === spec.name.trim().toLowerCase()))
      throw fail("invalid_input", `a schedule named "${spec.name}" already exists`);
    const now = this.now();
    if (id === null) {
      const made: Schedule = { ...spec, id: this.nextSchedule++, since_ms: now, created_ms: now, updated_ms: now };
      this.schedules.push(made);
      return made;
    }
    const old = this.schedules.find((s) => s.id === id);
    if (!old) throw fail("not_found", `schedule ${id} not found`);
    const saved: Schedule = { ...old, ...spec, updated_ms: now };
    this.schedules = this.schedules.map((s) => (s.id === id ? saved : s));
    return saved;
  }

  async setScheduleEnabled(id: number, enabled: boolean): Promise<Schedule> {
    const s = this.schedules.find((x) => x.id === id);
    if (!s) throw fail("not_found", `schedule ${id} not found`);
    const { id: _id, since_ms: _s, created_ms: _c, updated_ms: _u, ...spec } = s;
    return this.saveSchedule(id, { ...spec, enabled });
  }

  async removeSchedule(id: number): Promise<void> {
    this.schedules = this.schedules.filter((s) => s.id !== id);
  }

  async runScheduleNow(id: number): Promise<void> {
    const s = this.schedules.find((x) => x.id === id);
    if (!s) throw fail("not_found", `schedule ${id} not found`);
    this.runJob(s.kind, `${s.name} (run now)`, s.identity_id, [], () => {}, { by: "schedule", schedule_id: id });
  }

  async countSelection(identityId: string, selection: Selection): Promise<Tally> {
    const g = this.graphs.get(identityId);
    if (!g) throw fail("no_scan", "this organization has not been scanned yet; start a scan first");
    if (selection.kind === "everything") return { items: g.items.length, users: g.users.length, groups: g.groups.length, bytes: sumBytes(g.items) };
    if (selection.kind === "explicit" || selection.kind === "exact") {
      const items = g.items.filter((i) => selection.items.includes(i.id));
      return { items: items.length, users: selection.users.length, groups: selection.groups.length, bytes: sumBytes(items) };
    }
    throw fail("invalid_input", "the demo counts everything and explicit ids only");
  }

  async getSmtpSettings(): Promise<SmtpView | null> {
    return this.smtp;
  }

  async saveSmtpSettings(input: SmtpInput): Promise<void> {
    if (!input.settings.host.trim()) throw fail("invalid_settings", "an SMTP host is needed");
    const has_password = input.settings.username !== null && (!!input.password || (this.smtp?.has_password ?? false));
    this.smtp = { settings: input.settings, has_password };
  }

  async sendTestEmail(to: string): Promise<void> {
    if (!this.smtp) throw fail("mail_not_configured", "e-mail is not set up");
    if (!to.includes("@")) throw fail("invalid_input", `${JSON.stringify(to)} is not an e-mail address`);
  }

  async onJobProgress(handler: (e: JobProgress) => void): Promise<Unsubscribe> {
    this.progressHandlers.add(handler);
    return () => this.progressHandlers.delete(handler);
  }
  async onJobItemDone(handler: (e: JobItemDone) => void): Promise<Unsubscribe> {
    this.itemHandlers.add(handler);
    return () => this.itemHandlers.delete(handler);
  }
  async onJobFinished(handler: (e: JobFinished) => void): Promise<Unsubscribe> {
    this.finishedHandlers.add(handler);
    return () => this.finishedHandlers.delete(handler);
  }

  private runJob(
    kind: string,
    name: string,
    identityId: string | null,
    units: WorkUnit[],
    onSuccess: (j: RunningJob) => void,
    trigger: Trigger = { by: "manual" },
  ): JobId {
    const id = this.nextJob++;
    const job: RunningJob = {
      view: { id, kind, state: "running", name, identity_id: identityId, started_ms: this.now(), ended_ms: null, summary: "", trigger, mail: null },
      units,
      done: 0,
      bytes: 0,
      timer: null,
      items: [],
      log: [`INFO ${kind} "${name}" started with ${units.length} elements`],
      onSuccess,
    };
    this.jobs.set(id, job);
    const step = () => {
      if (job.view.state !== "running") return;
      for (let k = 0; k < this.perTick && job.done < units.length; k++) {
        const u = units[job.done++];
        job.bytes += u.fails ? 0 : u.bytes;
        const item: JobItemView = {
          kind: u.kind,
          id: u.id,
          title: u.title,
          outcome: u.fails ? "failed" : "ok",
          reason: u.fails ? "The export to a file geodatabase timed out and the replica fallback failed too." : null,
          fallback: null,
        };
        job.items.push(item);
        job.log.push(`${u.fails ? "WARN" : "INFO"} ${u.kind} ${u.id} ${item.outcome}`);
        const { fallback: _f, ...done } = item;
        this.itemHandlers.forEach((h) => h({ job_id: id, ...done }));
      }
      const elapsed = Math.max(1, this.tickMs * Math.ceil(job.done / this.perTick)) / 1000;
      const current = job.done < units.length ? units[job.done].title : null;
      this.progressHandlers.forEach((h) =>
        h({ job_id: id, done: job.done, total: units.length, bytes: job.bytes, current, rate_per_s: job.done / elapsed, bytes_per_s: job.bytes / elapsed }),
      );
      if (job.done >= units.length) {
        const failed = job.items.filter((i) => i.outcome === "failed").length;
        const state: FinishedState = failed === 0 ? "succeeded" : failed === units.length ? "failed" : "partial";
        if (state !== "failed") job.onSuccess(job);
        this.finish(job, state, `${units.length - failed} done, ${failed} failed.`);
      } else {
        job.timer = setTimeout(step, this.tickMs);
      }
    };
    job.timer = setTimeout(step, this.tickMs);
    return id;
  }

  private finish(job: RunningJob, state: FinishedState, summary: string): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    job.view = { ...job.view, state, summary, ended_ms: this.now() };
    job.log.push(`INFO finished: ${state}: ${summary}`);
    this.finishedHandlers.forEach((h) => h({ job_id: job.view.id, state, summary }));
  }
}

function sumBytes(items: { size: number }[]): number {
  let s = 0;
  for (const i of items) s += i.size;
  return s;
}

/** The cron text of a preset, as the engine writes it (`Preset::to_cron`). */
function presetCron(p: Preset): string {
  const days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
  switch (p.every) {
    case "hourly":
      return `${p.minute} * * * *`;
    case "daily":
      return `${p.minute} ${p.hour} * * *`;
    case "weekly":
      return `${p.minute} ${p.hour} * * ${[...new Set(p.days.map((d) => days.indexOf(d)))].sort((a, b) => a - b).join(",")}`;
    case "monthly":
      return `${p.minute} ${p.hour} ${p.day} * *`;
  }
}

/**
 * The demo's run times for "M H * * D" and "M * * * *" expressions in local time (D: "*" or a
 * list of day numbers); anything else gives none. The shell asks the engine instead.
 */
export function mockNextRuns(cron: string, after: number, n: number): number[] {
  const f = cron.trim().split(/\s+/);
  if (f.length !== 5 || f[2] !== "*" || f[3] !== "*" || !/^\d+$/.test(f[0])) return [];
  const minute = Number(f[0]);
  const hourly = f[1] === "*";
  if (!hourly && !/^\d+$/.test(f[1])) return [];
  const days = f[4] === "*" ? null : f[4].split(",").map((d) => Number(d) % 7);
  if (days?.some((d) => Number.isNaN(d))) return [];
  const out: number[] = [];
  const t = new Date(after);
  t.setSeconds(0, 0);
  for (let guard = 0; out.length < n && guard < 24 * 60 * 400; guard++) {
    t.setMinutes(t.getMinutes() + 1);
    if (t.getMinutes() !== minute || (!hourly && t.getHours() !== Number(f[1]))) continue;
    if (days && !days.includes(t.getDay())) continue;
    out.push(t.getTime());
  }
  return out;
}
