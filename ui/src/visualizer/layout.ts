import type { GraphModel } from "./model";

/** World positions (centres) and half-sizes of every node; the same graph always gives the same layout. */
export interface Layout {
  x: Float32Array;
  y: Float32Array;
  half: Float32Array;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** largest half-size, bounds the hit-test search */
  maxHalf: number;
}

const ITEM_HALF = 0.4;
const USER_HALF = 1.2;
const GROUP_HALF = 1.1;
const GAP = 3;

/**
 * Groups in a band on top; below, one square cluster per owner: the user in the middle, the items
 * they own around it, sorted by type so types form patches. Clusters are shelf-packed into rows.
 * No force simulation: O(n log n), independent of edges, so self-references or cycles cannot upset it.
 */
export function computeLayout(m: GraphModel): Layout {
  const x = new Float32Array(m.count);
  const y = new Float32Array(m.count);
  const half = new Float32Array(m.count);
  const owned = new Map<string, number[]>();
  const orphans: number[] = [];
  const users: number[] = [];
  const groups: number[] = [];
  for (let i = 0; i < m.count; i++) {
    const k = m.kind[i];
    if (k === 1) users.push(i);
    else if (k === 2) groups.push(i);
    else if (m.userIndex.has(m.owner[i])) {
      let list = owned.get(m.owner[i]);
      if (!list) owned.set(m.owner[i], (list = []));
      list.push(i);
    } else orphans.push(i);
  }
  const byName = (a: number, b: number) => (m.key[a] < m.key[b] ? -1 : m.key[a] > m.key[b] ? 1 : 0);
  users.sort(byName);
  groups.sort(byName);
  const byType = (a: number, b: number) => (m.type[a] < m.type[b] ? -1 : m.type[a] > m.type[b] ? 1 : byName(a, b));

  interface Cluster {
    center: number;
    items: number[];
    side: number;
  }
  const clusters: Cluster[] = users.map((u) => {
    const items = (owned.get(m.key[u]) ?? []).sort(byType);
    // Reserve a 3x3 block in the middle for the owner.
    return { center: u, items, side: Math.max(3, Math.ceil(Math.sqrt(items.length + 9))) };
  });
  if (orphans.length > 0) {
    orphans.sort(byType);
    clusters.push({ center: -1, items: orphans, side: Math.ceil(Math.sqrt(orphans.length)) });
  }
  let area = 0;
  for (const c of clusters) area += (c.side + GAP) * (c.side + GAP);
  const rowWidth = Math.max(Math.sqrt(area) * 1.6, 10);

  const groupCols = Math.max(1, Math.floor(rowWidth / 3));
  groups.forEach((g, n) => {
    x[g] = (n % groupCols) * 3 + GROUP_HALF;
    y[g] = Math.floor(n / groupCols) * 3 + GROUP_HALF;
    half[g] = GROUP_HALF;
  });
  let cy = groups.length > 0 ? Math.ceil(groups.length / groupCols) * 3 + GAP * 2 : 0;
  let cx = 0;
  let rowH = 0;
  for (const c of clusters) {
    if (cx > 0 && cx + c.side > rowWidth) {
      cx = 0;
      cy += rowH + GAP;
      rowH = 0;
    }
    const mid = Math.floor(c.side / 2);
    if (c.center >= 0) {
      x[c.center] = cx + mid + 0.5;
      y[c.center] = cy + mid + 0.5;
      half[c.center] = USER_HALF;
    }
    let cell = 0;
    for (const it of c.items) {
      let col: number;
      let row: number;
      do {
        col = cell % c.side;
        row = Math.floor(cell / c.side);
        cell++;
      } while (c.center >= 0 && Math.abs(col - mid) <= 1 && Math.abs(row - mid) <= 1);
      x[it] = cx + col + 0.5;
      y[it] = cy + row + 0.5;
      half[it] = ITEM_HALF;
    }
    cx += c.side + GAP;
    rowH = Math.max(rowH, c.side);
  }
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < m.count; i++) {
    minX = Math.min(minX, x[i] - half[i]);
    minY = Math.min(minY, y[i] - half[i]);
    maxX = Math.max(maxX, x[i] + half[i]);
    maxY = Math.max(maxY, y[i] + half[i]);
  }
  if (m.count === 0) minX = minY = maxX = maxY = 0;
  return { x, y, half, minX, minY, maxX, maxY, maxHalf: Math.max(ITEM_HALF, USER_HALF, GROUP_HALF) };
}
