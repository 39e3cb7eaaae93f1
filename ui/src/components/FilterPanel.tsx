import { Check, Pencil, Plus, Trash2, X } from "lucide-preact";
import { useMemo, useState } from "preact/hooks";
import { FILTER_FIELDS, OP_LABEL, type FilterRule, type FilterSet } from "../state/filters";
import { QuickFilters } from "../state/quickFilters";
import type { NodeKind } from "../visualizer/model";

function memoryStore() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

function newRule(target: NodeKind = "item"): FilterRule {
  const f = FILTER_FIELDS[target][0];
  return { target, field: f.field, op: f.ops[0], value: "" };
}

/** Filter rules joined by ALL or ANY, the actions on their matches, and the saved quick filters. */
export function FilterPanel({
  filter,
  onChange,
  matchCount,
  onSelectMatches,
}: {
  filter: FilterSet;
  onChange: (f: FilterSet) => void;
  matchCount: number;
  onSelectMatches: (mode: "select" | "deselect" | "only") => void;
}) {
  const quick = useMemo(() => new QuickFilters(typeof localStorage !== "undefined" ? localStorage : memoryStore()), []);
  const [saved, setSaved] = useState(quick.list());
  const [saveName, setSaveName] = useState("");
  const [editing, setEditing] = useState<{ from: string; to: string } | null>(null);
  const [qfError, setQfError] = useState<string | null>(null);

  const setRule = (k: number, r: FilterRule) => onChange({ ...filter, rules: filter.rules.map((x, n) => (n === k ? r : x)) });
  const act = (fn: () => void) => {
    setQfError(null);
    try {
      fn();
      setSaved(quick.list());
    } catch (e) {
      setQfError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section class="panel filters" aria-label="Filters">
      <div class="row spread">
        <h2>Filters</h2>
        <fieldset class="row inline" aria-label="Combine rules">
          <label class="radio">
            <input type="radio" name="combine" checked={filter.combine === "all"} onChange={() => onChange({ ...filter, combine: "all" })} />
            Match ALL
          </label>
          <label class="radio">
            <input type="radio" name="combine" checked={filter.combine === "any"} onChange={() => onChange({ ...filter, combine: "any" })} />
            Match ANY
          </label>
        </fieldset>
      </div>
      {filter.rules.map((r, k) => {
        const fields = FILTER_FIELDS[r.target];
        const spec = fields.find((f) => f.field === r.field) ?? fields[0];
        return (
          <div class="rule row" key={k} data-testid="filter-rule">
            <select aria-label="Element kind" value={r.target} onChange={(e) => setRule(k, { ...newRule(e.currentTarget.value as NodeKind), value: r.value })}>
              <option value="item">Item</option>
              <option value="user">User</option>
              <option value="group">Group</option>
            </select>
            <select
              aria-label="Field"
              value={r.field}
              onChange={(e) => {
                const f = fields.find((x) => x.field === e.currentTarget.value) ?? fields[0];
                setRule(k, { ...r, field: f.field, op: f.ops.includes(r.op) ? r.op : f.ops[0] });
              }}
            >
              {fields.map((f) => (
                <option value={f.field} key={f.field}>
                  {f.label}
                </option>
              ))}
            </select>
            <select aria-label="Operator" value={r.op} onChange={(e) => setRule(k, { ...r, op: e.currentTarget.value as FilterRule["op"] })}>
              {spec.ops.map((o) => (
                <option value={o} key={o}>
                  {OP_LABEL[o]}
                </option>
              ))}
            </select>
            <input
              aria-label="Value"
              placeholder={r.op === "member_of" ? "group title or id" : "value"}
              value={r.value}
              data-testid="filter-value"
              onInput={(e) => setRule(k, { ...r, value: e.currentTarget.value })}
            />
            <button type="button" aria-label="Remove rule" onClick={() => onChange({ ...filter, rules: filter.rules.filter((_, n) => n !== k) })}>
              <X size={16} aria-hidden="true" />
            </button>
          </div>
        );
      })}
      <div class="row">
        <button type="button" data-testid="filter-add" onClick={() => onChange({ ...filter, rules: [...filter.rules, newRule()] })}>
          <Plus size={16} aria-hidden="true" /> Add rule
        </button>
        <span class="muted small" data-testid="filter-matches" aria-live="polite">
          {filter.rules.length > 0 ? `${matchCount} match` : "No filter"}
        </span>
      </div>
      {filter.rules.length > 0 && (
        <div class="row">
          <button type="button" data-testid="filter-select" onClick={() => onSelectMatches("select")}>
            Select matches
          </button>
          <button type="button" data-testid="filter-deselect" onClick={() => onSelectMatches("deselect")}>
            Leave out matches
          </button>
          <button type="button" data-testid="filter-only" onClick={() => onSelectMatches("only")}>
            Select only matches
          </button>
        </div>
      )}
      <h3>Quick filters</h3>
      <ul class="quick" aria-label="Quick filters">
        {saved.map((q) => (
          <li key={q.name} class="row">
            {editing?.from === q.name ? (
              <>
                <input aria-label="New name" value={editing.to} onInput={(e) => setEditing({ ...editing, to: e.currentTarget.value })} />
                <button type="button" aria-label="Save name and rules" onClick={() => act(() => (quick.edit(q.name, editing.to, filter), setEditing(null)))}>
                  <Check size={16} aria-hidden="true" />
                </button>
                <button type="button" aria-label="Stop editing" onClick={() => setEditing(null)}>
                  <X size={16} aria-hidden="true" />
                </button>
              </>
            ) : (
              <>
                <button type="button" class="link grow" onClick={() => onChange(structuredClone(q.filter))}>
                  {q.name}
                </button>
                <button type="button" aria-label={`Edit ${q.name} (takes the current rules)`} onClick={() => setEditing({ from: q.name, to: q.name })}>
                  <Pencil size={16} aria-hidden="true" />
                </button>
                <button type="button" aria-label={`Delete ${q.name}`} onClick={() => act(() => quick.remove(q.name))}>
                  <Trash2 size={16} aria-hidden="true" />
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          act(() => (quick.save(saveName, filter), setSaveName("")));
        }}
      >
        <input aria-label="Quick filter name" placeholder="Save these rules as…" value={saveName} onInput={(e) => setSaveName(e.currentTarget.value)} />
        <button type="submit" disabled={filter.rules.length === 0}>
          Save
        </button>
      </form>
      {qfError && (
        <div class="error" role="alert">
          {qfError}
        </div>
      )}
    </section>
  );
}
