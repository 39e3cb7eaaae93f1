import { Archive, FolderOpen, PackageOpen, ShieldCheck, Trash2 } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { PruneView, SnapshotEntry, SnapshotView } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useAction } from "../app/action";
import { useApp } from "../app/context";
import { Confirm, ErrorNote, JobProgressView, Notice, formatTime, storageText } from "../components/common";
import { VirtualList } from "../components/VirtualList";
import { formatBytes } from "../state/selection";
import { useStore } from "../state/store";

export function SnapshotsScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const identities = useStore(app.identities);
  const jobs = useStore(app.jobs);
  const [snaps, setSnaps] = useState<SnapshotView[]>([]);
  const { error, setError, done, setDone, busy, act: guard } = useAction();
  const [browse, setBrowse] = useState<{ snap: SnapshotView; entries: SnapshotEntry[]; q: string } | null>(null);
  const [verifyJob, setVerifyJob] = useState<number | null>(null);
  const [forgetting, setForgetting] = useState<SnapshotView | null>(null);
  const [pruning, setPruning] = useState<PruneView | null>(null);
  const [zipPath, setZipPath] = useState("");
  const [zipPassword, setZipPassword] = useState("");
  const [reload, setReload] = useState(0);
  const ident = identities.find((i) => i.id === current);
  const finishedCount = Object.values(jobs).filter((j) => j.state !== "running").length;

  useEffect(() => {
    if (!current) return;
    app.backend.listSnapshots(current).then(setSnaps, (e) => setError(toUiError(e)));
  }, [current, finishedCount, reload]);


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
      <ErrorNote error={error} testid="snapshots-error" />
      {done && <Notice testid="snapshots-done">{done}</Notice>}
      {busy && <Notice testid="snapshots-busy">{busy}</Notice>}
      <div class="panel row wrap" aria-label="Repository">
        <label class="inline-field grow">
          <span>Import a zip</span>
          <input data-testid="snapshot-import-path" placeholder="/path/to/snapshot.zip" value={zipPath} onInput={(e) => setZipPath(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={() => guard(async () => setZipPath((await app.backend.pickZipFile()) ?? zipPath))}>
          Choose…
        </button>
        <label class="inline-field">
          <span>Zip password (if encrypted)</span>
          <input type="password" data-testid="snapshot-import-password" autocomplete="off" value={zipPassword} onInput={(e) => setZipPassword(e.currentTarget.value)} />
        </label>
        <button
          type="button"
          data-testid="snapshot-import"
          disabled={!zipPath.trim() || busy !== null}
          onClick={() =>
            guard(async () => {
              const id = await app.backend.importSnapshotZip(current, zipPath.trim(), zipPassword || null);
              setZipPassword("");
              setReload((n) => n + 1);
              setDone(`Imported ${zipPath.trim()} as snapshot ${id.slice(0, 8)}.`);
            }, `Importing ${zipPath.trim()}…`)
          }
        >
          <PackageOpen size={16} aria-hidden="true" /> Import
        </button>
        <button
          type="button"
          data-testid="snapshot-prune"
          disabled={busy !== null}
          onClick={() =>
            guard(async () => {
              const preview = await app.backend.prunePreview(current);
              if (preview.blobs_removed === 0) setDone("Nothing to prune: every piece of data in the repository belongs to a snapshot.");
              else setPruning(preview);
            }, "Reading what the snapshots use…")
          }
        >
          <Trash2 size={16} aria-hidden="true" /> Prune…
        </button>
      </div>
      {forgetting && (
        <Confirm
          title={`Forget the snapshot “${forgetting.name}”?`}
          yes={`Forget “${forgetting.name}”`}
          no="Keep it"
          testid="snapshot-forget-confirm"
          onNo={() => setForgetting(null)}
          onYes={() => {
            const s = forgetting;
            setForgetting(null);
            guard(async () => {
              await app.backend.forgetSnapshot(current, s.id);
              setReload((n) => n + 1);
              setDone(`Snapshot “${s.name}” forgotten. Prune frees the data only it used.`);
            }, `Forgetting “${s.name}”…`);
          }}
        >
          <p>
            The snapshot taken {formatTime(forgetting.time_ms)} ({forgetting.items} items, {forgetting.users} users, {forgetting.groups} groups) is deleted from the
            repository and can no longer be restored. The data only it uses stays until you prune.
          </p>
        </Confirm>
      )}
      {pruning && (
        <Confirm
          title={`Delete ${formatBytes(pruning.bytes_removed)} of data no snapshot uses?`}
          yes={`Delete ${pruning.blobs_removed} unused ${pruning.blobs_removed === 1 ? "piece" : "pieces"}`}
          no="Keep it"
          testid="snapshot-prune-confirm"
          onNo={() => setPruning(null)}
          onYes={() => {
            setPruning(null);
            guard(async () => {
              const r = await app.backend.pruneRepository(current);
              setDone(`Pruned: ${r.blobs_removed} unused pieces (${formatBytes(r.bytes_removed)}) deleted; ${r.blobs_kept} (${formatBytes(r.bytes_kept)}) kept.`);
            }, "Pruning…");
          }}
        >
          <p>
            {pruning.blobs_removed} pieces of data ({formatBytes(pruning.bytes_removed)}) belong to no snapshot (forgotten snapshots, backups that stopped) and are deleted.
            Every snapshot stays whole: {pruning.blobs_kept} pieces ({formatBytes(pruning.bytes_kept)}) are kept. A running backup makes the prune wait for another time.
          </p>
        </Confirm>
      )}
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
              <tr key={s.id} data-testid="snapshot-row" data-snapshot-id={s.id}>
                <td>
                  {s.name}
                  {s.other_identity && (
                    <span class="badge" title="Taken by an identity not saved here: imported from a zip, or its identity was removed">
                      {" "}
                      imported
                    </span>
                  )}
                </td>
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
                  <button type="button" class="danger" aria-label={`Forget ${s.name}`} data-testid="snapshot-forget" onClick={() => setForgetting(s)}>
                    <Trash2 size={16} aria-hidden="true" /> Forget…
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
