import type { Layout } from "./layout";

/**
 * A uniform grid over the layout, in compressed rows (cell -> slice of node numbers), built in O(n).
 * Hit testing looks at the cells a node of the largest size could reach from the point.
 */
export class SpatialIndex {
  private readonly cols: number;
  private readonly rows: number;
  private readonly start: Int32Array;
  private readonly nodes: Int32Array;

  constructor(
    private readonly layout: Layout,
    private readonly cell = 4,
  ) {
    const n = layout.x.length;
    this.cols = Math.max(1, Math.ceil((layout.maxX - layout.minX) / cell) + 1);
    this.rows = Math.max(1, Math.ceil((layout.maxY - layout.minY) / cell) + 1);
    const counts = new Int32Array(this.cols * this.rows + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.cellAt(layout.x[i], layout.y[i]);
      cellOf[i] = c;
      counts[c + 1]++;
    }
    for (let c = 1; c < counts.length; c++) counts[c] += counts[c - 1];
    this.start = counts.slice();
    const fill = counts.slice();
    this.nodes = new Int32Array(n);
    for (let i = 0; i < n; i++) this.nodes[fill[cellOf[i]]++] = i;
  }

  private cellAt(wx: number, wy: number): number {
    const cx = Math.min(this.cols - 1, Math.max(0, Math.floor((wx - this.layout.minX) / this.cell)));
    const cy = Math.min(this.rows - 1, Math.max(0, Math.floor((wy - this.layout.minY) / this.cell)));
    return cy * this.cols + cx;
  }

  /** The node whose square contains the world point (the nearest centre if several), or -1. */
  hit(wx: number, wy: number, slack = 0): number {
    const { x, y, half, maxHalf, minX, minY } = this.layout;
    const reach = maxHalf + slack;
    const c0 = Math.max(0, Math.floor((wx - reach - minX) / this.cell));
    const c1 = Math.min(this.cols - 1, Math.floor((wx + reach - minX) / this.cell));
    const r0 = Math.max(0, Math.floor((wy - reach - minY) / this.cell));
    const r1 = Math.min(this.rows - 1, Math.floor((wy + reach - minY) / this.cell));
    let best = -1;
    let bestD = Infinity;
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cellNo = r * this.cols + c;
        for (let k = this.start[cellNo]; k < this.start[cellNo + 1]; k++) {
          const i = this.nodes[k];
          const dx = Math.abs(wx - x[i]);
          const dy = Math.abs(wy - y[i]);
          const h = half[i] + slack;
          if (dx <= h && dy <= h) {
            const d = dx * dx + dy * dy;
            if (d < bestD) {
              bestD = d;
              best = i;
            }
          }
        }
      }
    }
    return best;
  }
}
