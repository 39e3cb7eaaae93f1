import { describe, expect, it } from "vitest";
import { EMPTY_MAPPING } from "../backend/backend";
import { MockBackend } from "../backend/mock";
import { restoreInput } from "./Restore";
import { groupChoice, groupTarget, withEntry } from "./RestoreMapping";
import { planSummary } from "./RestorePlan";

/** Runs the mock's timers until the job ends (the mock steps jobs on timers). */
async function finish(b: MockBackend, id: number): Promise<string> {
  for (let n = 0; n < 2000; n++) {
    const job = (await b.listJobs({ kind: null, state: null, identity_id: null })).find((j) => j.id === id);
    if (job && job.state !== "running") return job.state;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`job ${id} never ended`);
}

async function backedUp(): Promise<{ b: MockBackend; snapshot: string }> {
  const b = new MockBackend({ elements: 40, tickMs: 0, perTick: 50, withDemo: true });
  const job = await b.startBackup("demo-a", "Before the move", { everything: true, item_ids: [], usernames: [], group_ids: [] });
  await finish(b, job);
  const [snap] = await b.listSnapshots("demo-a");
  return { b, snapshot: snap.id };
}

describe("the restore request and mapping editors", () => {
  it("folds the folder and URL rows into the mapping, dropping half-typed rows", () => {
    const input = restoreInput("a", "s", "b", EMPTY_MAPPING, [["Parks", "Parks 2024"], ["", "x"], ["Roads", " "]], [["http://old", "https://new"], ["", "y"]]);
    expect(input.mapping.folders, "only complete folder rows become mappings").toEqual({ Parks: "Parks 2024" });
    expect(input.mapping.url_replacements, "a URL row needs text to find").toEqual([{ find: "http://old", replace: "https://new" }]);
    expect(EMPTY_MAPPING.folders, "the shared empty mapping is never modified").toEqual({});
  });

  it("encodes the group choice both ways and clears a row back to the default", () => {
    for (const t of [{ kind: "create_new" as const }, { kind: "existing" as const, group: "g9" }]) {
      expect(groupTarget(groupChoice(t)), `the picker's value for ${t.kind} reads back the same target`).toEqual(t);
    }
    expect(groupTarget(groupChoice(undefined)), "the default is no mapping at all").toBeUndefined();
    const m = withEntry({ ann: "ann2", bob: "bob2" }, "ann", "");
    expect(m, "an emptied owner row is removed, not mapped to an empty name").toEqual({ bob: "bob2" });
  });
});

describe("the mock's restore, in the shell's shape", () => {
  it("plans every element of the snapshot and writes nothing until applied", async () => {
    const { b, snapshot } = await backedUp();
    const [snap] = await b.listSnapshots("demo-a");
    const before = (await b.loadGraph("demo-b")).items.length;
    const plan = await b.planRestore(restoreInput("demo-a", snapshot, "demo-b", EMPTY_MAPPING, [], []));
    expect([plan.items.length, plan.users.length, plan.groups.length], "the plan offers what the snapshot holds").toEqual([snap.items, snap.users, snap.groups]);
    expect(plan.mode, "another organization is a migration").toBe("migrate");
    expect((await b.loadGraph("demo-b")).items.length, "planning writes nothing").toBe(before);
    expect(planSummary(plan), "the summary sentence carries the counts").toContain(`${plan.items.length} items, ${plan.users.length} users`);

    const job = await b.startRestore(restoreInput("demo-a", snapshot, "demo-b", EMPTY_MAPPING, [], []));
    expect(await finish(b, job), "the restore succeeds").toBe("succeeded");
    const created = plan.items.filter((i) => i.action.kind === "create").length;
    expect((await b.loadGraph("demo-b")).items.length, "the target holds what the plan created").toBe(before + created);
  });

  it("follows the conflict policy and Create New on a second restore into the same target", async () => {
    const { b, snapshot } = await backedUp();
    const first = await b.startRestore(restoreInput("demo-a", snapshot, "demo-b", EMPTY_MAPPING, [], []));
    await finish(b, first);
    const again = await b.planRestore(restoreInput("demo-a", snapshot, "demo-b", EMPTY_MAPPING, [], []));
    expect(again.counts.conflicts, "every restored item now conflicts by title").toBe(again.items.length);
    expect(again.items.every((i) => i.action.kind === "skip"), "the default policy keeps the existing items").toBe(true);
    const rename = await b.planRestore(restoreInput("demo-a", snapshot, "demo-b", { ...EMPTY_MAPPING, conflict: "rename" }, [], []));
    expect(rename.items.every((i) => i.action.kind === "create" && i.target_title.endsWith("(restored)")), "rename creates beside them").toBe(true);
  });

  it("saves, lists by name, replaces and deletes mapping profiles", async () => {
    const b = new MockBackend({ withDemo: true });
    const mapping = { ...EMPTY_MAPPING, owners: { ann: "ann_b" }, groups: { g1: { kind: "create_new" as const } } };
    await b.saveMappingProfile({ name: "to B", mapping });
    await b.saveMappingProfile({ name: "another", mapping: EMPTY_MAPPING });
    await b.saveMappingProfile({ name: "to B", mapping: { ...mapping, tags: ["moved"] } });
    const listed = await b.listMappingProfiles();
    expect(listed.map((p) => p.name), "listed by name, a second save replaces").toEqual(["another", "to B"]);
    expect(listed[1].mapping.tags, "the replacement is what is kept").toEqual(["moved"]);
    await b.deleteMappingProfile("another");
    expect((await b.listMappingProfiles()).map((p) => p.name), "a deleted profile is gone").toEqual(["to B"]);
  });
});
