import type { Layout } from "./layout";
import type { GraphModel } from "./model";
import type { SpatialIndex } from "./spatial";
import { fitView, resizedView, type View } from "./view";

/** Fill colours: one per item type (cycled), then users, groups, and unselected elements. */
const TYPE_COLOURS = ["#2563eb", "#0891b2", "#7c3aed", "#c026d3", "#db2777", "#ea580c", "#ca8a04", "#16a34a", "#0d9488", "#4f46e5", "#9333ea", "#b45309"];
const USER_COLOUR = "#111827";
const GROUP_COLOUR = "#059669";
const UNSELECTED = "#d1d5db";
const EDGE_COLOURS = ["#6b7280", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6"];
/** Above this many visible nodes only the hovered node's ties are drawn, to keep panning smooth. */
const EDGE_LOD = 6000;
const MAX_LABELS = 400;
/** Largest side, in device pixels, of the bitmap the whole scene is cached in. */
const CACHE_MAX_SIDE = 4096;
/** World units around the layout kept in the cache, so self-loops and outlines are not clipped. */
const CACHE_PAD = 4;

interface SceneCache {
  canvas: HTMLCanvasElement;
  scale: number;
  dpr: number;
}

export interface VisualizerHooks {
  isSelected(i: number): boolean;
  /** null when no filter is active */
  isMatch(i: number): boolean | null;
  onToggle(i: number): void;
  onHover(i: number, screenX: number, screenY: number): void;
  /** called after every drawn frame with its duration, for the benchmark */
  onFrame?(ms: number): void;
}

/**
 * Draws the graph on a 2D canvas and turns pointer, wheel and key input into pan, zoom, hover and
 * click-to-toggle. Every frame redraws only what is inside the viewport, batching rectangles by
 * colour into one path each, so 50,000 nodes cost a dozen fill calls.
 */
export class Visualizer {
  scale = 1;
  tx = 0;
  ty = 0;
  hovered = -1;
  private ctx: CanvasRenderingContext2D;
  private bucket: Uint8Array;
  private colours: string[];
  private frame = 0;
  private cache: SceneCache | null = null;
  private drag: { x: number; y: number; moved: boolean; id: number } | null = null;
  private resize: ResizeObserver | null = null;
  private width = 0;
  private height = 0;
  /** Whether the view still shows the fitted organization (no pan or zoom since): resizing re-fits it. */
  private fitted = true;
  private readonly listeners: [string, EventListener][] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly model: GraphModel,
    private readonly layout: Layout,
    private readonly index: SpatialIndex,
    private readonly hooks: VisualizerHooks,
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("This window cannot draw on a canvas.");
    this.ctx = ctx;
    const types = model.itemTypes;
    this.colours = [...types.map((_, k) => TYPE_COLOURS[k % TYPE_COLOURS.length]), USER_COLOUR, GROUP_COLOUR, UNSELECTED];
    const typeNo = new Map(types.map((t, k) => [t, k]));
    this.bucket = new Uint8Array(model.count);
    for (let i = 0; i < model.count; i++) {
      const k = model.kind[i];
      this.bucket[i] = k === 0 ? (typeNo.get(model.type[i]) ?? 0) : types.length + k - 1;
    }
    this.measure();
    this.fit();
    this.listen();
    if (typeof ResizeObserver !== "undefined") {
      // A resized canvas (window, side panel, a tab shown after it was hidden) must not leave the
      // organization off-centre or drawn for the old size.
      this.resize = new ResizeObserver(() => this.resized());
      this.resize.observe(canvas);
    }
  }

  private measure(): void {
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(1, this.canvas.clientWidth);
    this.height = Math.max(1, this.canvas.clientHeight);
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
  }

  private setView(v: View): void {
    this.scale = v.scale;
    this.tx = v.tx;
    this.ty = v.ty;
  }

  /** Re-measures the canvas and adapts the view to its new size (see `resizedView`). */
  resized(): void {
    const from: [number, number] = [this.width, this.height];
    this.measure();
    if (from[0] === this.width && from[1] === this.height) return;
    this.setView(resizedView(this, from, [this.width, this.height], this.fitted, this.layout));
    this.invalidateScene();
  }

  /** Shows the whole organization. */
  fit(): void {
    this.setView(fitView(this.layout, this.width, this.height));
    this.fitted = true;
    this.invalidate();
  }

  panBy(dx: number, dy: number): void {
    this.fitted = false;
    this.tx += dx;
    this.ty += dy;
    this.invalidate();
  }

  zoomAt(factor: number, sx: number, sy: number): void {
    const next = Math.min(400, Math.max(0.02, this.scale * factor));
    const f = next / this.scale;
    this.fitted = false;
    this.tx = sx - (sx - this.tx) * f;
    this.ty = sy - (sy - this.ty) * f;
    this.scale = next;
    this.invalidate();
  }

  /** Centres the view on a node, e.g. when picked in the list view. */
  focus(i: number): void {
    this.fitted = false;
    this.tx = this.width / 2 - this.layout.x[i] * this.scale;
    this.ty = this.height / 2 - this.layout.y[i] * this.scale;
    this.invalidate();
  }

  /** Where node `i`'s centre is drawn, in CSS pixels from the canvas's top-left corner. */
  screenOf(i: number): [number, number] {
    return [this.layout.x[i] * this.scale + this.tx, this.layout.y[i] * this.scale + this.ty];
  }

  /** The canvas's size in CSS pixels. */
  size(): [number, number] {
    return [this.width, this.height];
  }

  nodeAt(sx: number, sy: number): number {
    // A few pixels of slack so tiny nodes stay clickable when zoomed out.
    return this.index.hit((sx - this.tx) / this.scale, (sy - this.ty) / this.scale, 3 / this.scale);
  }

  invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Marks the drawing itself stale (selection, filter), not just its position. */
  invalidateScene(): void {
    this.cache = null;
    this.invalidate();
  }

  render(): void {
    const t0 = performance.now();
    const { ctx, layout, scale } = this;
    const dpr = window.devicePixelRatio || 1;
    // While the whole scene fits in a bitmap, panning only moves that bitmap: one blit per frame
    // instead of 50,000 rectangles. Zoomed in further, the viewport holds few nodes and is drawn directly.
    const sceneW = Math.ceil((layout.maxX - layout.minX + 2 * CACHE_PAD) * scale * dpr);
    const sceneH = Math.ceil((layout.maxY - layout.minY + 2 * CACHE_PAD) * scale * dpr);
    const cacheable = sceneW <= CACHE_MAX_SIDE && sceneH <= CACHE_MAX_SIDE && typeof document !== "undefined";
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (cacheable) {
      if (!this.cache || this.cache.scale !== scale || this.cache.dpr !== dpr) this.cache = this.paintCache(sceneW, sceneH, dpr);
      const ox = Math.round((this.tx + (layout.minX - CACHE_PAD) * scale) * dpr);
      const oy = Math.round((this.ty + (layout.minY - CACHE_PAD) * scale) * dpr);
      ctx.drawImage(this.cache.canvas, ox, oy);
    } else {
      this.cache = null;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.drawScene(ctx, this.tx, this.ty, this.width, this.height);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawOverlay();
    this.hooks.onFrame?.(performance.now() - t0);
  }

  private paintCache(w: number, h: number, dpr: number): SceneCache {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const c = canvas.getContext("2d");
    if (!c) throw new Error("This window cannot draw on a canvas.");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = "#ffffff";
    c.fillRect(0, 0, w / dpr, h / dpr);
    const { layout, scale } = this;
    this.drawScene(c, -(layout.minX - CACHE_PAD) * scale, -(layout.minY - CACHE_PAD) * scale, w / dpr, h / dpr);
    return { canvas, scale, dpr };
  }

  /** Nodes, ties (all of them when few nodes are in view) and labels, translated by (tx, ty). */
  private drawScene(ctx: CanvasRenderingContext2D, tx: number, ty: number, w: number, h: number): void {
    const { model, layout, scale } = this;
    const { x, y, half } = layout;
    const wx0 = -tx / scale;
    const wy0 = -ty / scale;
    const wx1 = (w - tx) / scale;
    const wy1 = (h - ty) / scale;
    const pad = layout.maxHalf;
    const visible = (i: number) => x[i] + pad >= wx0 && x[i] - pad <= wx1 && y[i] + pad >= wy0 && y[i] - pad <= wy1;
    const paths = this.colours.map(() => new Path2D());
    const matchPath = new Path2D();
    const failedPath = new Path2D();
    const unselected = this.colours.length - 1;
    let shown = 0;
    const anyFilter = model.count > 0 && this.hooks.isMatch(0) !== null;
    for (let i = 0; i < model.count; i++) {
      if (!visible(i)) continue;
      shown++;
      const s = Math.max(half[i] * scale, 0.75);
      const px = x[i] * scale + tx - s;
      const py = y[i] * scale + ty - s;
      paths[this.hooks.isSelected(i) ? this.bucket[i] : unselected].rect(px, py, s * 2, s * 2);
      if (anyFilter && this.hooks.isMatch(i)) matchPath.rect(px - 1.5, py - 1.5, s * 2 + 3, s * 2 + 3);
      if (model.failed.has(i)) failedPath.rect(px - 1, py - 1, s * 2 + 2, s * 2 + 2);
    }
    if (shown <= EDGE_LOD) this.drawEdges(ctx, tx, ty, (e) => visible(model.edgeFrom[e]) || visible(model.edgeTo[e]), 0.35);
    for (let b = 0; b < paths.length; b++) {
      ctx.fillStyle = this.colours[b];
      ctx.fill(paths[b]);
    }
    if (anyFilter) {
      ctx.strokeStyle = "#f59e0b";
      ctx.lineWidth = 1.5;
      ctx.stroke(matchPath);
    }
    if (model.failed.size > 0) {
      // Failed elements: a red outline, whatever their fill.
      ctx.strokeStyle = "#dc2626";
      ctx.lineWidth = 2;
      ctx.stroke(failedPath);
    }
    if (layout.maxHalf * scale < 10) return;
    ctx.fillStyle = "#111827";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    let n = 0;
    for (let i = 0; i < model.count && n < MAX_LABELS; i++) {
      if (!visible(i) || half[i] * scale < 10) continue;
      // Labels are cut to about the width of a layout cell so neighbours' names never overprint.
      const chars = Math.max(3, Math.floor(((half[i] * 2 + 1.6) * scale) / 6.5));
      const text = model.label[i].length > chars ? `${model.label[i].slice(0, chars - 1)}…` : model.label[i];
      ctx.fillText(text, x[i] * scale + tx, (y[i] + half[i]) * scale + ty + 12);
      n++;
    }
  }

  /** The hovered node's outline and ties, drawn on top of the scene every frame. */
  private drawOverlay(): void {
    const i = this.hovered;
    if (i < 0) return;
    const { ctx, layout, scale, tx, ty, model } = this;
    this.drawEdges(ctx, tx, ty, (e) => model.edgeFrom[e] === i || model.edgeTo[e] === i, 0.9);
    const s = Math.max(layout.half[i] * scale, 0.75) + 2;
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 2;
    ctx.strokeRect(layout.x[i] * scale + tx - s, layout.y[i] * scale + ty - s, s * 2, s * 2);
  }

  private drawEdges(ctx: CanvasRenderingContext2D, tx: number, ty: number, want: (e: number) => boolean, alpha: number): void {
    const { model, layout, scale } = this;
    const { x, y } = layout;
    const paths = EDGE_COLOURS.map(() => new Path2D());
    let drawn = 0;
    for (let e = 0; e < model.edgeFrom.length; e++) {
      if (!want(e)) continue;
      const a = model.edgeFrom[e];
      const b = model.edgeTo[e];
      const p = paths[model.edgeKind[e]];
      const ax = x[a] * scale + tx;
      const ay = y[a] * scale + ty;
      if (a === b) {
        // An item related to itself: a small loop beside it, never a zero-length line.
        const r = Math.max(layout.half[a] * scale, 3);
        p.moveTo(ax + r * 2, ay - r);
        p.arc(ax + r, ay - r, r, 0, Math.PI * 2);
      } else {
        p.moveTo(ax, ay);
        p.lineTo(x[b] * scale + tx, y[b] * scale + ty);
      }
      drawn++;
    }
    if (drawn === 0) return;
    ctx.lineWidth = 1;
    ctx.globalAlpha = alpha;
    for (let k = 0; k < paths.length; k++) {
      ctx.strokeStyle = EDGE_COLOURS[k];
      ctx.stroke(paths[k]);
    }
    ctx.globalAlpha = 1;
  }

  private on<K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void): void {
    this.canvas.addEventListener(type, fn as EventListener);
    this.listeners.push([type, fn as EventListener]);
  }

  private local(e: MouseEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  private listen(): void {
    this.on("pointerdown", (e) => {
      const [sx, sy] = this.local(e);
      this.drag = { x: sx, y: sy, moved: false, id: e.pointerId };
      try {
        this.canvas.setPointerCapture(e.pointerId);
      } catch {
        // Synthetic pointers (tests, the benchmark) have no capture target; panning works without it.
      }
    });
    this.on("pointermove", (e) => {
      const [sx, sy] = this.local(e);
      if (this.drag) {
        const dx = sx - this.drag.x;
        const dy = sy - this.drag.y;
        if (this.drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
          this.drag.moved = true;
          this.drag.x = sx;
          this.drag.y = sy;
          this.panBy(dx, dy);
        }
        return;
      }
      const i = this.nodeAt(sx, sy);
      if (i !== this.hovered) {
        this.hovered = i;
        this.invalidate();
      }
      this.hooks.onHover(i, sx, sy);
    });
    this.on("pointerup", (e) => {
      const d = this.drag;
      this.drag = null;
      if (d && !d.moved) {
        const [sx, sy] = this.local(e);
        const i = this.nodeAt(sx, sy);
        if (i >= 0) {
          this.hooks.onToggle(i);
          this.invalidateScene();
        }
      }
    });
    this.on("pointerleave", () => {
      if (this.hovered >= 0 && !this.drag) {
        this.hovered = -1;
        this.hooks.onHover(-1, 0, 0);
        this.invalidate();
      }
    });
    this.on("wheel", (e) => {
      e.preventDefault();
      const [sx, sy] = this.local(e);
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), sx, sy);
    });
    this.on("keydown", (e) => {
      const step = 60;
      const keys: Record<string, () => void> = {
        ArrowLeft: () => this.panBy(step, 0),
        ArrowRight: () => this.panBy(-step, 0),
        ArrowUp: () => this.panBy(0, step),
        ArrowDown: () => this.panBy(0, -step),
        "+": () => this.zoomAt(1.25, this.width / 2, this.height / 2),
        "=": () => this.zoomAt(1.25, this.width / 2, this.height / 2),
        "-": () => this.zoomAt(0.8, this.width / 2, this.height / 2),
        "0": () => this.fit(),
      };
      const act = keys[e.key];
      if (act) {
        e.preventDefault();
        act();
      }
    });
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resize?.disconnect();
    for (const [t, fn] of this.listeners) this.canvas.removeEventListener(t, fn);
  }
}
