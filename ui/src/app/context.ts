import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Backend, IdentityView } from "../backend/backend";
import { JobsStore } from "../state/jobs";
import { Store } from "../state/store";
import type { Workspace } from "./workspace";

export type ScreenName = "identities" | "scan" | "backup" | "snapshots" | "restore" | "schedules" | "jobs" | "settings";

/** Everything the screens share; one instance per window. */
export interface AppContext {
  backend: Backend;
  jobs: JobsStore;
  identities: Store<IdentityView[]>;
  /** the organization the screens work on */
  current: Store<string | null>;
  screen: Store<ScreenName>;
  /** the loaded scan graph, layout and selection of the current organization */
  workspace: Store<Workspace | null>;
  /** bumped on every selection change, so tallies re-render without copying 50,000 flags */
  selectionTick: Store<number>;
  backupName: Store<string>;
}

export function createAppContext(backend: Backend): AppContext {
  return {
    backend,
    jobs: new JobsStore(),
    identities: new Store<IdentityView[]>([]),
    current: new Store<string | null>(null),
    screen: new Store<ScreenName>("identities"),
    workspace: new Store<Workspace | null>(null),
    selectionTick: new Store(0),
    backupName: new Store(defaultBackupName(new Date())),
  };
}

export function defaultBackupName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `Backup ${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const c = useContext(Ctx);
  if (!c) throw new Error("useApp outside the app");
  return c;
}
