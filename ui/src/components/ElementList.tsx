import type { Workspace } from "../app/workspace";
import { formatBytes } from "../state/selection";
import { kindOf } from "../visualizer/model";
import { VirtualList } from "./VirtualList";

/** The list view of the same elements; each row's checkbox is the keyboard path to selection. */
export function ElementList({ ws, rows, onToggle }: { ws: Workspace; rows: number[] | null; onToggle: (i: number) => void }) {
  const m = ws.model;
  const count = rows ? rows.length : m.count;
  return (
    <VirtualList
      count={count}
      rowHeight={34}
      height={480}
      label="Elements"
      testid="element-list"
      row={(r) => {
        const i = rows ? rows[r] : r;
        const failed = m.failed.get(i);
        return (
          <label class={failed === undefined ? "elem-row" : "elem-row failed"} data-failed={failed !== undefined ? "true" : undefined} title={failed && `Failed: ${failed}`}>
            <input type="checkbox" checked={ws.selection.isSelected(i)} disabled={!ws.selection.isSelectable(i)} onChange={() => onToggle(i)} />
            <span class={`kind kind-${kindOf(m, i)}`}>{kindOf(m, i)}</span>
            {failed !== undefined && <span class="badge failed-badge">failed</span>}
            <span class="ellipsis grow">{m.label[i]}</span>
            <span class="muted small ellipsis w12">{m.type[i]}</span>
            <span class="muted small ellipsis w10">{m.owner[i]}</span>
            <span class="small w6 num">{m.kind[i] === 0 ? formatBytes(m.size[i]) : ""}</span>
          </label>
        );
      }}
    />
  );
}
