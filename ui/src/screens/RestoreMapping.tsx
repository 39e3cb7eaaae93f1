import { Plus, Save, Trash2, X } from "lucide-preact";
import type { ConflictPolicy, Graph, GroupTargetView, MappingProfile, RestoreMapping, SnapshotEntry } from "../backend/backend";
import { Confirm, Field } from "../components/common";
import { useState } from "preact/hooks";

/** The group picker's values: the engine's default, "Create New", or an existing target group. */
const DEFAULT = "";
const CREATE_NEW = "\u0000create-new";
const EXISTING = "existing:";

export function groupChoice(t: GroupTargetView | undefined): string {
  if (!t) return DEFAULT;
  return t.kind === "create_new" ? CREATE_NEW : EXISTING + t.group;
}

export function groupTarget(choice: string): GroupTargetView | undefined {
  if (choice === CREATE_NEW) return { kind: "create_new" };
  if (choice.startsWith(EXISTING)) return { kind: "existing", group: choice.slice(EXISTING.length) };
  return undefined;
}

/** A mapping with `from` set to `to`, or removed when `to` is empty/undefined (the default applies). */
export function withEntry<T>(map: Partial<Record<string, T>>, from: string, to: T | undefined): Record<string, T> {
  const next: Record<string, T> = {};
  for (const [k, v] of Object.entries(map)) if (v !== undefined && k !== from) next[k] = v;
  if (to !== undefined && to !== "") next[from] = to;
  return next;
}

const POLICIES: [ConflictPolicy, string][] = [
  ["skip", "Keep the existing item (references point to it)"],
  ["rename", "Create a copy titled “… (restored)”"],
  ["overwrite", "Overwrite the existing item with the snapshot’s"],
];

export interface MappingEditorProps {
  mapping: RestoreMapping;
  onChange: (m: RestoreMapping) => void;
  /** folder rows, edited as a list so a half-typed row does not merge into another */
  folders: [string, string][];
  onFolders: (rows: [string, string][]) => void;
  urlRows: [string, string][];
  onUrlRows: (rows: [string, string][]) => void;
  entries: SnapshotEntry[];
  /** the target's latest scan, for its users and groups; null when it was never scanned */
  target: Graph | null;
}

/** Owners, groups (with Create New), folders, tags, URL find and replace, and the conflict policy. */
export function MappingEditor({ mapping, onChange, folders, onFolders, urlRows, onUrlRows, entries, target }: MappingEditorProps) {
  const users = entries.filter((e) => e.kind === "user");
  const groups = entries.filter((e) => e.kind === "group");
  const targetGroups = target?.groups ?? [];
  return (
    <>
      <datalist id="restore-target-users">
        {target?.users.map((u) => <option key={u.username} value={u.username} />)}
      </datalist>
      <div class="grid2">
        <Field label="When the target already has the item">
          <select
            data-testid="restore-conflict"
            value={mapping.conflict}
            onChange={(e) => onChange({ ...mapping, conflict: e.currentTarget.value as ConflictPolicy })}
          >
            {POLICIES.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Restore as" hint="Copies: every item is created anew beside what exists in the same organization.">
          <select value={mapping.mode} onChange={(e) => onChange({ ...mapping, mode: e.currentTarget.value as RestoreMapping["mode"] })}>
            <option value="auto">Automatic: in place into the same organization, a migration into another</option>
            <option value="copies">Copies beside the existing items</option>
          </select>
        </Field>
      </div>
      <h3>Owners</h3>
      {users.length === 0 ? (
        <p class="muted small">No user in this snapshot.</p>
      ) : (
        <p class="muted small">Leave a target empty to keep the name (or its equivalent in the target organization).</p>
      )}
      <div class="map-rows">
        {users.map((u) => (
          <div class="row" key={u.id}>
            <span class="w12 ellipsis" title={u.id}>
              {u.id}
            </span>
            <span aria-hidden="true">→</span>
            <input
              list="restore-target-users"
              aria-label={`Target owner for ${u.id}`}
              placeholder="same user"
              value={mapping.owners[u.id] ?? ""}
              onInput={(e) => onChange({ ...mapping, owners: withEntry(mapping.owners, u.id, e.currentTarget.value) })}
            />
          </div>
        ))}
      </div>
      <h3>Groups</h3>
      {groups.length === 0 && <p class="muted small">No group in this snapshot.</p>}
      <div class="map-rows">
        {groups.map((g) => {
          const choice = groupChoice(mapping.groups[g.id]);
          const known = choice === DEFAULT || choice === CREATE_NEW || targetGroups.some((t) => EXISTING + t.id === choice);
          return (
            <div class="row" key={g.id}>
              <span class="w12 ellipsis" title={g.title}>
                {g.title}
              </span>
              <span aria-hidden="true">→</span>
              <select
                aria-label={`Target group for ${g.title}`}
                value={choice}
                onChange={(e) => onChange({ ...mapping, groups: withEntry(mapping.groups, g.id, groupTarget(e.currentTarget.value)) })}
              >
                <option value={DEFAULT}>Same title, or a new group</option>
                <option value={CREATE_NEW}>Create New</option>
                {/* A profile may name a group this target's scan does not list: keep it visible. */}
                {!known && <option value={choice}>{choice.slice(EXISTING.length)}</option>}
                {targetGroups.map((t) => (
                  <option key={t.id} value={EXISTING + t.id}>
                    {t.title}
                  </option>
                ))}
              </select>
            </div>
          );
        })}
      </div>
      {groups.length > 0 && !target && <p class="muted small">Scan the target organization to map groups onto its existing groups.</p>}
      <h3>Folders</h3>
      <PairEditor pairs={folders} labels={["Source folder", "Target folder"]} onChange={onFolders} testid="restore-folders" />
      <Field label="Tag every restored item with" hint="Comma-separated">
        <input
          data-testid="restore-tags"
          value={mapping.tags.join(", ")}
          onInput={(e) =>
            onChange({
              ...mapping,
              tags: e.currentTarget.value
                .split(",")
                .map((t) => t.trim())
                .filter(Boolean),
            })
          }
        />
      </Field>
      <h3>Find and replace in URLs</h3>
      <p class="muted small">Applied to every URL and text of item data before OrgVault rewrites ids and service URLs itself.</p>
      <PairEditor pairs={urlRows} labels={["Find", "Replace with"]} onChange={onUrlRows} testid="restore-urls" />
    </>
  );
}

export function PairEditor({
  pairs,
  labels,
  onChange,
  testid,
}: {
  pairs: [string, string][];
  labels: [string, string];
  onChange: (p: [string, string][]) => void;
  testid?: string;
}) {
  return (
    <div data-testid={testid}>
      {pairs.map(([a, b], k) => (
        <div class="row" key={k}>
          <input aria-label={labels[0]} placeholder={labels[0]} value={a} onInput={(e) => onChange(pairs.map((p, n) => (n === k ? [e.currentTarget.value, p[1]] : p)))} />
          <span aria-hidden="true">→</span>
          <input aria-label={labels[1]} placeholder={labels[1]} value={b} onInput={(e) => onChange(pairs.map((p, n) => (n === k ? [p[0], e.currentTarget.value] : p)))} />
          <button type="button" aria-label={`Remove ${labels[0].toLowerCase()} row ${k + 1}`} onClick={() => onChange(pairs.filter((_, n) => n !== k))}>
            <X size={16} aria-hidden="true" />
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...pairs, ["", ""]])}>
        <Plus size={16} aria-hidden="true" /> Add
      </button>
    </div>
  );
}

/** Load, save and delete named mapping profiles. */
export function ProfileBar({
  profiles,
  name,
  onName,
  onLoad,
  onSave,
  onDelete,
}: {
  profiles: MappingProfile[];
  name: string;
  onName: (n: string) => void;
  onLoad: (p: MappingProfile) => void;
  onSave: () => void;
  onDelete: (name: string) => void;
}) {
  const existing = profiles.find((p) => p.name === name.trim());
  const exists = existing !== undefined;
  const [asking, setAsking] = useState<"replace" | "delete" | null>(null);
  const describe = (m: MappingProfile["mapping"]) =>
    `${Object.keys(m.owners).length} owner, ${Object.keys(m.groups).length} group and ${Object.keys(m.folders).length} folder mappings, ${m.url_replacements.length} URL rules, ${m.tags.length} tags`;
  return (
    <div class="row wrap">
      {asking && existing && (
        <Confirm
          title={asking === "replace" ? `Replace the saved mapping “${existing.name}”?` : `Delete the saved mapping “${existing.name}”?`}
          yes={asking === "replace" ? `Replace “${existing.name}”` : `Delete “${existing.name}”`}
          no="Keep it"
          testid="restore-profile-confirm"
          onNo={() => setAsking(null)}
          onYes={() => {
            const what = asking;
            setAsking(null);
            if (what === "replace") onSave();
            else onDelete(existing.name);
          }}
        >
          <p>
            It holds {describe(existing.mapping)}.{" "}
            {asking === "replace" ? "They are replaced by the mapping on screen." : "They are deleted; restores already made are not changed."}
          </p>
        </Confirm>
      )}
      <select
        aria-label="Saved mapping profile"
        data-testid="restore-profile-select"
        value=""
        onChange={(e) => {
          const p = profiles.find((x) => x.name === e.currentTarget.value);
          if (p) {
            onLoad(p);
            onName(p.name);
          }
        }}
      >
        <option value="">{profiles.length ? "Load a saved mapping…" : "No saved mapping yet"}</option>
        {profiles.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
      <input aria-label="Profile name" data-testid="restore-profile-name" placeholder="Profile name" value={name} onInput={(e) => onName(e.currentTarget.value)} />
      <button type="button" data-testid="restore-profile-save" disabled={!name.trim()} onClick={() => (exists ? setAsking("replace") : onSave())}>
        <Save size={16} aria-hidden="true" /> {exists ? "Replace mapping" : "Save mapping"}
      </button>
      {exists && (
        <button type="button" class="danger" aria-label={`Delete the mapping profile ${name.trim()}`} onClick={() => setAsking("delete")}>
          <Trash2 size={16} aria-hidden="true" /> Delete
        </button>
      )}
    </div>
  );
}
