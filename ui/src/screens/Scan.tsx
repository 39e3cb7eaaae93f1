import { List, Network, RefreshCw } from "lucide-preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp, type AppContext } from "../app/context";
import { buildWorkspace, type Workspace } from "../app/workspace";
import { ElementList } from "../components/ElementList";
import { ErrorNote, JobProgressView, Notice } from "../components/common";
import { FilterPanel } from "../components/FilterPanel";
import { VisualizerPanel } from "../components/VisualizerPanel";
import { compileFilter, type FilterSet } from "../state/filters";
import { formatBytes } from "../state/selection";
import { useStore } from "../state/store";
import { KINDS, type NodeKind } from "../visualizer/model";

/** Loads the latest scan of the current organization into the shared workspace. */
export async function loadWorkspace(app: AppContext, identityId: string): Promise<Workspace> {
  const ws = buildWorkspace(identityId, await app.backend.loadGraph(identityId));
  app.workspace.set(ws);
  app.selectionTick.update((t) => t + 1);
  return ws;
}

const KIND_PLURAL: Record<NodeKind, string> = { item: "items", user: "users", group: "groups" };

export function ScanScreen() {
  const app = useApp();
  const current = useStore(app.current);
  const ws = useStore(app.workspace);
  const jobs = useStore(app.jobs);
  const [scanJob, setScanJob] = useState<number | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [view, setView] = useState<"graph" | "list">("graph");
  const [filter, setFilter] = useState<FilterSet>({ combine: "all", rules: [] });

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

  const matches = useMemo(() => {
    if (!ws || filter.rules.every((r) => !r.value.trim())) return null;
    const test = compileFilter(ws.model, filter);
    const out = new Uint8Array(ws.model.count);
    for (let i = 0; i < out.length; i++) if (test(i)) out[i] = 1;
    return out;
  }, [ws, filter]);
  const matchRows = useMemo(() => {
    if (!matches) return null;
    const rows: number[] = [];
    for (let i = 0; i < matches.length; i++) if (matches[i]) rows.push(i);
    return rows;
  }, [matches]);

  if (!current) {
    return (
      <section data-testid="screen-scan" class="screen">
        <h1>Scan</h1>
        <Notice>Add or choose an organization under Identities first.</Notice>
      </section>
    );
  }

  const bump = () => app.selectionTick.update((t) => t + 1);
  const toggle = (i: number) => {
    ws?.selection.toggle(i);
    bump();
  };

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
          <div class="row">
            <div role="group" aria-label="View" class="row">
              <button type="button" aria-pressed={view === "graph"} data-testid="view-graph" onClick={() => setView("graph")}>
                <Network size={16} aria-hidden="true" /> Graph
              </button>
              <button type="button" aria-pressed={view === "list"} data-testid="view-list" onClick={() => setView("list")}>
                <List size={16} aria-hidden="true" /> List
              </button>
            </div>
            <Legend />
          </div>
          <div class="scan-body">
            <div class="scan-main">
              {view === "graph" ? (
                <VisualizerPanel ws={ws} matches={matches} onToggle={toggle} />
              ) : (
                <ElementList ws={ws} rows={matchRows} onToggle={toggle} />
              )}
            </div>
            <FilterPanel
              filter={filter}
              onChange={setFilter}
              matchCount={matchRows?.length ?? 0}
              onSelectMatches={(mode) => {
                if (!matches) return;
                if (mode === "only") ws.selection.setWhere(() => true, false);
                ws.selection.setWhere((i) => matches[i] === 1, mode !== "deselect");
                bump();
              }}
            />
          </div>
        </>
      )}
    </section>
  );
}

function Legend() {
  return (
    <ul class="legend row small muted" aria-label="Legend">
      <li>
        <span class="swatch" style={{ background: "#2563eb" }} /> items (colour by type)
      </li>
      <li>
        <span class="swatch" style={{ background: "#111827" }} /> users
      </li>
      <li>
        <span class="swatch" style={{ background: "#059669" }} /> groups
      </li>
      <li>
        <span class="swatch" style={{ background: "#d1d5db" }} /> left out
      </li>
      <li>lines: owns, member, shared, references, related</li>
    </ul>
  );
}

/** The tally, estimated size, backup name and bulk switches, all updated on every click. */
export function SelectionBar({ ws, onChange }: { ws: Workspace; onChange: () => void }) {
  const app = useApp();
  useStore(app.selectionTick);
  const name = useStore(app.backupName);
  const [itemType, setItemType] = useState(ws.model.itemTypes[0] ?? "");
  const t = ws.selection.tally;
  const bulk = (fn: () => number) => {
    fn();
    onChange();
  };
  return (
    <section class="panel selection-bar" aria-label="Selection">
      <div class="row spread">
        <div class="tally row" aria-live="polite">
          <span>
            <strong data-testid="tally-items">{t.items}</strong> items
          </span>
          <span>
            <strong data-testid="tally-users">{t.users}</strong> users
          </span>
          <span>
            <strong data-testid="tally-groups">{t.groups}</strong> groups
          </span>
          <span>
            Estimated backup size{" "}
            <strong data-testid="tally-bytes" data-bytes={t.bytes} title={`${t.bytes.toLocaleString()} bytes`}>
              {formatBytes(t.bytes, 2)}
            </strong>
          </span>
        </div>
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
      <div class="row wrap">
        {KINDS.map((k) => (
          <span class="row" key={k}>
            <button type="button" data-testid={`enable-${k}`} onClick={() => bulk(() => ws.selection.setKind(k, true))}>
              Enable all {KIND_PLURAL[k]}
            </button>
            <button type="button" data-testid={`disable-${k}`} onClick={() => bulk(() => ws.selection.setKind(k, false))}>
              Disable all {KIND_PLURAL[k]}
            </button>
          </span>
        ))}
        <span class="row">
          <select aria-label="Item type" value={itemType} onChange={(e) => setItemType(e.currentTarget.value)}>
            {ws.model.itemTypes.map((ty) => (
              <option key={ty} value={ty}>
                {ty}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => bulk(() => ws.selection.setItemType(itemType, true))}>
            Enable type
          </button>
          <button type="button" onClick={() => bulk(() => ws.selection.setItemType(itemType, false))}>
            Disable type
          </button>
        </span>
      </div>
    </section>
  );
}
