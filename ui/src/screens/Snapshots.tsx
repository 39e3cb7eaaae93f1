import { Archive, FolderOpen, ShieldCheck } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { SnapshotEntry, SnapshotView, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, JobProgressView, Notice, formatTime, storageText } from "../components/common";
import { VirtualList } from "../components/VirtualList";
import { formatBytes } from "../state/selection";
import { useStore } from "../state/store";

export function SnapshotsScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const identities = useStore(app.identities);
  const jobs = useStore(app.jobs);
  const [snaps, setSnaps] = useState<SnapshotView[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [browse, setBrowse] = useState<{ snap: SnapshotView; entries: SnapshotEntry[]; q: string } | null>(null);
  const [verifyJob, setVerifyJob] = useState<number | null>(null);
  const ident = identities.find((i) => i.id === current);
  const finishedCount = Object.values(jobs).filter((j) => j.state !== "running").length;

  useEffect(() => {
    if (!current) return;
    app.backend.listSnapshots(current).then(setSnaps, (e) => setError(toUiError(e)));
  }, [current, finishedCount]);

  const guard = async (fn: () => Promise<void>) => {
    setError(null);
    setDone(null);
    try {
      await fn();
    } catch (e) {
      setError(toUiError(e));
    }
  };

  if (!current || !ident) {
    return (
      <section data-testid="screen-snapshots" class="screen">
        <h1>Snapshots</h1>
        <Notice>Choose an organization under Identities first.</Notice>
      </section>
    );
  }
  const live = verifyJob !== null ? jobs[verifyJob] : undefined;
  const shown = browse ? browse.entries.filter((e) => !browse.q || e.title.toLowerCase().includes(browse.q.toLowerCase())) : [];
  return (
    <section data-testid="screen-snapshots" class="screen" aria-labelledby="snap-title">
      <header class="screen-head">
        <h1 id="snap-title">Snapshots</h1>
        <span class="muted">
          {ident.name} · {storageText(ident)}
        </span>
      </header>
      <ErrorNote error={error} />
      {done && <Notice>{done}</Notice>}
      {live && <JobProgressView job={live} />}
      {snaps.length === 0 ? (
        <Notice>No backup of this organization yet.</Notice>
      ) : (
        <table class="table" data-testid="snapshot-list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Taken</th>
              <th scope="col">Items</th>
              <th scope="col">Users</th>
              <th scope="col">Groups</th>
              <th scope="col">Size</th>
              <th scope="col">Verified</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {snaps.map((s) => (
              <tr key={s.id} data-testid="snapshot-row">
                <td>{s.name}</td>
                <td>{formatTime(s.time_ms)}</td>
                <td>{s.items}</td>
                <td>{s.users}</td>
                <td>{s.groups}</td>
                <td>{formatBytes(s.bytes)}</td>
                <td>{s.verified === null ? "Not yet" : s.verified ? "Intact" : "Damaged"}</td>
                <td class="row">
                  <button
                    type="button"
                    aria-label={`Browse ${s.name}`}
                    onClick={() => guard(async () => setBrowse({ snap: s, entries: await app.backend.snapshotContents(current, s.id), q: "" }))}
                  >
                    <FolderOpen size={16} aria-hidden="true" /> Browse
                  </button>
                  <button
                    type="button"
                    aria-label={`Verify ${s.name}`}
                    onClick={() =>
                      guard(async () => {
                        const id = await app.backend.verifySnapshot(current, s.id);
                        app.jobs.started(id, "verify", `Verify ${s.name}`);
                        setVerifyJob(id);
                      })
                    }
                  >
                    <ShieldCheck size={16} aria-hidden="true" /> Verify
                  </button>
                  <button
                    type="button"
                    aria-label={`Export ${s.name} as zip`}
                    onClick={() =>
                      guard(async () => {
                        const path = await app.backend.pickSavePath(`${s.name.replace(/[^\w.-]+/g, "_")}.zip`);
                        if (!path) return;
                        await app.backend.exportSnapshotZip(current, s.id, path);
                        setDone(`Exported to ${path}.`);
                      })
                    }
                  >
                    <Archive size={16} aria-hidden="true" /> Export zip
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {browse && (
        <section class="panel" aria-label={`Contents of ${browse.snap.name}`}>
          <div class="row spread">
            <h2>{browse.snap.name}</h2>
            <button type="button" onClick={() => setBrowse(null)}>
              Close
            </button>
          </div>
          <input aria-label="Find in snapshot" placeholder="Find by title" value={browse.q} onInput={(e) => setBrowse({ ...browse, q: e.currentTarget.value })} />
          <VirtualList
            count={shown.length}
            rowHeight={30}
            height={Math.min(360, Math.max(30, shown.length * 30))}
            label="Snapshot contents"
            row={(i) => (
              <div class="row">
                <span class="kind">{shown[i].kind}</span>
                <span class="ellipsis grow">{shown[i].title}</span>
                <span class="muted small">{shown[i].type}</span>
              </div>
            )}
          />
        </section>
      )}
    </section>
  );
}
