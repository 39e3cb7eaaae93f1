import { Archive, Briefcase, CalendarClock, DatabaseBackup, History, KeyRound, Network, RotateCcw, Settings as Cog, type LucideIcon } from "lucide-preact";
import type { ComponentType } from "preact";
import { BackupScreen } from "../screens/Backup";
import { IdentitiesScreen } from "../screens/Identities";
import { JobsScreen } from "../screens/Jobs";
import { RestoreScreen } from "../screens/Restore";
import { SchedulesScreen } from "../screens/Schedules";
import { ScanScreen } from "../screens/Scan";
import { SettingsScreen } from "../screens/Settings";
import { SnapshotsScreen } from "../screens/Snapshots";
import { useStore } from "../state/store";
import { type ScreenName, useApp } from "./context";

const SCREENS: { name: ScreenName; label: string; icon: LucideIcon; view: ComponentType }[] = [
  { name: "identities", label: "Identities", icon: KeyRound, view: IdentitiesScreen },
  { name: "scan", label: "Scan", icon: Network, view: ScanScreen },
  { name: "backup", label: "Backup", icon: DatabaseBackup, view: BackupScreen },
  { name: "snapshots", label: "Snapshots", icon: Archive, view: SnapshotsScreen },
  { name: "restore", label: "Restore", icon: RotateCcw, view: RestoreScreen },
  { name: "schedules", label: "Schedules", icon: CalendarClock, view: SchedulesScreen },
  { name: "jobs", label: "Jobs", icon: History, view: JobsScreen },
  { name: "settings", label: "Settings", icon: Cog, view: SettingsScreen },
];

export function App() {
  const app = useApp();
  const screen = useStore(app.screen);
  const identities = useStore(app.identities);
  const current = useStore(app.current);
  const jobs = useStore(app.jobs);
  const running = Object.values(jobs).filter((j) => j.state === "running").length;
  const View = SCREENS.find((s) => s.name === screen)?.view ?? IdentitiesScreen;
  return (
    <div class="shell">
      <nav class="nav" aria-label="Screens">
        <div class="brand">
          <Briefcase size={18} aria-hidden="true" /> OrgVault
        </div>
        {SCREENS.map(({ name, label, icon: Icon }) => (
          <button
            type="button"
            key={name}
            class="nav-btn"
            data-testid={`nav-${name}`}
            aria-current={screen === name ? "page" : undefined}
            onClick={() => app.screen.set(name)}
          >
            <Icon size={18} aria-hidden="true" />
            <span>{label}</span>
          </button>
        ))}
        <div class="nav-foot">
          {identities.length > 0 && (
            <label class="field">
              <span class="field-label">Organization</span>
              <select value={current ?? ""} onChange={(e) => app.current.set(e.currentTarget.value || null)} data-testid="current-identity">
                {identities.map((i) => (
                  <option key={i.id} value={i.id}>
                    {i.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          {running > 0 && (
            <span class="badge state-running" role="status">
              {running} job{running > 1 ? "s" : ""} running
            </span>
          )}
        </div>
      </nav>
      <main class="main">
        <View />
      </main>
    </div>
  );
}
