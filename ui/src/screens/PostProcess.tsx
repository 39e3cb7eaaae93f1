import { ListChecks, Play, Plus, Save, Search, X } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { JobItemView, MappingProfile, UrlChange, UrlEdit, UrlUse } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useAction } from "../app/action";
import { useApp } from "../app/context";
import { Confirm, ErrorNote, JobProgressView, Notice } from "../components/common";
import { Outcomes } from "../components/Outcomes";
import { useStore } from "../state/store";

const key = (item: string, place: string) => `${item}\u0000${place}`;

/**
 * After a restore: the service URLs its items name, registered services (an ArcGIS Server of the
 * organization's own, which the restore cannot know the new address of) first. New URLs are given
 * one by one or by find/replace rules, previewed, then applied as a post-processing job whose
 * history lists every change. Only items the restore wrote are ever changed.
 */
export function PostProcess({
  targetId,
  snapshotId,
  profiles,
  onProfilesChanged,
}: {
  targetId: string;
  snapshotId: string;
  profiles: MappingProfile[];
  onProfilesChanged: () => void;
}) {
  const app = useApp();
  const jobs = useStore(app.jobs);
  const [uses, setUses] = useState<UrlUse[] | null>(null);
  const [all, setAll] = useState(false);
  const [rules, setRules] = useState<[string, string][]>([["", ""]]);
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [preview, setPreview] = useState<UrlChange[] | null>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const [outcomes, setOutcomes] = useState<JobItemView[] | null>(null);
  const [profileName, setProfileName] = useState("");
  const [replacing, setReplacing] = useState<MappingProfile | null>(null);
  const { error, setError, done, setDone, busy, act: run } = useAction();
  const act = (what: string, fn: () => Promise<void>) => run(fn, what);

  useEffect(() => {
    setUses(null);
    setPreview(null);
    setEdits({});
    setJobId(null);
    setOutcomes(null);
  }, [targetId, snapshotId]);
  const live = jobId !== null ? jobs[jobId] : undefined;
  useEffect(() => {
    if (!live || live.state === "running") return;
    app.backend.jobItems(live.id).then(setOutcomes, (e) => setError(toUiError(e)));
  }, [live?.id, live?.state]);

  const shown = (uses ?? []).filter((u) => all || u.registered);
  const ruleList = rules.filter(([find]) => find !== "").map(([find, replace]) => ({ find, replace }));
  const editList: UrlEdit[] = Object.entries(edits)
    .filter(([, to]) => to.trim())
    .map(([k, to]) => {
      const [item_id, place] = k.split("\u0000");
      return { item_id, place, to };
    });
  const stale = () => setPreview(null);
  const saveRules = (name: string) =>
    act("Saving the rules…", async () => {
      const before = await app.backend.saveUrlRules(name, ruleList);
      onProfilesChanged();
      setDone(before > 0 ? `The mapping profile “${name}” now holds these ${ruleList.length} URL rules (its ${before} earlier ones replaced).` : `Saved ${ruleList.length} URL rules in the mapping profile “${name}”.`);
    });

  return (
    <section class="panel" aria-label="Post-processing" data-testid="postprocess">
      <h2>Post-processing</h2>
      <p class="small muted">
        After a restore into the organization chosen above: the service URLs its items name. Layers of a registered service (an ArcGIS Server of your own) keep the
        source's address until you give the new one here. Only items this restore wrote are changed.
      </p>
      <ErrorNote error={error} testid="postprocess-error" />
      {done && <Notice testid="postprocess-done">{done}</Notice>}
      {busy && <Notice>{busy}</Notice>}
      <div class="row">
        <button type="button" data-testid="postprocess-find" disabled={!targetId || !snapshotId || busy !== null} onClick={() => act("Reading the restored items…", async () => setUses(await app.backend.restoredUrls(targetId, snapshotId)))}>
          <Search size={16} aria-hidden="true" /> Find URLs in the restored items
        </button>
        {uses && (
          <label class="check">
            <input
              type="checkbox"
              data-testid="postprocess-all"
              checked={all}
              onChange={(e) => {
                setAll(e.currentTarget.checked);
                stale();
              }}
            />{" "}
            Every URL, not only registered services
          </label>
        )}
      </div>
      {uses && shown.length === 0 && <Notice testid="postprocess-none">{all ? "The restored items name no URL." : "No restored item names a registered service."}</Notice>}
      {shown.length > 0 && (
        <table class="table small" data-testid="postprocess-uses">
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Where</th>
              <th scope="col">URL now</th>
              <th scope="col">New URL (by hand)</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((u) => (
              <tr key={key(u.item_id, u.place)} data-testid="postprocess-use" data-url={u.url} data-registered={u.registered ? "true" : "false"}>
                <td>
                  {u.title} <span class="muted">({u.item_type})</span>
                </td>
                <td class="mono">{u.place}</td>
                <td class="mono wrap-any">{u.url}</td>
                <td>
                  <input
                    aria-label={`New URL for ${u.title} ${u.place}`}
                    data-testid="postprocess-edit"
                    value={edits[key(u.item_id, u.place)] ?? ""}
                    onInput={(e) => {
                      setEdits({ ...edits, [key(u.item_id, u.place)]: e.currentTarget.value });
                      stale();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {uses && (
        <fieldset class="field" aria-label="Find and replace in URLs">
          <legend class="field-label">Find and replace in the URLs listed above</legend>
          {rules.map(([find, replace], n) => (
            <div class="row" key={n}>
              <input aria-label="Find" data-testid="postprocess-rule-find" placeholder="old address, e.g. gis.old.example" value={find} onInput={(e) => {
                  setRules(rules.map((r, k) => (k === n ? [e.currentTarget.value, r[1]] : r)));
                  stale();
                }}
              />
              <input aria-label="Replace with" data-testid="postprocess-rule-replace" placeholder="new address, e.g. gis.new.example" value={replace} onInput={(e) => {
                  setRules(rules.map((r, k) => (k === n ? [r[0], e.currentTarget.value] : r)));
                  stale();
                }}
              />
              <button
                type="button"
                aria-label="Remove rule"
                onClick={() => {
                  setRules(rules.filter((_, k) => k !== n));
                  stale();
                }}
              >
                <X size={16} aria-hidden="true" />
              </button>
            </div>
          ))}
          <div class="row">
            <button type="button" onClick={() => setRules([...rules, ["", ""]])}>
              <Plus size={16} aria-hidden="true" /> Add rule
            </button>
            <input aria-label="Mapping profile for the rules" data-testid="postprocess-profile-name" placeholder="Mapping profile" value={profileName} onInput={(e) => setProfileName(e.currentTarget.value)} />
            <button
              type="button"
              data-testid="postprocess-profile-save"
              disabled={!profileName.trim() || ruleList.length === 0}
              onClick={() => {
                const existing = profiles.find((p) => p.name === profileName.trim());
                if (existing && existing.mapping.url_replacements.length > 0) setReplacing(existing);
                else saveRules(profileName.trim());
              }}
            >
              <Save size={16} aria-hidden="true" /> Save rules to the profile
            </button>
          </div>
        </fieldset>
      )}
      {replacing && (
        <Confirm
          title={`Replace the URL rules of the mapping profile “${replacing.name}”?`}
          yes={`Replace its ${replacing.mapping.url_replacements.length} rules`}
          no="Keep them"
          testid="postprocess-profile-confirm"
          onNo={() => setReplacing(null)}
          onYes={() => {
            const name = replacing.name;
            setReplacing(null);
            saveRules(name);
          }}
        >
          <ul class="small">
            {replacing.mapping.url_replacements.map((r) => (
              <li key={r.find}>
                {r.find} → {r.replace}
              </li>
            ))}
          </ul>
          <p>are replaced by the {ruleList.length} rules on screen; the rest of the profile stays as it is.</p>
        </Confirm>
      )}
      {uses && (
        <div class="row">
          <button
            type="button"
            data-testid="postprocess-preview"
            disabled={busy !== null}
            onClick={() => act("Working out the changes…", async () => setPreview(await app.backend.previewUrlChanges(shown, ruleList, editList)))}
          >
            <ListChecks size={16} aria-hidden="true" /> Preview the changes
          </button>
          <button
            type="button"
            class="primary"
            data-testid="postprocess-apply"
            disabled={!preview || preview.length === 0 || busy !== null || live?.state === "running"}
            onClick={() =>
              act("Starting…", async () => {
                const id = await app.backend.applyUrlChanges(targetId, snapshotId, preview ?? []);
                app.jobs.started(id, "postprocess", `Post-processing: ${preview?.length ?? 0} URLs`);
                setOutcomes(null);
                setJobId(id);
              })
            }
          >
            <Play size={16} aria-hidden="true" /> Apply {preview?.length ?? 0} changes
          </button>
        </div>
      )}
      {preview && (
        <div data-testid="postprocess-preview-list" data-changes={preview.length}>
          {preview.length === 0 ? (
            <Notice>Nothing would change.</Notice>
          ) : (
            <ul class="small">
              {preview.map((c) => (
                <li key={key(c.item_id, c.place)} data-testid="postprocess-change">
                  {c.title} <span class="mono">{c.place}</span>: <span class="mono">{c.from}</span> → <span class="mono">{c.to}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {live && <JobProgressView job={live} />}
      {outcomes && <Outcomes rows={outcomes} />}
    </section>
  );
}
