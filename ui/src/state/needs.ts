import type { Selection } from "./selection";
import { EDGE_KINDS } from "../visualizer/model";

/** A selected item that needs an item left out: the data of `from` names `to`, or a portal relationship ties them. */
export interface Need {
  from: number;
  to: number;
  why: "references" | "related";
}

const REFERENCES = EDGE_KINDS.indexOf("references");
const RELATED = EDGE_KINDS.indexOf("related");

/**
 * What the selection needs and leaves out: for each selected item, the items its data names
 * (a web map's layers) and the destinations of its portal relationships (a map's service), where
 * those are left out and could be selected. An item tied to itself needs nothing.
 */
export function missingNeeds(sel: Selection): Need[] {
  const m = sel.model;
  const out: Need[] = [];
  const seen = new Set<string>();
  for (let e = 0; e < m.edgeFrom.length; e++) {
    const k = m.edgeKind[e];
    if (k !== REFERENCES && k !== RELATED) continue;
    const [a, b] = [m.edgeFrom[e], m.edgeTo[e]];
    if (a === b || m.kind[a] !== 0 || m.kind[b] !== 0) continue;
    if (!sel.isSelected(a) || sel.isSelected(b) || !sel.isSelectable(b)) continue;
    const key = `${a}>${b}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ from: a, to: b, why: k === REFERENCES ? "references" : "related" });
  }
  return out;
}

/**
 * Selects every item `needs` names and, in turn, what those need (a layer's own ties), until
 * nothing needed is left out; answers how many were added.
 */
export function addNeeds(sel: Selection, needs: Need[]): number {
  let added = 0;
  for (let round = needs; round.length > 0; round = missingNeeds(sel)) {
    const targets = new Set(round.map((n) => n.to));
    const changed = sel.setWhere((i) => targets.has(i), true);
    added += changed;
    if (changed === 0) break;
  }
  return added;
}
