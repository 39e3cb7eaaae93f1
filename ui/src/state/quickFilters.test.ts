import { describe, expect, it } from "vitest";
import type { FilterSet } from "./filters";
import { QuickFilterError, QuickFilters } from "./quickFilters";

function fakeStore() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}
const f = (value: string): FilterSet => ({ combine: "all", rules: [{ target: "item", field: "title", op: "contains", value }] });

describe("quick filters", () => {
  it("are listed alphabetically whatever the order of saving, ignoring case", () => {
    const q = new QuickFilters(fakeStore());
    q.save("zoning", f("z"));
    q.save("Apps", f("a"));
    q.save("maps", f("m"));
    expect(q.list().map((x) => x.name), "alphabetical, case-insensitive").toEqual(["Apps", "maps", "zoning"]);
  });

  it("edit in place renames without duplicating and keeps or replaces the rules", () => {
    const q = new QuickFilters(fakeStore());
    q.save("Apps", f("a"));
    q.save("Maps", f("m"));
    q.edit("Maps", "All maps");
    expect(q.list().map((x) => x.name), "renamed entry moves to its new sorted place").toEqual(["All maps", "Apps"]);
    expect(q.list()[0].filter, "rename alone keeps the rules").toEqual(f("m"));
    q.edit("All maps", "All maps", f("web map"));
    expect(q.list()[0].filter, "editing the rules replaces them").toEqual(f("web map"));
    expect(() => q.edit("Apps", "all MAPS"), "a rename onto another name is refused").toThrow(QuickFilterError);
    expect(() => q.edit("nope", "x"), "editing a missing filter is refused").toThrow(QuickFilterError);
    expect(() => q.save("  ", f("x")), "an empty name is refused").toThrow(QuickFilterError);
  });

  it("persist across instances and survive a damaged store", () => {
    const store = fakeStore();
    new QuickFilters(store).save("Parcels", f("parcel"));
    expect(new QuickFilters(store).list(), "a new instance reads what the last one saved").toEqual([{ name: "Parcels", filter: f("parcel") }]);
    store.m.set("orgvault.quickFilters", "{not json");
    expect(new QuickFilters(store).list(), "damaged JSON yields an empty list, not a crash").toEqual([]);
  });

  it("saving under an existing name replaces it", () => {
    const q = new QuickFilters(fakeStore());
    q.save("Apps", f("a"));
    q.save("apps", f("b"));
    expect(q.list(), "one entry, with the new rules").toEqual([{ name: "apps", filter: f("b") }]);
  });
});
