import type { EdgeKind, Graph } from "../backend/backend";

export type NodeKind = "item" | "user" | "group";
export const KIND_CODE: Record<NodeKind, number> = { item: 0, user: 1, group: 2 };
export const KINDS: NodeKind[] = ["item", "user", "group"];
export const EDGE_KINDS: EdgeKind[] = ["owns", "member", "shared", "references", "related"];

/**
 * The scan graph flattened into parallel arrays indexed by node number, so that 50,000 elements
 * cost a few typed arrays rather than 50,000 objects per frame. Items come first, then users,
 * then groups. Edges whose ends are unknown are dropped; an edge from a node to itself is kept.
 */
export interface GraphModel {
  count: number;
  kind: Uint8Array;
  /** item id, username or group id */
  key: string[];
  label: string[];
  /** item type, user role, or "Group" */
  type: string[];
  /** owner username for items and groups, "" for users */
  owner: string[];
  /** bytes for items, 0 otherwise */
  size: Float64Array;
  access: string[];
  edgeFrom: Int32Array;
  edgeTo: Int32Array;
  edgeKind: Uint8Array;
  itemIndex: Map<string, number>;
  userIndex: Map<string, number>;
  groupIndex: Map<string, number>;
  /** group node -> member user nodes */
  members: Map<number, Set<number>>;
  itemTypes: string[];
  /** node -> why it could not be read whole (by the scan, or by the backup of a snapshot) */
  failed: Map<number, string>;
}

export function buildModel(g: Graph): GraphModel {
  const count = g.items.length + g.users.length + g.groups.length;
  const kind = new Uint8Array(count);
  const key: string[] = new Array(count);
  const label: string[] = new Array(count);
  const type: string[] = new Array(count);
  const owner: string[] = new Array(count);
  const access: string[] = new Array(count);
  const size = new Float64Array(count);
  const itemIndex = new Map<string, number>();
  const userIndex = new Map<string, number>();
  const groupIndex = new Map<string, number>();
  const types = new Set<string>();
  let n = 0;
  for (const it of g.items) {
    kind[n] = 0;
    key[n] = it.id;
    label[n] = it.title;
    type[n] = it.type;
    owner[n] = it.owner;
    access[n] = it.access;
    size[n] = it.size;
    types.add(it.type);
    itemIndex.set(it.id, n++);
  }
  for (const u of g.users) {
    kind[n] = 1;
    key[n] = u.username;
    label[n] = u.full_name || u.username;
    type[n] = u.role;
    owner[n] = "";
    access[n] = "";
    userIndex.set(u.username, n++);
  }
  for (const gr of g.groups) {
    kind[n] = 2;
    key[n] = gr.id;
    label[n] = gr.title;
    type[n] = "Group";
    owner[n] = gr.owner;
    access[n] = "";
    groupIndex.set(gr.id, n++);
  }
  const lookup = (id: string, prefer: Map<string, number>[]): number => {
    for (const m of prefer) {
      const v = m.get(id);
      if (v !== undefined) return v;
    }
    return -1;
  };
  const all = [itemIndex, userIndex, groupIndex];
  const ends: Record<EdgeKind, [Map<string, number>[], Map<string, number>[]]> = {
    owns: [[userIndex], [itemIndex, groupIndex]],
    member: [[userIndex], [groupIndex]],
    shared: [[itemIndex], [groupIndex]],
    references: [all, all],
    related: [all, all],
  };
  const from: number[] = [];
  const to: number[] = [];
  const ek: number[] = [];
  const members = new Map<number, Set<number>>();
  for (const e of g.edges) {
    const spec = ends[e.kind];
    if (!spec) continue;
    const a = lookup(e.from, spec[0]);
    const b = lookup(e.to, spec[1]);
    if (a < 0 || b < 0) continue;
    from.push(a);
    to.push(b);
    ek.push(EDGE_KINDS.indexOf(e.kind));
    if (e.kind === "member") {
      let s = members.get(b);
      if (!s) members.set(b, (s = new Set()));
      s.add(a);
    }
  }
  const failed = new Map<number, string>();
  for (const f of g.failed ?? []) {
    const i = lookup(f.id, f.kind === "item" ? [itemIndex] : f.kind === "user" ? [userIndex] : [groupIndex]);
    if (i >= 0) failed.set(i, f.reason);
  }
  return {
    count,
    kind,
    key,
    label,
    type,
    owner,
    size,
    access,
    edgeFrom: Int32Array.from(from),
    edgeTo: Int32Array.from(to),
    edgeKind: Uint8Array.from(ek),
    itemIndex,
    userIndex,
    groupIndex,
    members,
    itemTypes: [...types].filter((t) => t !== "").sort((a, b) => a.localeCompare(b)),
    failed,
  };
}

export function kindOf(m: GraphModel, i: number): NodeKind {
  return KINDS[m.kind[i]];
}
