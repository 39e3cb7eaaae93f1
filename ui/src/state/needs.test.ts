import { describe, expect, it } from "vitest";
import type { Graph } from "../backend/backend";
import { buildModel } from "../visualizer/model";
import { addNeeds, missingNeeds } from "./needs";
import { Selection } from "./selection";
import { smallGraph } from "./testGraph";

describe("what a restore selection needs", () => {
  it("a web map without the layer its data names is reported, and adding it clears the report", () => {
    const m = buildModel(smallGraph());
    const s = new Selection(m, false);
    s.set(m.itemIndex.get("i2")!, true);
    const needs = missingNeeds(s);
    expect(needs.map((n) => [m.key[n.from], m.key[n.to], n.why]), "the map i2 names the layer i1").toEqual([["i2", "i1", "references"]]);
    expect(addNeeds(s, needs), "one item added").toBe(1);
    expect(s.isSelected(m.itemIndex.get("i1")!), "the layer is selected now").toBe(true);
    expect(missingNeeds(s), "nothing is missing any more").toEqual([]);
  });

  it("adding what is needed follows the needs of what it adds", () => {
    const g: Graph = { ...smallGraph(), edges: [...smallGraph().edges, { from: "i1", to: "i4", kind: "related" }] };
    const m = buildModel(g);
    const s = new Selection(m, false);
    s.set(m.itemIndex.get("i2")!, true);
    expect(addNeeds(s, missingNeeds(s)), "the layer i1 and, through its relationship, the dashboard i4").toBe(2);
    expect(missingNeeds(s), "nothing needed is left out").toEqual([]);
  });

  it("an item related to itself needs nothing, and a failed item is never offered", () => {
    const g: Graph = { ...smallGraph(), failed: [{ kind: "item", id: "i1", reason: "export failed: 500" }] };
    const m = buildModel(g);
    const s = new Selection(m, true, true);
    expect(s.isSelected(m.itemIndex.get("i1")!), "a failed item starts left out when failed ones are locked").toBe(false);
    s.set(m.itemIndex.get("i1")!, true);
    expect(s.isSelected(m.itemIndex.get("i1")!), "and cannot be selected").toBe(false);
    expect(s.setKind("item", true), "enabling all items skips it").toBe(0);
    expect(missingNeeds(s), "the map's layer failed, so nothing can be offered; i3 relates only to itself").toEqual([]);
    expect(s.selectedFailed(), "no failed element is selected").toBe(0);
  });

  it("on a scan, failed elements stay selectable and are counted", () => {
    const g: Graph = { ...smallGraph(), failed: [{ kind: "group", id: "g2", reason: "reading members failed: 500" }] };
    const m = buildModel(g);
    const s = new Selection(m);
    expect(m.failed.get(m.groupIndex.get("g2")!), "the reason is kept by node").toBe("reading members failed: 500");
    expect(s.selectedFailed(), "selected by default on a scan").toBe(1);
  });
});
