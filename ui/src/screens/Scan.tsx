import { RefreshCw } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp, type AppContext } from "../app/context";
import { buildWorkspace, type Workspace } from "../app/workspace";
import { ErrorNote, JobProgressView, Notice } from "../components/common";
import { SelectionBrowser } from "../components/SelectionBrowser";
import { useStore } from "../state/store";
import { BulkToggles, FailedNote, Tally } from "../components/SelectionTools";

/** Loads the latest scan of the current organization into the shared workspace. */
export async function loadWorkspace(app: AppContext, identityId: string): Promise<Workspace> {
  const ws = buildWorkspace(identityId, await app.backend.loadGraph(identityId));
  app.workspace.set(ws);
  app.selectionTick.update((t) => t + 1);
  return ws;
}

export function ScanScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const ws = useStore(app.workspace);
  const jobs = useStore(app.jobs);
  const [scanJob, setScanJob] = useState<number | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  useEffect(() => {
    if (!current || (ws && ws.identityId === current)) return;
    setError(null);
    loadWorkspace(app, current).catch((e) => {
      app.workspace.set(null);
      setError(toUiError(e));
    });
  }, [current]);

  const live = scanJob !== null ? jobs[scanJob] : undefined;
  useEffect(() => {
    if (live && (live.state === "succeeded" || live.state === "partial") && current) {
      loadWorkspace(app, current).then(
        () => setError(null),
        (e) => setError(toUiError(e)),
      );
    }
  }, [live?.state]);

  const startScan = async () => {
    if (!current) return;
    setError(null);
    try {
      const id = await app.backend.startScan(current);
      app.jobs.started(id, "scan", "Scan");
      setScanJob(id);
    } catch (e) {
      setError(toUiError(e));
    }
  };

  if (!current) {
    return (
      <section data-testid="screen-scan" class="screen">
        <h1>Scan</h1>
        <Notice>Add or choose an organization under Identities first.</Notice>
      </section>
    );
  }

  const bump = () => app.selectionTick.update((t) => t + 1);

  return (
    <section data-testid="screen-scan" class="screen" aria-labelledby="scan-title">
      <header class="screen-head">
        <h1 id="scan-title">Scan and select</h1>
        <button type="button" class="primary" data-testid="scan-start" onClick={startScan} disabled={live?.state === "running"}>
          <RefreshCw size={16} aria-hidden="true" /> {ws ? "Refresh scan" : "Start scan"}
        </button>
      </header>
      {live && <JobProgressView job={live} onCancel={() => app.backend.cancelJob(live.id)} />}
      <ErrorNote error={error} />
      {ws && (
        <>
          <SelectionBar ws={ws} onChange={bump} />
          <SelectionBrowser ws={ws} onChange={bump} />
        </>
      )}
    </section>
  );
}

/** The tally, estimated size, backup name and bulk switches, all updated on every click. */
export function SelectionBar({ ws, onChange }: { ws: Workspace; onChange: () => void }) {
  const app = useApp();
  useStore(app.selectionTick);
  const name = useStore(app.backupName);
  return (
    <section class="panel selection-bar" aria-label="Selection">
      <div class="row spread">
        <Tally ws={ws} sizeLabel="Estimated backup size" />
        <div class="row">
          <label class="inline-field">
            <span>Backup name</span>
            <input data-testid="backup-name" value={name} onInput={(e) => app.backupName.set(e.currentTarget.value)} />
          </label>
          <button type="button" class="primary" data-testid="goto-backup" onClick={() => app.screen.set("backup")}>
            Review backup…
          </button>
        </div>
      </div>
      <p class="small muted">Click the rectangles to select or leave out elements; the tally follows.</p>
      <BulkToggles ws={ws} onChange={onChange} />
      <FailedNote ws={ws} what="could not be read completely by this scan; the backup scans again and may still manage them" testid="scan-failed" />
    </section>
  );
}
