import type { SelectionInput, Tally } from "../backend/backend";
import type { GraphModel, NodeKind } from "../visualizer/model";
import { KIND_CODE } from "../visualizer/model";

/**
 * Which elements go into the next backup. The tally is kept up to date on every change rather than
 * recounted, so a click on one of 50,000 elements costs O(1). Invariant: `tally` always equals the
 * count and item bytes of the `on` flags.
 */
export class Selection {
  readonly on: Uint8Array;
  private counts = [0, 0, 0];
  private bytes = 0;
  version = 0;

  /**
   * `lockFailed`: failed nodes can never be selected (a snapshot's failed subjects have nothing to
   * restore); without it they are selectable and only marked (the backup scans again first).
   */
  constructor(
    readonly model: GraphModel,
    everything = true,
    readonly lockFailed = false,
  ) {
    this.on = new Uint8Array(model.count);
    if (everything) this.setWhere(() => true, true);
  }

  /** Whether node `i` can be selected at all. */
  isSelectable(i: number): boolean {
    return !(this.lockFailed && this.model.failed.has(i));
  }

  isSelected(i: number): boolean {
    return this.on[i] === 1;
  }

  set(i: number, value: boolean): void {
    if (value && !this.isSelectable(i)) return;
    const v = value ? 1 : 0;
    if (this.on[i] === v) return;
    this.on[i] = v;
    const d = value ? 1 : -1;
    this.counts[this.model.kind[i]] += d;
    if (this.model.kind[i] === 0) this.bytes += d * this.model.size[i];
    this.version++;
  }

  toggle(i: number): boolean {
    this.set(i, !this.isSelected(i));
    return this.isSelected(i);
  }

  /** Sets every node for which `pred` holds; returns how many changed. */
  setWhere(pred: (i: number) => boolean, value: boolean): number {
    let changed = 0;
    for (let i = 0; i < this.model.count; i++) {
      if (pred(i) && this.isSelected(i) !== value && (!value || this.isSelectable(i))) {
        this.set(i, value);
        changed++;
      }
    }
    return changed;
  }

  setKind(kind: NodeKind, value: boolean): number {
    const code = KIND_CODE[kind];
    return this.setWhere((i) => this.model.kind[i] === code, value);
  }

  setItemType(itemType: string, value: boolean): number {
    return this.setWhere((i) => this.model.kind[i] === 0 && this.model.type[i] === itemType, value);
  }

  get tally(): Tally {
    return { items: this.counts[0], users: this.counts[1], groups: this.counts[2], bytes: this.bytes };
  }

  isEverything(): boolean {
    const m = this.model;
    return this.counts[0] + this.counts[1] + this.counts[2] === m.count;
  }

  /** How many selected nodes are marked failed. */
  selectedFailed(): number {
    let n = 0;
    for (const i of this.model.failed.keys()) if (this.on[i]) n++;
    return n;
  }

  toInput(): SelectionInput {
    if (this.isEverything()) return { everything: true, item_ids: [], usernames: [], group_ids: [] };
    const out: SelectionInput = { everything: false, item_ids: [], usernames: [], group_ids: [] };
    const lists = [out.item_ids, out.usernames, out.group_ids];
    for (let i = 0; i < this.model.count; i++) if (this.on[i]) lists[this.model.kind[i]].push(this.model.key[i]);
    return out;
  }
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];
/** Sizes in binary units; `digits` decimals above the byte range (one below ten by default). */
export function formatBytes(n: number, digits?: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(digits ?? (v < 10 ? 1 : 0))} ${UNITS[u]}`;
}
