import type { Graph } from "../backend/backend";
import { Selection } from "../state/selection";
import { computeLayout, type Layout } from "../visualizer/layout";
import { buildModel, type GraphModel } from "../visualizer/model";
import { SpatialIndex } from "../visualizer/spatial";

/** A scan graph made ready for drawing and selecting; built once per loaded scan. */
export interface Workspace {
  identityId: string;
  scanId: number;
  model: GraphModel;
  layout: Layout;
  index: SpatialIndex;
  selection: Selection;
}

/** `lockFailed`: failed elements are never selectable (a snapshot's, for a restore). */
export function buildWorkspace(identityId: string, graph: Graph, lockFailed = false): Workspace {
  const model = buildModel(graph);
  const layout = computeLayout(model);
  return { identityId, scanId: graph.scan_id, model, layout, index: new SpatialIndex(layout), selection: new Selection(model, true, lockFailed) };
}
