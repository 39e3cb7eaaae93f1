import { describe, expect, it } from "vitest";
import { generateGraph } from "../backend/demoOrg";
import { smallGraph } from "../state/testGraph";
import { computeLayout } from "./layout";
import { buildModel } from "./model";
import { SpatialIndex } from "./spatial";

describe("model and layout", () => {
  it("keeps a self-related item, drops edges to unknown ends", () => {
    const m = buildModel(smallGraph());
    const i3 = m.itemIndex.get("i3")!;
    const self = [...m.edgeFrom].findIndex((a, e) => a === i3 && m.edgeTo[e] === i3);
    expect(self, "the item related to itself keeps its tie").toBeGreaterThanOrEqual(0);
    expect(m.edgeFrom.length, "the edge from the unknown user 'ghost' is dropped").toBe(smallGraph().edges.length - 1);
  });

  it("places every node at a finite, distinct spot, self-related item included", () => {
    const m = buildModel(smallGraph());
    const l = computeLayout(m);
    const spots = new Set<string>();
    for (let i = 0; i < m.count; i++) {
      expect(Number.isFinite(l.x[i]) && Number.isFinite(l.y[i]), `node ${m.key[i]} must have a finite position`).toBe(true);
      spots.add(`${l.x[i]},${l.y[i]}`);
    }
    expect(spots.size, "no two nodes share a position").toBe(m.count);
  });

  it("is deterministic and fast for 50,000 elements, without overlaps", () => {
    const g = generateGraph(50_000, 11);
    const t0 = performance.now();
    const m = buildModel(g);
    const a = computeLayout(m);
    const ms = performance.now() - t0;
    const b = computeLayout(buildModel(g));
    let differing = 0;
    for (let i = 0; i < m.count; i++) if (a.x[i] !== b.x[i] || a.y[i] !== b.y[i]) differing++;
    expect(differing, "same graph, same layout").toBe(0);
    expect(ms, "model and layout of 50,000 elements must take well under a second").toBeLessThan(1500);
    const seen = new Set<string>();
    for (let i = 0; i < m.count; i++) seen.add(`${a.x[i]},${a.y[i]}`);
    expect(seen.size, "every element has its own place").toBe(m.count);
  });
});

describe("hit testing", () => {
  const m = buildModel(generateGraph(20_000, 5));
  const l = computeLayout(m);
  const idx = new SpatialIndex(l);

  it("finds the node under its own centre, for every node", () => {
    for (let i = 0; i < m.count; i++) {
      const got = idx.hit(l.x[i], l.y[i]);
      if (got !== i) expect(got, `a click on the centre of ${m.key[i]} must hit it`).toBe(i);
    }
  });

  it("agrees with a brute-force search at random points", () => {
    let seed = 99;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let k = 0; k < 2000; k++) {
      const px = l.minX + rnd() * (l.maxX - l.minX);
      const py = l.minY + rnd() * (l.maxY - l.minY);
      let best = -1;
      let bestD = Infinity;
      for (let i = 0; i < m.count; i++) {
        const dx = Math.abs(px - l.x[i]);
        const dy = Math.abs(py - l.y[i]);
        if (dx <= l.half[i] && dy <= l.half[i] && dx * dx + dy * dy < bestD) {
          bestD = dx * dx + dy * dy;
          best = i;
        }
      }
      const got = idx.hit(px, py);
      if (got !== best) expect(got, `hit at (${px}, ${py}) must match brute force`).toBe(best);
    }
  });

  it("misses empty space and points outside the layout", () => {
    expect(idx.hit(l.minX - 50, l.minY - 50), "far outside, nothing").toBe(-1);
    expect(idx.hit(l.maxX + 50, l.maxY + 50), "far outside the other corner, nothing").toBe(-1);
  });
});
