import { describe, expect, it } from "vitest";
import { buildModel } from "../visualizer/model";
import { matchingNodes, type FilterSet } from "./filters";
import { smallGraph } from "./testGraph";

const m = buildModel(smallGraph());
const keys = (set: FilterSet) => matchingNodes(m, set).map((i) => m.key[i]);

describe("filters", () => {
  it("equals is exact but ignores case, contains matches a part", () => {
    expect(keys({ combine: "all", rules: [{ target: "item", field: "title", op: "equals", value: "parcels" }] }), "equals must not match 'Parcels map'").toEqual(["i1"]);
    expect(keys({ combine: "all", rules: [{ target: "item", field: "title", op: "contains", value: "PARCEL" }] }), "contains must match both parcel items").toEqual(["i1", "i2"]);
  });

  it("ALL needs every rule of the kind, ANY needs one", () => {
    const rules = [
      { target: "item" as const, field: "type", op: "equals" as const, value: "Feature Service" },
      { target: "item" as const, field: "owner", op: "equals" as const, value: "bob" },
    ];
    expect(keys({ combine: "all", rules }), "ALL: only bob's feature service").toEqual(["i3"]);
    expect(keys({ combine: "any", rules }), "ANY: both feature services and bob's dashboard").toEqual(["i1", "i3", "i4"]);
  });

  it("a rule speaks only about its own kind", () => {
    const set: FilterSet = {
      combine: "any",
      rules: [
        { target: "item", field: "owner", op: "equals", value: "ana" },
        { target: "user", field: "username", op: "equals", value: "cy" },
      ],
    };
    expect(keys(set), "ANY across kinds selects ana's items and the user cy, never the user ana").toEqual(["i1", "i2", "cy"]);
    const all: FilterSet = { ...set, combine: "all" };
    expect(keys(all), "ALL across kinds judges each kind by its own rules").toEqual(["i1", "i2", "cy"]);
  });

  it("user is a member of group, by title or by id", () => {
    const byTitle = keys({ combine: "all", rules: [{ target: "user", field: "group", op: "member_of", value: "planning" }] });
    expect(byTitle, "ana and bob are members of Planning, cy is not").toEqual(["ana", "bob"]);
    const byId = keys({ combine: "all", rules: [{ target: "user", field: "group", op: "member_of", value: "g2" }] });
    expect(byId, "cy alone is a member of g2").toEqual(["cy"]);
    const combined = keys({
      combine: "all",
      rules: [
        { target: "user", field: "group", op: "member_of", value: "Planning" },
        { target: "user", field: "role", op: "contains", value: "admin" },
      ],
    });
    expect(combined, "member of Planning AND an admin is only ana").toEqual(["ana"]);
  });

  it("empty rules and unknown groups match nothing", () => {
    expect(keys({ combine: "any", rules: [] }), "no rule, no match").toEqual([]);
    expect(keys({ combine: "any", rules: [{ target: "item", field: "title", op: "contains", value: "  " }] }), "a blank value is ignored").toEqual([]);
    expect(keys({ combine: "all", rules: [{ target: "user", field: "group", op: "member_of", value: "nope" }] }), "an unknown group has no members").toEqual([]);
  });
});
