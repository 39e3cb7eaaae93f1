import { beforeEach, describe, expect, it, vi } from "vitest";

const invoke = vi.fn();
const listeners = new Map<string, (e: { payload: unknown }) => void>();
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...a: unknown[]) => invoke(...a) }));
vi.mock("@tauri-apps/api/event", () => ({
  listen: async (name: string, cb: (e: { payload: unknown }) => void) => {
    listeners.set(name, cb);
    return () => listeners.delete(name);
  },
}));

const { TauriBackend } = await import("./tauri");

describe("the Tauri backend over the generated bindings", () => {
  beforeEach(() => {
    invoke.mockReset();
    listeners.clear();
  });

  it("calls the shell's command with its snake_case name and camelCase arguments and unwraps the answer", async () => {
    invoke.mockResolvedValueOnce(7);
    const id = await new TauriBackend().startScan("org-1");
    expect(invoke, "start_scan is invoked as the bindings name it").toHaveBeenCalledWith("start_scan", { identityId: "org-1" });
    expect(id, "the job id comes back unwrapped from {status, data}").toBe(7);
  });

  it("turns a command's UiError into a thrown {code, message}", async () => {
    invoke.mockRejectedValueOnce({ code: "not_admin", message: "ann lacks the administrator privileges" });
    await expect(new TauriBackend().saveIdentity({
      id: null, name: "x", portal_url: "https://x", kind: "online", sign_in: "builtin", username: "ann", password: "pw", app_id: null,
      storage: { kind: "local", path: "/tmp/x" }, allow_insecure_http: false, repository_password: null,
    }), "the screens receive the shell's code and message").rejects.toEqual({ code: "not_admin", message: "ann lacks the administrator privileges" });
    const sent = invoke.mock.calls[0][1] as { input: Record<string, unknown> };
    expect("kind" in sent.input, "the form's portal kind is not sent: the shell reads it from the portal").toBe(false);
  });

  it("sends job filters the shell knows and null for any", async () => {
    invoke.mockResolvedValueOnce([]);
    await new TauriBackend().listJobs({ kind: "", state: "cancelled", identity_id: "" });
    expect(invoke, "empty choices mean any").toHaveBeenCalledWith("list_jobs", { filter: { kind: null, state: "cancelled", identity_id: null } });
  });

  it("plans and starts a restore with the whole request, and saves a profile as name and mapping", async () => {
    const mapping = { owners: { ann_a: "ann_b" }, groups: { g1: { kind: "create_new" as const } }, folders: {}, tags: ["x"], url_replacements: [], conflict: "rename" as const, mode: "auto" as const };
    const selection = { everything: false, item_ids: ["i1"], usernames: [], group_ids: [] };
    const input = { source_identity_id: "a", snapshot_id: "s1", target_identity_id: "b", mapping, selection, methods: {} };
    invoke.mockResolvedValueOnce({ counts: { create: 3 } });
    const plan = await new TauriBackend().planRestore(input);
    expect(invoke, "plan_restore receives the request as `input`").toHaveBeenCalledWith("plan_restore", { input });
    expect(plan.counts.create, "the plan comes back unwrapped").toBe(3);
    invoke.mockResolvedValueOnce(12);
    expect(await new TauriBackend().startRestore(input), "start_restore answers the job id").toBe(12);
    expect(invoke).toHaveBeenLastCalledWith("start_restore", { input });
    invoke.mockResolvedValueOnce(null);
    await new TauriBackend().saveMappingProfile({ name: "to B", mapping });
    expect(invoke, "the profile's name and mapping are the command's two arguments").toHaveBeenLastCalledWith("save_mapping_profile", { name: "to B", mapping });
    invoke.mockResolvedValueOnce(null);
    await new TauriBackend().deleteMappingProfile("to B");
    expect(invoke).toHaveBeenLastCalledWith("delete_mapping_profile", { name: "to B" });
  });

  it("listens to tauri-specta's event names and passes only final JobFinished states", async () => {
    const b = new TauriBackend();
    const finished: unknown[] = [];
    const progress: unknown[] = [];
    await b.onJobFinished((e) => finished.push(e));
    await b.onJobProgress((e) => progress.push(e));
    expect([...listeners.keys()].sort(), "the generated event names").toEqual(["job-finished", "job-progress"]);
    listeners.get("job-finished")?.({ payload: { job_id: 1, state: "running", summary: "" } });
    listeners.get("job-finished")?.({ payload: { job_id: 1, state: "cancelled", summary: "by you" } });
    expect(finished, "a non-final state never ends a job in the UI").toEqual([{ job_id: 1, state: "cancelled", summary: "by you" }]);
    listeners.get("job-progress")?.({ payload: { job_id: 1, phase: "items", done: 1, total: null, bytes: 0, current: null, rate_per_s: null, bytes_per_s: null } });
    expect(progress, "an unknown rate reads as 0 per second").toEqual([{ job_id: 1, phase: "items", done: 1, total: null, bytes: 0, current: null, rate_per_s: 0, bytes_per_s: 0 }]);
  });
});
