import { useState } from "preact/hooks";
import type { Workspace } from "../app/workspace";
import { formatBytes } from "../state/selection";
import { KINDS, type NodeKind } from "../visualizer/model";

const KIND_PLURAL: Record<NodeKind, string> = { item: "items", user: "users", group: "groups" };

/** The selection's counts and item bytes; `sizeLabel` names what the bytes estimate. */
export function Tally({ ws, sizeLabel, testid = "tally" }: { ws: Workspace; sizeLabel: string; testid?: string }) {
  const t = ws.selection.tally;
  return (
    <div class="tally row" aria-live="polite">
      <span>
        <strong data-testid={`${testid}-items`}>{t.items}</strong> items
      </span>
      <span>
        <strong data-testid={`${testid}-users`}>{t.users}</strong> users
      </span>
      <span>
        <strong data-testid={`${testid}-groups`}>{t.groups}</strong> groups
      </span>
      <span>
        {sizeLabel}{" "}
        <strong data-testid={`${testid}-bytes`} data-bytes={t.bytes} title={`${t.bytes.toLocaleString()} bytes`}>
          {formatBytes(t.bytes, 2)}
        </strong>
      </span>
    </div>
  );
}

/** Enable/disable all of a kind, or all items of a type; `onChange` after each. */
export function BulkToggles({ ws, onChange, testid = "" }: { ws: Workspace; onChange: () => void; testid?: string }) {
  const [itemType, setItemType] = useState(ws.model.itemTypes[0] ?? "");
  const bulk = (fn: () => number) => {
    fn();
    onChange();
  };
  return (
    <div class="row wrap">
      {KINDS.map((k) => (
        <span class="row" key={k}>
          <button type="button" data-testid={`${testid}enable-${k}`} onClick={() => bulk(() => ws.selection.setKind(k, true))}>
            Enable all {KIND_PLURAL[k]}
          </button>
          <button type="button" data-testid={`${testid}disable-${k}`} onClick={() => bulk(() => ws.selection.setKind(k, false))}>
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
  );
}

/** The failed elements of the graph, named with their reasons (at most `limit` listed). */
export function FailedNote({ ws, what, testid, limit = 8 }: { ws: Workspace; what: string; testid: string; limit?: number }) {
  const m = ws.model;
  if (m.failed.size === 0) return null;
  const shown = [...m.failed.entries()].slice(0, limit);
  return (
    <div class="notice warn" role="status" data-testid={testid}>
      <strong>
        {m.failed.size} {m.failed.size === 1 ? "element" : "elements"} {what}
      </strong>{" "}
      (outlined in red):
      <ul class="needs-list small">
        {shown.map(([i, reason]) => (
          <li key={i}>
            {m.label[i]}: {reason}
          </li>
        ))}
        {m.failed.size > limit && <li>and {m.failed.size - limit} more</li>}
      </ul>
    </div>
  );
}
