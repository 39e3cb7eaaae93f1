import { Plus, X } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { AppInfo, Settings, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, Notice } from "../components/common";
import { SmtpSection } from "./SmtpSettings";

/** What an action ended with (an error or a message), shown beside the part of the screen it belongs to. */
function useOutcome() {
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = async (fn: () => Promise<string>) => {
    setError(null);
    setDone(null);
    try {
      setDone(await fn());
    } catch (e) {
      setError(toUiError(e));
    }
  };
  return { error, done, run, setError };
}

export function SettingsScreen() {
  const app = useApp();
  const [s, setS] = useState<Settings | null>(null);
  const [info, setInfo] = useState<AppInfo | null>(null);
  const { error, done: saved, run, setError } = useOutcome();
  // The support section's own outcome, shown in the section: the top of the screen is out of view there.
  const support = useOutcome();
  const [bundlePath, setBundlePath] = useState("");

  useEffect(() => {
    app.backend.getSettings().then(setS, (e) => setError(toUiError(e)));
    app.backend.appInfo().then(setInfo, (e) => setError(toUiError(e)));
  }, []);

  return (
    <section data-testid="screen-settings" class="screen" aria-labelledby="settings-title">
      <header class="screen-head">
        <h1 id="settings-title">Settings</h1>
      </header>
      <ErrorNote error={error} />
      {saved && <Notice>{saved}</Notice>}
      {s && (
        <form
          class="panel form"
          onSubmit={(e) => {
            e.preventDefault();
            run(async () => {
              await app.backend.saveSettings({ ...s, headers: s.headers.filter((h) => h.name.trim()) });
              // Values are write-only: what was typed is not kept on screen.
              setS({ ...s, headers: s.headers.filter((h) => h.name.trim()).map((h) => ({ name: h.name, value: null })) });
              return "Settings saved.";
            });
          }}
        >
          <Field label="Log level" hint="Debug and trace help support; they never contain passwords or tokens.">
            <select value={s.log_level} onChange={(e) => setS({ ...s, log_level: e.currentTarget.value })} data-testid="settings-log-level">
              {["error", "warn", "info", "debug", "trace"].map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Keep log files for (days)" hint="Older daily log files in the data folder are removed at start and when you save.">
            <input
              type="number"
              min={1}
              max={3650}
              value={s.log_keep_days}
              onInput={(e) => setS({ ...s, log_keep_days: Number(e.currentTarget.value) })}
              data-testid="settings-log-keep-days"
            />
          </Field>
          <fieldset>
            <legend>Custom request headers</legend>
            <p class="small muted">
              Sent with every request to the portal, e.g. for a web application firewall. Values are kept in the encrypted vault and never shown again; leave a value empty to
              keep the saved one.
            </p>
            {s.headers.map((h, n) => (
              <div class="row" key={n}>
                <input aria-label="Header name" value={h.name} onInput={(e) => setS({ ...s, headers: s.headers.map((x, i) => (i === n ? { ...x, name: e.currentTarget.value } : x)) })} />
                <input
                  type="password"
                  autocomplete="off"
                  aria-label="Header value"
                  placeholder={h.value === null ? "saved (type to replace)" : ""}
                  value={h.value ?? ""}
                  onInput={(e) => setS({ ...s, headers: s.headers.map((x, i) => (i === n ? { ...x, value: e.currentTarget.value } : x)) })}
                />
                <button type="button" aria-label="Remove header" onClick={() => setS({ ...s, headers: s.headers.filter((_, i) => i !== n) })}>
                  <X size={16} aria-hidden="true" />
                </button>
              </div>
            ))}
            <button type="button" onClick={() => setS({ ...s, headers: [...s.headers, { name: "", value: "" }] })}>
              <Plus size={16} aria-hidden="true" /> Add header
            </button>
          </fieldset>
          <label class="inline-field">
            <input type="checkbox" checked={s.start_at_login} onChange={(e) => setS({ ...s, start_at_login: e.currentTarget.checked })} data-testid="settings-start-at-login" />
            <span>Start OrgVault at login, in the tray, so schedules run without opening the window</span>
          </label>
          <Field label="Data folder" hint="Catalog, job history, logs and the vault live here.">
            <input value={s.data_dir} onInput={(e) => setS({ ...s, data_dir: e.currentTarget.value })} data-testid="settings-data-dir" />
          </Field>
          <button type="submit" class="primary" data-testid="settings-save">
            Save settings
          </button>
        </form>
      )}
      <SmtpSection />
      <section class="panel" aria-label="Support">
        <h2>Support logs</h2>
        <p class="small muted">A zip of the recent logs and the configuration, with every password, token and connection string removed.</p>
        <div class="row">
          <input class="grow" aria-label="Save the zip as" placeholder="Leave empty for the data folder" value={bundlePath} onInput={(e) => setBundlePath(e.currentTarget.value)} data-testid="support-path" />
          <button
            type="button"
            data-testid="support-choose"
            onClick={() =>
              support.run(async () => {
                const chosen = await app.backend.pickSavePath("orgvault-support.zip");
                if (chosen) setBundlePath(chosen);
                return chosen ? `The zip will be saved as ${chosen}.` : "No file chosen.";
              })
            }
          >
            Choose…
          </button>
          <button type="button" data-testid="support-export" onClick={() => support.run(async () => `Support logs written to ${await app.backend.exportSupportBundle(bundlePath)}.`)}>
            Export support logs
          </button>
        </div>
        <ErrorNote error={support.error} />
        {support.done && <Notice>{support.done}</Notice>}
      </section>
      <section class="panel" aria-label="About">
        <h2>About</h2>
        {info && (
          <dl class="about">
            <dt>Version</dt>
            <dd data-testid="about-version">{info.version}</dd>
            <dt>Data folder</dt>
            <dd>{info.data_dir}</dd>
            <dt>Demo organizations</dt>
            <dd>{info.demo_running ? "Running" : "Off"}</dd>
          </dl>
        )}
        <p class="small muted">OrgVault backs up and restores ArcGIS Online and ArcGIS Enterprise organizations. Works offline; nothing is loaded from the internet.</p>
      </section>
    </section>
  );
}
