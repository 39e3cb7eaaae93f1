import { useState } from "preact/hooks";
import type { ItemOutcome } from "../backend/backend";
import { VirtualList } from "./VirtualList";

export interface OutcomeRow {
  kind: string;
  id: string;
  title: string;
  outcome: ItemOutcome;
  reason: string | null;
  fallback?: string | null;
}

const WORDS: Record<ItemOutcome, string> = { ok: "Done", skipped: "Skipped", failed: "Failed" };

/** Per-element results of a job, failures first, filterable by outcome. */
export function Outcomes({ rows }: { rows: OutcomeRow[] }) {
  const [only, setOnly] = useState<ItemOutcome | "all">("all");
  const order: Record<ItemOutcome, number> = { failed: 0, skipped: 1, ok: 2 };
  const shown = rows.filter((r) => only === "all" || r.outcome === only).sort((a, b) => order[a.outcome] - order[b.outcome]);
  const count = (o: ItemOutcome) => rows.filter((r) => r.outcome === o).length;
  return (
    <section class="panel" aria-label="Element outcomes">
      <div class="row spread">
        <h2>Outcomes</h2>
        <label class="inline-field">
          <span>Show</span>
          <select value={only} onChange={(e) => setOnly(e.currentTarget.value as ItemOutcome | "all")} data-testid="outcome-filter">
            <option value="all">All ({rows.length})</option>
            <option value="failed">Failed ({count("failed")})</option>
            <option value="skipped">Skipped ({count("skipped")})</option>
            <option value="ok">Done ({count("ok")})</option>
          </select>
        </label>
      </div>
      <VirtualList
        count={shown.length}
        rowHeight={40}
        height={Math.min(320, Math.max(40, shown.length * 40))}
        label="Outcomes"
        testid="outcomes"
        row={(i) => {
          const r = shown[i];
          return (
            <div class="outcome-row" data-outcome={r.outcome}>
              <span class={`badge outcome-${r.outcome}`}>{WORDS[r.outcome]}</span>
              <span class="kind">{r.kind}</span>
              <span class="ellipsis grow" title={r.id}>
                {r.title}
              </span>
              {r.fallback && <span class="small muted">via {r.fallback}</span>}
              {r.reason && (
                // On a success the shell's reason tells how it was done another way (e.g. the export
                // failed and the replica worked): a note, not an error.
                <span class={`small ellipsis ${r.outcome === "ok" ? "muted" : "reason"}`} title={r.reason}>
                  {r.reason}
                </span>
              )}
            </div>
          );
        }}
      />
    </section>
  );
}
