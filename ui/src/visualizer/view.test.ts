import { describe, expect, it } from "vitest";
import { fitView, resizedView, type Bounds, type View } from "./view";

const bounds: Bounds = { minX: -10, minY: 0, maxX: 30, maxY: 20 };
const screen = (v: View, x: number, y: number): [number, number] => [x * v.scale + v.tx, y * v.scale + v.ty];

describe("visualizer view", () => {
  it("a fitted view shows the whole layout, centred, inside the canvas", () => {
    const v = fitView(bounds, 800, 600);
    const [left, top] = screen(v, bounds.minX, bounds.minY);
    const [right, bottom] = screen(v, bounds.maxX, bounds.maxY);
    expect(left >= 0 && top >= 0 && right <= 800 && bottom <= 600, `the layout must lie inside the canvas: ${[left, top, right, bottom]}`).toBe(true);
    expect((left + right) / 2, "centred across").toBeCloseTo(400);
    expect((top + bottom) / 2, "centred down").toBeCloseTo(300);
    expect(right - left, "the wider side fills the canvas but for the margin").toBeCloseTo(800 * 0.95);
  });

  it("a fitted view is fitted again when the canvas grows or shrinks", () => {
    const small = fitView(bounds, 400, 300);
    const grown = resizedView(small, [400, 300], [1200, 900], true, bounds);
    expect(grown, "growing the window re-fits the organization to the new size").toEqual(fitView(bounds, 1200, 900));
    expect(grown.scale / small.scale, "three times the size draws three times as large").toBeCloseTo(3);
  });

  it("a canvas measured before it had a size is fitted once it has one", () => {
    const degenerate = fitView(bounds, 1, 1);
    const v = resizedView({ ...degenerate, tx: 5 }, [1, 1], [640, 480], false, bounds);
    expect(v, "a view computed for a 1×1 canvas is useless and is replaced by a fit").toEqual(fitView(bounds, 640, 480));
  });

  it("a panned or zoomed view keeps its centre and zoom when the canvas is resized", () => {
    const user: View = { scale: 7, tx: -120, ty: 40 };
    const from: [number, number] = [800, 600];
    const to: [number, number] = [1000, 500];
    const v = resizedView(user, from, to, false, bounds);
    expect(v.scale, "the user's zoom stays").toBe(7);
    const centreBefore = [(from[0] / 2 - user.tx) / user.scale, (from[1] / 2 - user.ty) / user.scale];
    const centreAfter = [(to[0] / 2 - v.tx) / v.scale, (to[1] / 2 - v.ty) / v.scale];
    expect(centreAfter, "the layout point at the centre stays at the centre").toEqual(centreBefore);
  });
});
