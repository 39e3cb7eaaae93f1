import type { Workspace } from "../app/workspace";
import { SelectionBrowser } from "../components/SelectionBrowser";
import { BulkToggles, FailedNote, Tally } from "../components/SelectionTools";
import { addNeeds, missingNeeds } from "../state/needs";

/**
 * What of the snapshot to restore, chosen as a backup's content is on the Scan screen: the same
 * graph and list, filters, bulk switches and tally. Elements that failed in the backup are shown
 * and never selectable; items the selection needs but leaves out (a web map's layers) are named
 * and offered.
 */
export function RestoreSelection({ ws, onChange }: { ws: Workspace; onChange: () => void }) {
  const m = ws.model;
  const needs = missingNeeds(ws.selection);
  const needed = new Set(needs.map((n) => n.to)).size;
  const needers = new Set(needs.map((n) => n.from)).size;
  return (
    <section class="panel" aria-label="What to restore">
      <h2>What to restore</h2>
      <Tally ws={ws} sizeLabel="Selected items' size" testid="restore-tally" />
      <p class="small muted">Click the rectangles or the list's boxes to leave elements out; users left out are not created, groups left out are not restored.</p>
      <BulkToggles ws={ws} onChange={onChange} testid="restore-" />
      <FailedNote ws={ws} what="failed in the backup and cannot be restored" testid="restore-failed" />
      {needs.length > 0 && (
        <div class="notice warn" role="status" data-testid="restore-needs">
          <strong>
            {needers} selected {needers === 1 ? "item needs" : "items need"} {needed} {needed === 1 ? "item" : "items"} left out
          </strong>
          ; restored without {needed === 1 ? "it" : "them"}, {needers === 1 ? "it keeps" : "they keep"} pointing at the source organization:
          <ul class="needs-list small">
            {needs.slice(0, 8).map((n) => (
              <li key={`${n.from}-${n.to}`}>
                {m.label[n.from]} ({m.type[n.from]}) needs {m.label[n.to]} ({m.type[n.to]}): {n.why === "references" ? "its data names it" : "a portal relationship"}
              </li>
            ))}
            {needs.length > 8 && <li>and {needs.length - 8} more</li>}
          </ul>
          <button
            type="button"
            data-testid="restore-add-needs"
            onClick={() => {
              addNeeds(ws.selection, needs);
              onChange();
            }}
          >
            Add the {needed} needed {needed === 1 ? "item" : "items"}
          </button>
        </div>
      )}
      <SelectionBrowser ws={ws} onChange={onChange} testid="restore-view" />
    </section>
  );
}
