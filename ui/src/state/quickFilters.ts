import type { FilterSet } from "./filters";

/** A named filter the admin saved for reuse. Names are unique, compared without case. */
export interface QuickFilter {
  name: string;
  filter: FilterSet;
}

/** The slice of `Storage` we use, so tests can pass a map-backed fake. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export class QuickFilterError extends Error {}

const KEY = "orgvault.quickFilters";

/**
 * Saved quick filters, persisted in localStorage and always listed alphabetically. Renaming edits
 * the entry in place (same position in the sorted list as its new name dictates, nothing duplicated).
 */
export class QuickFilters {
  private entries: QuickFilter[];

  constructor(private readonly store: KeyValueStore) {
    this.entries = QuickFilters.parse(store.getItem(KEY));
  }

  private static parse(raw: string | null): QuickFilter[] {
    if (!raw) return [];
    try {
      const v = JSON.parse(raw) as unknown;
      if (!Array.isArray(v)) return [];
      return v.filter((q): q is QuickFilter => !!q && typeof q.name === "string" && !!q.filter && Array.isArray(q.filter.rules));
    } catch {
      // A damaged entry must not stop the visualizer from opening; start over instead.
      return [];
    }
  }

  list(): QuickFilter[] {
    return [...this.entries].sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" }));
  }

  private find(name: string): number {
    const n = name.trim().toLowerCase();
    return this.entries.findIndex((q) => q.name.toLowerCase() === n);
  }

  /** Adds a filter, or replaces the one with the same name. */
  save(name: string, filter: FilterSet): void {
    const clean = name.trim();
    if (!clean) throw new QuickFilterError("Give the quick filter a name.");
    const at = this.find(clean);
    const entry = { name: clean, filter: structuredClone(filter) };
    if (at >= 0) this.entries[at] = entry;
    else this.entries.push(entry);
    this.persist();
  }

  /** Edit in place: a new name and/or a new filter for an existing entry. */
  edit(oldName: string, newName: string, filter?: FilterSet): void {
    const at = this.find(oldName);
    if (at < 0) throw new QuickFilterError(`There is no quick filter named ${oldName}.`);
    const clean = newName.trim();
    if (!clean) throw new QuickFilterError("Give the quick filter a name.");
    const clash = this.find(clean);
    if (clash >= 0 && clash !== at) throw new QuickFilterError(`A quick filter named ${clean} already exists.`);
    this.entries[at] = { name: clean, filter: filter ? structuredClone(filter) : this.entries[at].filter };
    this.persist();
  }

  remove(name: string): void {
    const at = this.find(name);
    if (at >= 0) this.entries.splice(at, 1);
    this.persist();
  }

  private persist(): void {
    this.store.setItem(KEY, JSON.stringify(this.entries));
  }
}
