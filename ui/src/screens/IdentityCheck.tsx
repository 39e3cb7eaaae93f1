import { RefreshCw } from "lucide-preact";
import { useState } from "preact/hooks";
import type { Finding, IdentityCheck, UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";
import { useApp } from "../app/context";
import { formatTime } from "../components/common";

/** What each finding of the token watch means, in the words of the Identities screen. */
export const FINDING_WORDS: Record<Finding, string> = {
  ok: "Sign-in works",
  password_rejected: "Password rejected",
  token_revoked: "Sign-in revoked",
  token_expiring: "Sign-in about to expire",
  not_admin: "No longer an administrator",
  unreachable: "Portal unreachable (checked again later)",
  needs_browser_sign_in: "Sign in again in the browser",
};

/**
 * The last check of one identity's credentials (the token watch: at start, before each scheduled
 * run and every few hours), with its time, and a button to check now.
 */
export function IdentityCheckLine(props: {
  identityId: string;
  check: IdentityCheck | undefined;
  onChecked: (c: IdentityCheck) => void;
}) {
  const app = useApp();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const { check } = props;
  const warn = check !== undefined && check.finding !== "ok" && check.finding !== "unreachable";
  const checkNow = async () => {
    setBusy(true);
    setError(null);
    try {
      props.onChecked(await app.backend.checkIdentity(props.identityId));
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="row small" data-testid="identity-check">
      <span class={`badge finding-${check?.finding ?? "none"} ${warn ? "warn" : ""}`} data-testid="identity-check-finding">
        {check ? FINDING_WORDS[check.finding] : "Not checked yet"}
      </span>
      {check && (
        <span class="muted" data-testid="identity-check-time">
          checked {formatTime(check.checked_ms)}
          {check.expires_ms !== null && ` · expires ${formatTime(check.expires_ms)}`}
        </span>
      )}
      {check?.detail && check.finding !== "ok" && <span class="muted">{check.detail}</span>}
      {check?.mail_error && <span class="muted">E-mail not sent: {check.mail_error}</span>}
      {error && <span class="error">{error.message}</span>}
      <button type="button" disabled={busy} onClick={checkNow} data-testid="identity-check-now">
        <RefreshCw size={14} aria-hidden="true" /> Check now
      </button>
    </div>
  );
}
