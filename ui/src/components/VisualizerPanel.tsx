import { useEffect, useRef, useState } from "preact/hooks";
import { useApp } from "../app/context";
import type { Workspace } from "../app/workspace";
import { useStore } from "../state/store";
import { formatBytes } from "../state/selection";
import { kindOf } from "../visualizer/model";
import { Visualizer } from "../visualizer/renderer";

/** Where an element is drawn, for end-to-end tests that click on the canvas like a user. */
export interface DrawnElement {
  key: string;
  label: string;
  kind: string;
  /** item type, user role, or "Group" */
  type: string;
  /** centre in CSS pixels from the canvas's top-left corner */
  x: number;
  y: number;
  /** the same centre in the window's (viewport's) coordinates, where a pointer must go */
  clientX: number;
  clientY: number;
  selected: boolean;
  bytes: number;
}

declare global {
  interface Window {
    /** Filled for the benchmark: first-render time and per-frame draw times. */
    __ovBench?: { firstRenderMs: number | null; frames: number[]; viz: Visualizer | null };
    /**
     * Read-only test hook of the visualizer shown: the first drawn elements of a kind whose centre
     * a click would hit (inside the canvas), so a test can click where a user would.
     */
    __ovVisualizer?: { clickable(kind: string, limit: number): DrawnElement[] };
  }
}

function clickable(canvas: HTMLCanvasElement, v: Visualizer, ws: Workspace, kind: string, limit: number): DrawnElement[] {
  const m = ws.model;
  const [width, height] = v.size();
  const r = canvas.getBoundingClientRect();
  const inside = (x: number, y: number, w: number, h: number) => x >= 2 && y >= 2 && x <= w - 2 && y <= h - 2;
  const out: DrawnElement[] = [];
  for (let i = 0; i < m.count && out.length < limit; i++) {
    if (kindOf(m, i) !== kind) continue;
    const [x, y] = v.screenOf(i);
    const [clientX, clientY] = [r.left + x, r.top + y];
    // Drawn, inside the part of the window that shows, and the element a click there would hit.
    if (!inside(x, y, width, height) || !inside(clientX, clientY, window.innerWidth, window.innerHeight) || v.nodeAt(x, y) !== i) continue;
    out.push({ key: m.key[i], label: m.label[i], kind, type: m.type[i], x, y, clientX, clientY, selected: ws.selection.isSelected(i), bytes: m.size[i] });
  }
  return out;
}

/** The canvas with its tooltip; selection changes go through `onToggle` so tallies update at once. */
export function VisualizerPanel({ ws, matches, onToggle }: { ws: Workspace; matches: Uint8Array | null; onToggle: (i: number) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const viz = useRef<Visualizer | null>(null);
  const matchRef = useRef(matches);
  const toggleRef = useRef(onToggle);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  matchRef.current = matches;
  toggleRef.current = onToggle;

  useEffect(() => {
    if (!canvas.current) return;
    const bench = (window.__ovBench ??= { firstRenderMs: null, frames: [], viz: null });
    const v = new Visualizer(canvas.current, ws.model, ws.layout, ws.index, {
      isSelected: (i) => ws.selection.isSelected(i),
      isMatch: (i) => (matchRef.current ? matchRef.current[i] === 1 : null),
      onToggle: (i) => toggleRef.current(i),
      onHover: (i, x, y) => setHover((h) => (i < 0 ? null : h && h.i === i ? h : { i, x, y })),
      onFrame: (ms) => {
        if (bench.firstRenderMs === null) {
          bench.firstRenderMs = performance.now();
          performance.mark("visualizer-first-render");
        }
        if (bench.frames.length < 10_000) bench.frames.push(ms);
      },
    });
    viz.current = v;
    bench.viz = v;
    window.__ovVisualizer = { clickable: (kind, limit) => (canvas.current ? clickable(canvas.current, v, ws, kind, limit) : []) };
    return () => {
      v.destroy();
      viz.current = null;
      window.__ovVisualizer = undefined;
    };
  }, [ws]);

  // Selection changed by bulk switches or filter actions, or a new filter: repaint the scene.
  const tick = useStore(useApp().selectionTick);
  useEffect(() => viz.current?.invalidateScene(), [matches, tick]);

  const m = ws.model;
  return (
    <div class="viz-wrap">
      <canvas
        ref={canvas}
        class="viz"
        tabIndex={0}
        data-testid="visualizer-canvas"
        role="img"
        aria-label={`Graph of ${m.count} items, users and groups. Drag to pan, wheel or plus and minus to zoom, 0 to fit, click an element to select or deselect it. The list view offers the same selection by keyboard.`}
      />
      <div class="viz-tools row">
        <button type="button" onClick={() => viz.current?.fit()}>
          Fit
        </button>
        <button type="button" onClick={() => viz.current?.zoomAt(1.5, (canvas.current?.clientWidth ?? 0) / 2, (canvas.current?.clientHeight ?? 0) / 2)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => viz.current?.zoomAt(1 / 1.5, (canvas.current?.clientWidth ?? 0) / 2, (canvas.current?.clientHeight ?? 0) / 2)} aria-label="Zoom out">
          −
        </button>
      </div>
      {hover && hover.i < m.count && (
        <div class="tooltip" style={{ left: hover.x + 14, top: hover.y + 14 }} role="tooltip">
          <strong>{m.label[hover.i]}</strong>
          <div class="small">
            {kindOf(m, hover.i)} · {m.type[hover.i]}
            {m.owner[hover.i] && ` · ${m.owner[hover.i]}`}
            {m.kind[hover.i] === 0 && ` · ${formatBytes(m.size[hover.i])}`}
          </div>
          {m.failed.has(hover.i) && <div class="small failed-note">Failed: {m.failed.get(hover.i)}</div>}
          <div class="small">
            {!ws.selection.isSelectable(hover.i) ? "Cannot be selected" : ws.selection.isSelected(hover.i) ? "Selected: click to leave out" : "Left out: click to select"}
          </div>
        </div>
      )}
    </div>
  );
}
