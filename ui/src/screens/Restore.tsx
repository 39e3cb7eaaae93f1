import { ListChecks, Play } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { Graph, ItemMethod, JobItemView, MappingProfile, RestoreInput, RestoreMapping, RestorePlan, SelectionInput, SnapshotEntry, SnapshotView, UiError } from "../backend/backend";
import { buildWorkspace, type Workspace } from "../app/workspace";
import { RestoreSelection } from "./RestoreSelection";
import { PostProcess } from "./PostProcess";
import { EMPTY_MAPPING, toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, JobProgressView, Notice } from "../components/common";
import { Outcomes } from "../components/Outcomes";
import { useStore } from "../state/store";
import { MappingEditor, ProfileBar } from "./RestoreMapping";
import { PlanView } from "./RestorePlan";

/** The request the screen sends: list-edited rows (folders, URL pairs) folded into the mapping. */
export function restoreInput(
  source: string,
  snapshot: string,
  target: string,
  mapping: RestoreMapping,
  folders: [string, string][],
  urls: [string, string][],
  selection: SelectionInput | null = null,
  methods: Record<string, ItemMethod> = {},
): RestoreInput {
  return {
    source_identity_id: source,
    snapshot_id: snapshot,
    target_identity_id: target,
    selection,
    methods,
    mapping: {
      ...mapping,
      folders: Object.fromEntries(folders.filter(([a, b]) => a.trim() && b.trim()).map(([a, b]) => [a.trim(), b.trim()])),
      url_replacements: urls.filter(([find]) => find !== "").map(([find, replace]) => ({ find, replace })),
    },
  };
}

/**
 * Restore a snapshot of the current organization into a target organization. The plan comes
 * first and is read-only; "Apply plan" is offered only for a plan made from the choices on screen,
 * and only then is anything written. Progress and per-element outcomes follow the job.
 */
export function RestoreScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const identities = useStore(app.identities);
  const jobs = useStore(app.jobs);
  const [snaps, setSnaps] = useState<SnapshotView[]>([]);
  const [snapId, setSnapId] = useState("");
  const [target, setTarget] = useState("");
  const [entries, setEntries] = useState<SnapshotEntry[]>([]);
  const [pick, setPick] = useState<Workspace | null>(null);
  const [methods, setMethods] = useState<Record<string, ItemMethod>>({});
  const [, setPickTick] = useState(0);
  const [targetGraph, setTargetGraph] = useState<Graph | null>(null);
  const [mapping, setMapping] = useState<RestoreMapping>(structuredClone(EMPTY_MAPPING));
  const [folders, setFolders] = useState<[string, string][]>([]);
  const [urls, setUrls] = useState<[string, string][]>([]);
  const [plan, setPlan] = useState<RestorePlan | null>(null);
  const [planKey, setPlanKey] = useState("");
  const [planning, setPlanning] = useState(false);
  const [profiles, setProfiles] = useState<MappingProfile[]>([]);
  const [profileName, setProfileName] = useState("");
  const [jobId, setJobId] = useState<number | null>(null);
  const [outcomes, setOutcomes] = useState<JobItemView[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const fail = (e: unknown) => setError(toUiError(e));

  useEffect(() => {
    setSnaps([]);
    setSnapId("");
    setPlan(null);
    if (!current) return;
    app.backend.listSnapshots(current).then((s) => {
      setSnaps(s);
      setSnapId(s[0]?.id ?? "");
    }, fail);
    app.backend.listMappingProfiles().then(setProfiles, fail);
  }, [current]);
  useEffect(() => {
    setEntries([]);
    setPick(null);
    setMethods({});
    if (!current || !snapId) return;
    app.backend.snapshotContents(current, snapId).then(setEntries, fail);
    app.backend.snapshotGraph(current, snapId).then((g) => setPick(buildWorkspace(current, g, true)), fail);
  }, [current, snapId]);
  useEffect(() => {
    setTargetGraph(null);
    // A target never scanned is fine: its users and groups are then typed, not picked.
    setMethods({});
    if (target) app.backend.loadGraph(target).then(setTargetGraph, () => setTargetGraph(null));
  }, [target]);

  const live = jobId !== null ? jobs[jobId] : undefined;
  // Only failures and skips arrive as events; the full list is read from the history at the end.
  useEffect(() => {
    if (!live || live.state === "running") return;
    app.backend.jobItems(live.id).then(setOutcomes, fail);
  }, [live?.id, live?.state]);

  if (!current) {
    return (
      <section data-testid="screen-restore" class="screen">
        <h1>Restore</h1>
        <Notice>Choose the organization whose backups you want to restore in the organization picker.</Notice>
      </section>
    );
  }

  const input = restoreInput(current, snapId, target, mapping, folders, urls, pick ? pick.selection.toInput() : null, methods);
  const key = JSON.stringify(input);
  const stale = plan !== null && planKey !== key;
  const running = live?.state === "running";
  const snap = snaps.find((s) => s.id === snapId);

  const showPlan = async () => {
    setError(null);
    setPlanning(true);
    try {
      const p = await app.backend.planRestore(input);
      setPlan(p);
      setPlanKey(key);
    } catch (e) {
      fail(e);
    } finally {
      setPlanning(false);
    }
  };
  const apply = async () => {
    setError(null);
    setOutcomes(null);
    try {
      const id = await app.backend.startRestore(input);
      const into = identities.find((i) => i.id === target)?.name ?? "the target";
      app.jobs.started(id, "restore", `Restore of ${snap?.name ?? "the snapshot"} into ${into}`);
      setJobId(id);
    } catch (e) {
      fail(e);
    }
  };
  const saveProfile = () =>
    app.backend
      .saveMappingProfile({ name: profileName.trim(), mapping: input.mapping })
      .then(() => app.backend.listMappingProfiles())
      .then(setProfiles, fail);
  const deleteProfile = (name: string) =>
    app.backend
      .deleteMappingProfile(name)
      .then(() => app.backend.listMappingProfiles())
      .then(setProfiles, fail);
  const loadProfile = (p: MappingProfile) => {
    setMapping(structuredClone(p.mapping));
    setFolders(Object.entries(p.mapping.folders));
    setUrls(p.mapping.url_replacements.map((r) => [r.find, r.replace]));
  };

  return (
    <section data-testid="screen-restore" class="screen" aria-labelledby="restore-title">
      <header class="screen-head">
        <h1 id="restore-title">Restore</h1>
      </header>
      <div class="grid2 panel">
        <Field label="Snapshot" hint={snap ? `${snap.items} items, ${snap.users} users, ${snap.groups} groups` : undefined}>
          <select value={snapId} onChange={(e) => setSnapId(e.currentTarget.value)} data-testid="restore-snapshot">
            {snaps.length === 0 && <option value="">No snapshot yet: back up first</option>}
            {snaps.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} ({new Date(s.time_ms).toLocaleString()})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Restore into">
          <select value={target} onChange={(e) => setTarget(e.currentTarget.value)} data-testid="restore-target">
            <option value="">Choose an organization</option>
            {identities.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
                {i.id === current ? " (the same organization)" : ""}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {pick && <RestoreSelection ws={pick} onChange={() => setPickTick((t) => t + 1)} />}
      <section class="panel" aria-label="Mapping">
        <div class="row spread">
          <h2>Mapping</h2>
          <ProfileBar profiles={profiles} name={profileName} onName={setProfileName} onLoad={loadProfile} onSave={saveProfile} onDelete={deleteProfile} />
        </div>
        <MappingEditor
          mapping={mapping}
          onChange={setMapping}
          folders={folders}
          onFolders={setFolders}
          urlRows={urls}
          onUrlRows={setUrls}
          entries={entries}
          target={targetGraph}
        />
      </section>
      <ErrorNote error={error} testid="restore-error" />
      <div class="row">
        <button type="button" data-testid="restore-plan" disabled={!snapId || !target || planning || running} onClick={showPlan}>
          <ListChecks size={16} aria-hidden="true" /> {planning ? "Reading the snapshot and the target…" : "Show the plan"}
        </button>
        <button type="button" class="primary" data-testid="restore-start" disabled={!plan || stale || planning || running || plan.missing_privileges.length > 0} onClick={apply}>
          <Play size={16} aria-hidden="true" /> Apply plan
        </button>
        {!plan && <span class="small muted">Nothing is written before you apply a plan you have read.</span>}
      </div>
      {plan && <PlanView plan={plan} stale={stale} chosen={methods} onMethod={(id, m) => setMethods({ ...methods, [id]: m })} />}
      {live && <JobProgressView job={live} onCancel={() => app.backend.cancelJob(live.id).catch(fail)} />}
      {live && live.state === "cancelled" && <Notice>The restore stopped. Apply the same plan again to resume where it stopped: nothing is made twice.</Notice>}
      {outcomes ? <Outcomes rows={outcomes} /> : live && live.items.length > 0 && <Outcomes rows={live.items} />}
      <PostProcess targetId={target} snapshotId={snapId} profiles={profiles} onProfilesChanged={() => app.backend.listMappingProfiles().then(setProfiles, fail)} />
    </section>
  );
}
