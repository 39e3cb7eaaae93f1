/**
 * Where the visualizer looks: a scale and a translation from layout units to CSS pixels
 * (`screen = layout * scale + t`). Pure, so that fitting and resizing can be tested without a canvas.
 */
export interface View {
  scale: number;
  tx: number;
  ty: number;
}

/** The layout's extent, in layout units. */
export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** Share of the canvas the fitted organization fills, leaving a margin around it. */
export const FIT_MARGIN = 0.95;

/** The view that shows the whole layout, centred, in a canvas of `width` × `height` CSS pixels. */
export function fitView(b: Bounds, width: number, height: number): View {
  const w = Math.max(1, b.maxX - b.minX);
  const h = Math.max(1, b.maxY - b.minY);
  const scale = Math.min(Math.max(1, width) / w, Math.max(1, height) / h) * FIT_MARGIN;
  return { scale, tx: (width - w * scale) / 2 - b.minX * scale, ty: (height - h * scale) / 2 - b.minY * scale };
}

/**
 * The view after the canvas went from `from` to `to` (CSS pixels). A view that still shows the fitted
 * organization (the user has not panned or zoomed since), or one measured while the canvas had no size
 * (hidden, not laid out yet), is fitted afresh; otherwise the point at the centre stays at the centre
 * at the same zoom, so the user's place is kept.
 */
export function resizedView(view: View, from: [number, number], to: [number, number], fitted: boolean, b: Bounds): View {
  if (fitted || from[0] <= 1 || from[1] <= 1) return fitView(b, to[0], to[1]);
  return { scale: view.scale, tx: view.tx + (to[0] - from[0]) / 2, ty: view.ty + (to[1] - from[1]) / 2 };
}
