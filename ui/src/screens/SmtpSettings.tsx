import { Mail } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { SmtpSettings, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, Notice } from "../components/common";

const EMPTY: SmtpSettings = { host: "", port: 587, security: "starttls", username: null, from: "" };

/**
 * Settings' e-mail section: the SMTP server results and warnings are sent through. The password
 * goes to the vault and never comes back: the field says only whether one is saved, and an empty
 * field keeps it.
 */
export function SmtpSection() {
  const app = useApp();
  const [s, setS] = useState<SmtpSettings>(EMPTY);
  const [hasPassword, setHasPassword] = useState(false);
  const [password, setPassword] = useState("");
  const [to, setTo] = useState("");
  const [error, setError] = useState<UiError | null>(null);
  const [said, setSaid] = useState<string | null>(null);

  useEffect(() => {
    app.backend.getSmtpSettings().then(
      (v) => {
        if (v) {
          setS(v.settings);
          setHasPassword(v.has_password);
        }
      },
      (e) => setError(toUiError(e)),
    );
  }, []);

  const run = async (fn: () => Promise<string>) => {
    setError(null);
    setSaid(null);
    try {
      setSaid(await fn());
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const save = async () => {
    const settings = { ...s, username: s.username?.trim() ? s.username.trim() : null };
    await app.backend.saveSmtpSettings({ settings, password: password || null });
    setHasPassword(settings.username !== null && (hasPassword || password !== ""));
    setPassword("");
    return "E-mail settings saved.";
  };

  return (
    <form
      class="panel form"
      aria-labelledby="smtp-title"
      data-testid="smtp-settings"
      onSubmit={(e) => {
        e.preventDefault();
        run(save);
      }}
    >
      <h2 id="smtp-title">
        <Mail size={18} aria-hidden="true" /> E-mail (SMTP)
      </h2>
      <p class="small muted">Scheduled results and credential warnings are e-mailed through this server. No password, token or connection string is ever in a message.</p>
      <ErrorNote error={error} testid="smtp-error" />
      {said && <Notice testid="smtp-notice">{said}</Notice>}
      <div class="row wrap">
        <Field label="Server">
          <input value={s.host} onInput={(e) => setS({ ...s, host: e.currentTarget.value })} data-testid="smtp-host" placeholder="smtp.example.org" />
        </Field>
        <Field label="Port">
          <input type="number" min={1} max={65535} value={s.port} onInput={(e) => setS({ ...s, port: Number(e.currentTarget.value) })} data-testid="smtp-port" style="width: 7em" />
        </Field>
        <Field label="Security">
          <select value={s.security} onChange={(e) => setS({ ...s, security: e.currentTarget.value as SmtpSettings["security"] })} data-testid="smtp-security">
            <option value="starttls">STARTTLS (587)</option>
            <option value="tls">TLS (465)</option>
            <option value="none">None (a relay on this network)</option>
          </select>
        </Field>
      </div>
      <div class="row wrap">
        <Field label="Username" hint="Empty: the server takes mail without signing in.">
          <input value={s.username ?? ""} onInput={(e) => setS({ ...s, username: e.currentTarget.value })} data-testid="smtp-username" autocomplete="off" />
        </Field>
        <Field label="Password" hint="Kept in the encrypted vault; never shown again.">
          <input
            type="password"
            autocomplete="off"
            value={password}
            placeholder={hasPassword ? "saved (type to replace)" : ""}
            onInput={(e) => setPassword(e.currentTarget.value)}
            data-testid="smtp-password"
          />
        </Field>
      </div>
      <Field label="From" hint={'e.g. "OrgVault <orgvault@example.org>"'}>
        <input value={s.from} onInput={(e) => setS({ ...s, from: e.currentTarget.value })} data-testid="smtp-from" />
      </Field>
      <div class="row wrap">
        <button type="submit" class="primary" data-testid="smtp-save">
          Save e-mail settings
        </button>
        <input aria-label="Send a test e-mail to" placeholder="you@example.org" value={to} onInput={(e) => setTo(e.currentTarget.value)} data-testid="smtp-test-to" />
        <button
          type="button"
          data-testid="smtp-test"
          onClick={() =>
            run(async () => {
              await save();
              await app.backend.sendTestEmail(to.trim());
              return `Test e-mail sent to ${to.trim()}.`;
            })
          }
        >
          Send test e-mail
        </button>
      </div>
    </form>
  );
}
