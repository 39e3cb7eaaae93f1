import { describe, expect, it } from "vitest";
import { buildModel } from "../visualizer/model";
import { generateGraph } from "../backend/demoOrg";
import { Selection, formatBytes } from "./selection";
import { smallGraph } from "./testGraph";

describe("selection and tally", () => {
  const m = buildModel(smallGraph());

  it("starts with everything and says so", () => {
    const s = new Selection(m);
    expect(s.tally, "everything selected: 4 items, 3 users, 2 groups, all item bytes").toEqual({ items: 4, users: 3, groups: 2, bytes: 4070 });
    expect(s.toInput(), "a full selection is sent as 'everything'").toEqual({ everything: true, item_ids: [], usernames: [], group_ids: [] });
  });

  it("a click toggles one element and the tally follows at once", () => {
    const s = new Selection(m);
    const i3 = m.itemIndex.get("i3")!;
    expect(s.toggle(i3), "the first click leaves the item out").toBe(false);
    expect(s.tally, "i3 (3000 bytes) no longer counted").toEqual({ items: 3, users: 3, groups: 2, bytes: 1070 });
    expect(s.toggle(i3), "the second click selects it again").toBe(true);
    expect(s.tally.bytes, "bytes return to the full total").toBe(4070);
    const cy = m.userIndex.get("cy")!;
    s.toggle(cy);
    expect(s.tally, "leaving out a user changes users only, never bytes").toEqual({ items: 4, users: 2, groups: 2, bytes: 4070 });
    expect(s.toInput().usernames, "the partial selection names the remaining users").toEqual(["ana", "bob"]);
  });

  it("bulk toggles by kind and by item type", () => {
    const s = new Selection(m);
    expect(s.setKind("user", false), "three users switched off").toBe(3);
    expect(s.setKind("user", false), "switching off again changes nothing").toBe(0);
    expect(s.setItemType("Feature Service", false), "two feature services switched off").toBe(2);
    expect(s.tally, "web map and dashboard remain, with their bytes").toEqual({ items: 2, users: 0, groups: 2, bytes: 70 });
    s.setKind("item", true);
    expect(s.tally.items, "enable all items brings every item back").toBe(4);
    const none = new Selection(m, false);
    expect(none.tally, "an empty selection counts nothing").toEqual({ items: 0, users: 0, groups: 0, bytes: 0 });
  });

  it("the incremental tally equals a recount after many random clicks", () => {
    const big = buildModel(generateGraph(5000, 3));
    const s = new Selection(big);
    let seed = 7;
    for (let k = 0; k < 20_000; k++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      s.toggle(seed % big.count);
    }
    const recount = { items: 0, users: 0, groups: 0, bytes: 0 };
    for (let i = 0; i < big.count; i++) {
      if (!s.isSelected(i)) continue;
      if (big.kind[i] === 0) {
        recount.items++;
        recount.bytes += big.size[i];
      } else if (big.kind[i] === 1) recount.users++;
      else recount.groups++;
    }
    expect(s.tally, "the running tally must never drift from the flags").toEqual(recount);
  });

  it("formats sizes for people", () => {
    expect(formatBytes(512), "bytes stay bytes").toBe("512 B");
    expect(formatBytes(1536), "kilobytes get one decimal below ten").toBe("1.5 KB");
    expect(formatBytes(300 * 1024 * 1024), "megabytes round").toBe("300 MB");
  });
});
