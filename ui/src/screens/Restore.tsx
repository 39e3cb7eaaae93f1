import { ListChecks, Play, Plus, Save, X } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { Graph, MappingProfile, RestoreMapping, RestorePlan, SnapshotEntry, SnapshotView, UiError } from "../backend/backend";
import { EMPTY_MAPPING, toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, JobProgressView, Notice } from "../components/common";
import { VirtualList } from "../components/VirtualList";
import { useStore } from "../state/store";

const CREATE_NEW = "create-new";

export function RestoreScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const identities = useStore(app.identities);
  const jobs = useStore(app.jobs);
  const [snaps, setSnaps] = useState<SnapshotView[]>([]);
  const [snapId, setSnapId] = useState("");
  const [target, setTarget] = useState("");
  const [entries, setEntries] = useState<SnapshotEntry[]>([]);
  const [targetGraph, setTargetGraph] = useState<Graph | null>(null);
  const [mapping, setMapping] = useState<RestoreMapping>(structuredClone(EMPTY_MAPPING));
  // Folder rows are edited as a list so that a half-typed row does not collapse into another one.
  const [folders, setFolders] = useState<[string, string][]>([]);
  const [plan, setPlan] = useState<RestorePlan | null>(null);
  const [profiles, setProfiles] = useState<MappingProfile[]>([]);
  const [profileName, setProfileName] = useState("");
  const [jobId, setJobId] = useState<number | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [unavailable, setUnavailable] = useState(false);

  const fail = (e: unknown) => {
    const err = toUiError(e);
    if (err.code === "unavailable") setUnavailable(true);
    setError(err);
  };

  useEffect(() => {
    if (!current) return;
    app.backend.listSnapshots(current).then((s) => {
      setSnaps(s);
      setSnapId(s[0]?.id ?? "");
    }, fail);
    app.backend.listMappingProfiles().then(setProfiles, fail);
  }, [current]);
  useEffect(() => {
    if (!current || !snapId) return setEntries([]);
    app.backend.snapshotContents(current, snapId).then(setEntries, fail);
    setPlan(null);
  }, [current, snapId]);
  useEffect(() => {
    setTargetGraph(null);
    if (target) app.backend.loadGraph(target).then(setTargetGraph, () => setTargetGraph(null));
  }, [target]);

  if (!current) {
    return (
      <section data-testid="screen-restore" class="screen">
        <h1>Restore</h1>
        <Notice>Choose the organization whose backups you want to restore under Identities.</Notice>
      </section>
    );
  }

  const fullMapping = (): RestoreMapping => ({ ...mapping, folders: Object.fromEntries(folders.filter(([a]) => a.trim())) });
  const input = () => ({ source_identity_id: current, snapshot_id: snapId, target_identity_id: target, mapping: fullMapping() });
  const users = entries.filter((e) => e.kind === "user");
  const groups = entries.filter((e) => e.kind === "group");
  const setMap = (k: "owners" | "groups", from: string, to: string) => {
    setMapping((m) => ({ ...m, [k]: { ...m[k], [from]: to } }));
    setPlan(null);
  };
  const live = jobId !== null ? jobs[jobId] : undefined;

  return (
    <section data-testid="screen-restore" class="screen" aria-labelledby="restore-title">
      <header class="screen-head">
        <h1 id="restore-title">Restore</h1>
      </header>
      {unavailable && (
        <Notice testid="restore-unavailable">
          Restore is not available in this version of OrgVault yet. You can prepare the mapping; planning and applying will work once restore
          ships.
        </Notice>
      )}
      <div class="grid2 panel">
        <Field label="Snapshot">
          <select value={snapId} onChange={(e) => setSnapId(e.currentTarget.value)} data-testid="restore-snapshot">
            {snaps.length === 0 && <option value="">No snapshot yet</option>}
            {snaps.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
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
              </option>
            ))}
          </select>
        </Field>
      </div>
      <section class="panel" aria-label="Mapping">
        <div class="row spread">
          <h2>Mapping</h2>
          <div class="row">
            <select
              aria-label="Saved mapping profile"
              onChange={(e) => {
                const p = profiles.find((x) => x.name === e.currentTarget.value);
                if (p) {
                  setMapping(structuredClone(p.mapping));
                  setFolders(Object.entries(p.mapping.folders));
                }
              }}
            >
              <option value="">Apply a saved mapping…</option>
              {profiles.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
            <input aria-label="Profile name" placeholder="Profile name" value={profileName} onInput={(e) => setProfileName(e.currentTarget.value)} />
            <button
              type="button"
              onClick={() =>
                app.backend
                  .saveMappingProfile({ name: profileName, mapping: fullMapping() })
                  .then(() => app.backend.listMappingProfiles())
                  .then(setProfiles, fail)
              }
            >
              <Save size={16} aria-hidden="true" /> Save mapping
            </button>
          </div>
        </div>
        <datalist id="target-users">
          {targetGraph?.users.map((u) => <option key={u.username} value={u.username} />)}
        </datalist>
        <h3>Owners</h3>
        {users.length === 0 && <p class="muted small">No user in this snapshot.</p>}
        {users.map((u) => (
          <div class="row" key={u.id}>
            <span class="w12 ellipsis">{u.id}</span>→
            <input list="target-users" aria-label={`Target owner for ${u.id}`} placeholder="same username" value={mapping.owners[u.id] ?? ""} onInput={(e) => setMap("owners", u.id, e.currentTarget.value)} />
          </div>
        ))}
        <h3>Groups</h3>
        {groups.map((g) => (
          <div class="row" key={g.id}>
            <span class="w12 ellipsis">{g.title}</span>→
            <select aria-label={`Target group for ${g.title}`} value={mapping.groups[g.id] ?? CREATE_NEW} onChange={(e) => setMap("groups", g.id, e.currentTarget.value)}>
              <option value={CREATE_NEW}>Create New</option>
              {targetGraph?.groups.map((tg) => (
                <option key={tg.id} value={tg.id}>
                  {tg.title}
                </option>
              ))}
            </select>
          </div>
        ))}
        <h3>Folders</h3>
        <PairEditor
          pairs={folders}
          labels={["Source folder", "Target folder"]}
          onChange={setFolders}
        />
        <Field label="Tag every restored item with" hint="Comma-separated">
          <input
            value={mapping.tags.join(", ")}
            onInput={(e) => setMapping((m) => ({ ...m, tags: e.currentTarget.value.split(",").map((t) => t.trim()).filter(Boolean) }))}
          />
        </Field>
        <h3>Find and replace in URLs</h3>
        <PairEditor
          pairs={mapping.url_replacements.map((r) => [r.find, r.replace] as [string, string])}
          labels={["Find", "Replace with"]}
          onChange={(pairs) => setMapping((m) => ({ ...m, url_replacements: pairs.map(([find, replace]) => ({ find, replace })) }))}
        />
      </section>
      <ErrorNote error={error} />
      <div class="row">
        <button type="button" data-testid="restore-plan" disabled={!snapId || !target} onClick={() => app.backend.planRestore(input()).then(setPlan, fail)}>
          <ListChecks size={16} aria-hidden="true" /> Show the plan
        </button>
        <button
          type="button"
          class="primary"
          data-testid="restore-start"
          disabled={!plan || live?.state === "running"}
          onClick={() =>
            app.backend.startRestore(input()).then((id) => {
              app.jobs.started(id, "restore", "Restore");
              setJobId(id);
            }, fail)
          }
        >
          <Play size={16} aria-hidden="true" /> Apply restore
        </button>
      </div>
      {plan && (
        <section class="panel" aria-label="Restore plan" data-testid="restore-plan-view">
          <h2>
            Plan: {plan.entries.length} elements, {plan.conflicts} conflicts
          </h2>
          <VirtualList
            count={plan.entries.length}
            rowHeight={34}
            height={Math.min(340, Math.max(34, plan.entries.length * 34))}
            label="Plan"
            row={(i) => {
              const e = plan.entries[i];
              return (
                <div class={`row ${e.conflict ? "conflict" : ""}`}>
                  <span class="badge">{e.action}</span>
                  <span class="kind">{e.kind}</span>
                  <span class="ellipsis grow">{e.title}</span>
                  {e.conflict && <span class="small reason ellipsis">{e.conflict}</span>}
                </div>
              );
            }}
          />
        </section>
      )}
      {live && <JobProgressView job={live} onCancel={() => app.backend.cancelJob(live.id)} />}
    </section>
  );
}

function PairEditor({ pairs, labels, onChange }: { pairs: [string, string][]; labels: [string, string]; onChange: (p: [string, string][]) => void }) {
  return (
    <div>
      {pairs.map(([a, b], k) => (
        <div class="row" key={k}>
          <input aria-label={labels[0]} value={a} onInput={(e) => onChange(pairs.map((p, n) => (n === k ? [e.currentTarget.value, p[1]] : p)))} />→
          <input aria-label={labels[1]} value={b} onInput={(e) => onChange(pairs.map((p, n) => (n === k ? [p[0], e.currentTarget.value] : p)))} />
          <button type="button" aria-label="Remove" onClick={() => onChange(pairs.filter((_, n) => n !== k))}>
            <X size={16} aria-hidden="true" />
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...pairs, ["", ""]])}>
        <Plus size={16} aria-hidden="true" /> Add
      </button>
    </div>
  );
}
