import { List, Network } from "lucide-preact";
import { useMemo, useState } from "preact/hooks";
import type { Workspace } from "../app/workspace";
import { compileFilter, type FilterSet } from "../state/filters";
import { ElementList } from "./ElementList";
import { FilterPanel } from "./FilterPanel";
import { VisualizerPanel } from "./VisualizerPanel";

/**
 * The graph or list of a workspace's elements beside the filter panel: what the Scan screen
 * selects a backup with and the Restore screen selects a restore with. Clicks and filter actions
 * change `ws.selection`, then call `onChange`.
 */
export function SelectionBrowser({ ws, onChange, testid = "view" }: { ws: Workspace; onChange: () => void; testid?: string }) {
  const [view, setView] = useState<"graph" | "list">("graph");
  const [filter, setFilter] = useState<FilterSet>({ combine: "all", rules: [] });
  const matches = useMemo(() => {
    if (filter.rules.every((r) => !r.value.trim())) return null;
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
  const toggle = (i: number) => {
    ws.selection.toggle(i);
    onChange();
  };
  return (
    <>
      <div class="row">
        <div role="group" aria-label="View" class="row">
          <button type="button" aria-pressed={view === "graph"} data-testid={`${testid}-graph`} onClick={() => setView("graph")}>
            <Network size={16} aria-hidden="true" /> Graph
          </button>
          <button type="button" aria-pressed={view === "list"} data-testid={`${testid}-list`} onClick={() => setView("list")}>
            <List size={16} aria-hidden="true" /> List
          </button>
        </div>
        <Legend />
      </div>
      <div class="scan-body">
        <div class="scan-main">
          {view === "graph" ? <VisualizerPanel ws={ws} matches={matches} onToggle={toggle} /> : <ElementList ws={ws} rows={matchRows} onToggle={toggle} />}
        </div>
        <FilterPanel
          filter={filter}
          onChange={setFilter}
          matchCount={matchRows?.length ?? 0}
          onSelectMatches={(mode) => {
            if (!matches) return;
            if (mode === "only") ws.selection.setWhere(() => true, false);
            ws.selection.setWhere((i) => matches[i] === 1, mode !== "deselect");
            onChange();
          }}
        />
      </div>
    </>
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
      <li>
        <span class="swatch" style={{ background: "#fff", outline: "2px solid #dc2626" }} /> failed
      </li>
      <li>lines: owns, member, shared, references, related</li>
    </ul>
  );
}
