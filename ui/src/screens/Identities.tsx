import { Building2, Cloud, Pencil, Plus, Trash2 } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import type { IdentityCheck, IdentityInput, IdentitySaved, IdentityView, PortalKind, StorageCheck, UiError } from "../backend/backend";
import { toUiError, withScheme } from "../backend/backend";
import { useApp } from "../app/context";
import { ErrorNote, Field, Notice, storageText } from "../components/common";
import { useStore } from "../state/store";
import { IdentityCheckLine } from "./IdentityCheck";

const TOKEN_WORDS: Record<string, string> = {
  valid: "Signed in",
  expiring: "Sign-in expires soon",
  expired: "Sign-in expired",
  none: "Not signed in",
};

interface Draft {
  id: string | null;
  kind: PortalKind;
  name: string;
  portal_url: string;
  sign_in: "builtin" | "oauth";
  username: string;
  password: string;
  app_id: string;
  allow_insecure_http: boolean;
  storageKind: "local" | "azure" | "s3";
  path: string;
  connection_string: string;
  container: string;
  cache_dir: string;
  s3_url: string;
  s3_access_key_id: string;
  s3_secret_access_key: string;
  /** A new identity's repository is created encrypted with this password (kept in the vault). */
  encrypt: boolean;
  repo_password: string;
  repo_password_again: string;
}

/** The shell names its demo identities so; it finds them again by these names on the next start. */
export const DEMO_NAMES = ["Demo organization A", "Demo organization B"];

function blankDraft(kind: PortalKind): Draft {
  return {
    id: null,
    kind,
    name: "",
    portal_url: "",
    sign_in: kind === "online" ? "oauth" : "builtin",
    username: "",
    password: "",
    app_id: "",
    allow_insecure_http: false,
    storageKind: "local",
    path: "",
    connection_string: "",
    container: "",
    cache_dir: "",
    s3_url: "",
    s3_access_key_id: "",
    s3_secret_access_key: "",
    encrypt: true,
    repo_password: "",
    repo_password_again: "",
  };
}

function draftOf(v: IdentityView): Draft {
  return {
    ...blankDraft(v.kind),
    id: v.id,
    name: v.name,
    portal_url: v.portal_url,
    sign_in: v.sign_in,
    username: v.username,
    allow_insecure_http: v.allow_insecure_http,
    storageKind: v.storage.kind,
    path: v.storage.kind === "local" ? v.storage.path : "",
    container: v.storage.kind === "azure" ? v.storage.container : "",
    cache_dir: v.storage.kind === "local" ? "" : v.storage.cache_dir,
    s3_url: v.storage.kind === "s3" ? v.storage.url : "",
    s3_access_key_id: v.storage.kind === "s3" ? v.storage.access_key_id : "",
  };
}

function storageOf(d: Draft): IdentityInput["storage"] {
  switch (d.storageKind) {
    case "local":
      return { kind: "local", path: d.path };
    case "azure":
      return { kind: "azure", connection_string: d.connection_string, container: d.container, cache_dir: d.cache_dir };
    case "s3":
      return { kind: "s3", url: d.s3_url, access_key_id: d.s3_access_key_id, secret_access_key: d.s3_secret_access_key, cache_dir: d.cache_dir };
  }
}


export function IdentitiesScreen() {
  const app = useApp();
  const identities = useStore(app.identities);
  const current = useStore(app.current);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [demoRunning, setDemoRunning] = useState<boolean | null>(null);
  const [checks, setChecks] = useState<Record<string, IdentityCheck>>({});
  const keepCheck = (c: IdentityCheck) => setChecks((all) => ({ ...all, [c.identity_id]: c }));

  // The demo organizations live in the app's process: after a restart their identities remain
  // but point at a simulator that is gone until the demo is started again.
  useEffect(() => {
    app.backend.identityChecks().then(
      (list) => setChecks(Object.fromEntries(list.map((c) => [c.identity_id, c]))),
      () => setChecks({}),
    );
    app.backend.appInfo().then(
      (info) => setDemoRunning(info.demo_running),
      () => setDemoRunning(null),
    );
  }, []);
  const demoStopped = demoRunning === false && identities.some((i) => DEMO_NAMES.includes(i.name));

  const refresh = async () => {
    const list = await app.backend.listIdentities();
    app.identities.set(list);
    if (!app.current.get() && list.length > 0) app.current.set(list[0].id);
  };

  const startDemo = async () => {
    setBusy(true);
    setError(null);
    try {
      await app.backend.startDemo();
      setDemoRunning(true);
      // The demo answers its own two identities; the list shows every configured one.
      const list = await app.backend.listIdentities();
      app.identities.set(list);
      if (!list.some((i) => i.id === app.current.get())) app.current.set(list[0]?.id ?? null);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (v: IdentityView) => {
    if (!confirm(`Remove ${v.name}? Its backups stay where they are.`)) return;
    try {
      await app.backend.removeIdentity(v.id);
      if (app.current.get() === v.id) app.current.set(null);
      await refresh();
    } catch (e) {
      setError(toUiError(e));
    }
  };

  return (
    <section data-testid="screen-identities" class="screen" aria-labelledby="identities-title">
      <header class="screen-head">
        <h1 id="identities-title">Identities</h1>
        <div class="row">
          <button type="button" data-testid="identity-add-online" onClick={() => setDraft(blankDraft("online"))}>
            <Plus size={16} aria-hidden="true" /> ArcGIS Online
          </button>
          <button type="button" data-testid="identity-add-enterprise" onClick={() => setDraft(blankDraft("enterprise"))}>
            <Plus size={16} aria-hidden="true" /> ArcGIS Enterprise
          </button>
        </div>
      </header>
      <ErrorNote error={draft ? null : error} />
      {identities.length === 0 && !draft && (
        <div class="empty">
          <p>No organization is configured yet. Add one, or try OrgVault on a built-in demo organization first.</p>
          <button type="button" class="primary" data-testid="demo-start" disabled={busy} onClick={startDemo}>
            Try the demo organization
          </button>
        </div>
      )}
      {demoStopped && !draft && (
        <div class="notice row spread" role="status">
          <span>The demo organizations stopped when OrgVault last quit; start them again to scan or back them up.</span>
          <button type="button" data-testid="demo-start" disabled={busy} onClick={startDemo}>
            Start the demo organizations
          </button>
        </div>
      )}
      <ul class="cards" aria-label="Configured organizations">
        {identities.map((v) => (
          <li class={`card ${v.id === current ? "current" : ""}`} key={v.id} data-testid={`identity-${v.id}`}>
            <div class="row spread">
              <strong>
                {v.kind === "online" ? <Cloud size={16} aria-hidden="true" /> : <Building2 size={16} aria-hidden="true" />}{" "}
                {v.name}
              </strong>
              <span class={`badge token-${v.token}`} data-testid="token-state">
                {TOKEN_WORDS[v.token]}
              </span>
            </div>
            <div class="muted small">{v.portal_url}</div>
            <div class="muted small">
              {v.sign_in === "oauth" ? "OAuth2 App ID" : "Built-in account"} · {v.username || "—"} ·{" "}
              {storageText(v)}
            </div>
            <IdentityCheckLine identityId={v.id} check={checks[v.id]} onChecked={keepCheck} />
            <div class="row">
              <button type="button" onClick={() => app.current.set(v.id)} aria-pressed={v.id === current}>
                {v.id === current ? "Working on this one" : "Work on this one"}
              </button>
              <button type="button" onClick={() => setDraft(draftOf(v))} aria-label={`Edit ${v.name}`}>
                <Pencil size={16} aria-hidden="true" /> Edit
              </button>
              <button type="button" class="danger" onClick={() => remove(v)} aria-label={`Remove ${v.name}`}>
                <Trash2 size={16} aria-hidden="true" /> Remove
              </button>
            </div>
          </li>
        ))}
      </ul>
      {draft && (
        <IdentityForm
          draft={draft}
          onCancel={() => setDraft(null)}
          onSaved={async (v) => {
            setDraft(null);
            await refresh();
            app.current.set(v.id);
          }}
        />
      )}
    </section>
  );
}

function IdentityForm({ draft: initial, onCancel, onSaved }: { draft: Draft; onCancel: () => void; onSaved: (v: IdentityView) => void }) {
  const app = useApp();
  const [d, setD] = useState(initial);
  const [error, setError] = useState<UiError | null>(null);
  const [check, setCheck] = useState<StorageCheck | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<IdentitySaved | null>(null);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((old) => ({ ...old, [k]: v }));
  const text = (k: keyof Draft) => (e: Event) => set(k, (e.currentTarget as HTMLInputElement).value as never);

  const checkStorage = async () => {
    setCheck(null);
    try {
      setCheck(await app.backend.checkStorage(storageOf(d), d.id));
    } catch (e) {
      setError(toUiError(e));
    }
  };

  // The local cache folder of a cloud storage, with a picker; the storage check tests it too.
  const cacheField = (testid: string) => (
    <Field label="Local cache folder" hint="Files wait here before upload; the check makes it if it is missing.">
      <span class="row">
        <input class="grow" value={d.cache_dir} onInput={text("cache_dir")} data-testid={testid} />
        <button
          type="button"
          data-testid={`${testid}-choose`}
          onClick={() => app.backend.pickFolder().then((p) => p && set("cache_dir", p), (e) => setError(toUiError(e)))}
        >
          Choose…
        </button>
      </span>
    </Field>
  );

  const encrypting = d.id === null && d.encrypt;
  const save = async (e: Event) => {
    e.preventDefault();
    if (encrypting && d.repo_password !== d.repo_password_again) {
      setError({ code: "invalid_input", message: "The two repository passwords differ." });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const done = await app.backend.saveIdentity({
        id: d.id,
        name: d.name,
        portal_url: withScheme(d.portal_url),
        kind: d.kind,
        sign_in: d.sign_in,
        username: d.username,
        password: d.sign_in === "builtin" && d.password ? d.password : null,
        app_id: d.sign_in === "oauth" ? d.app_id : null,
        storage: storageOf(d),
        allow_insecure_http: d.allow_insecure_http,
        repository_password: encrypting ? d.repo_password : null,
      });
      if (done.recovery_key) setSaved(done);
      else onSaved(done.identity);
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(false);
    }
  };

  if (saved?.recovery_key) {
    return <RecoveryKey saved={saved} onDone={() => onSaved(saved.identity)} />;
  }

  return (
    <form class="panel form" onSubmit={save} aria-label="Organization identity">
      <h2>{d.id ? `Edit ${initial.name}` : d.kind === "online" ? "Add an ArcGIS Online organization" : "Add an ArcGIS Enterprise organization"}</h2>
      <Field label="Organization name" hint="The name your backups are filed under.">
        <input required value={d.name} onInput={text("name")} data-testid="identity-name" />
      </Field>
      <Field label="URL" hint={d.kind === "online" ? "e.g. myorg.maps.arcgis.com" : "e.g. gis.example.com/portal"}>
        <input required value={d.portal_url} onInput={text("portal_url")} data-testid="identity-url" />
      </Field>
      {/^http:\/\//i.test(d.portal_url.trim()) && (
        <label class="radio">
          <input
            type="checkbox"
            checked={d.allow_insecure_http}
            onChange={(e) => set("allow_insecure_http", e.currentTarget.checked)}
            data-testid="identity-allow-http"
          />{" "}
          Accept plain http for this portal: the password, tokens and headers travel readable on the network (a portal on this machine needs no opt-in)
        </label>
      )}
      <fieldset>
        <legend>Sign-in</legend>
        <label class="radio">
          <input type="radio" name="signin" data-testid="signin-oauth" checked={d.sign_in === "oauth"} onChange={() => set("sign_in", "oauth")} /> OAuth2 App ID (opens
          the system browser)
        </label>
        <label class="radio">
          <input type="radio" name="signin" data-testid="signin-builtin" checked={d.sign_in === "builtin"} onChange={() => set("sign_in", "builtin")} /> Built-in username
          and password
        </label>
        {d.sign_in === "oauth" ? (
          <Field
            label="App ID"
            hint="Register an app in the portal with a loopback redirect URI (127.0.0.1, any port). Save and verify opens your browser to sign in; the account must be an administrator."
          >
            <input value={d.app_id} onInput={text("app_id")} data-testid="identity-app-id" />
          </Field>
        ) : (
          <div class="grid2">
            <Field label="Username">
              <input autocomplete="username" value={d.username} onInput={text("username")} data-testid="identity-username" />
            </Field>
            <Field label="Password" hint={d.id ? "Leave empty to keep the stored password (a changed URL or username needs it again)." : "Kept in the encrypted vault."}>
              <input type="password" autocomplete="current-password" value={d.password} onInput={text("password")} data-testid="identity-password" />
            </Field>
          </div>
        )}
      </fieldset>
      <fieldset>
        <legend>Storage</legend>
        <label class="radio">
          <input type="radio" name="storage" checked={d.storageKind === "local"} onChange={() => set("storageKind", "local")} /> A local folder
        </label>
        <label class="radio">
          <input type="radio" name="storage" checked={d.storageKind === "azure"} onChange={() => set("storageKind", "azure")} /> Microsoft Azure Blob
        </label>
        <label class="radio">
          <input type="radio" name="storage" data-testid="storage-s3" checked={d.storageKind === "s3"} onChange={() => set("storageKind", "s3")} /> Amazon S3 or an
          S3-compatible service (MinIO, Ceph, Wasabi)
        </label>
        {d.storageKind === "s3" ? (
          <>
            <Field label="Bucket address" hint="s3://bucket/prefix — add ?region=eu-west-1, or ?endpoint= and the https address of an S3-compatible service (path-style addressing is then the default).">
              <input value={d.s3_url} onInput={text("s3_url")} placeholder="s3://orgvault-backups/myorg?region=eu-west-1" data-testid="identity-s3-url" />
            </Field>
            <div class="grid2">
              <Field label="Access key ID">
                <input value={d.s3_access_key_id} onInput={text("s3_access_key_id")} data-testid="identity-s3-key-id" />
              </Field>
              <Field label="Secret access key" hint={d.id ? "Leave empty to keep (and check) the stored one." : "Kept in the encrypted vault."}>
                <input type="password" value={d.s3_secret_access_key} onInput={text("s3_secret_access_key")} data-testid="identity-s3-secret" />
              </Field>
            </div>
            {cacheField("identity-s3-cache")}
          </>
        ) : d.storageKind === "local" ? (
          <Field label="Backup folder" hint="Do not change it later: earlier backups are found there.">
            <span class="row">
              <input class="grow" value={d.path} onInput={text("path")} data-testid="identity-folder" />
              <button
                type="button"
                onClick={() => app.backend.pickFolder().then((p) => p && set("path", p), (e) => setError(toUiError(e)))}
              >
                Choose…
              </button>
            </span>
          </Field>
        ) : (
          <>
            <Field
              label="Azure connection string"
              hint={
                d.id
                  ? "Leave empty to keep (and check) the stored one."
                  : "Storage account › Security + networking › Access keys › Connection string."
              }
            >
              <input type="password" value={d.connection_string} onInput={text("connection_string")} data-testid="identity-azure-cs" />
            </Field>
            <div class="grid2">
              <Field label="Container">
                <input value={d.container} onInput={text("container")} />
              </Field>
              {cacheField("identity-azure-cache")}
            </div>
          </>
        )}
        <button type="button" onClick={checkStorage} data-testid="storage-check">
          {d.storageKind === "azure" ? "Check Azure credentials" : d.storageKind === "s3" ? "Check S3 credentials" : "Check folder"}
        </button>
        {check && (
          <div class={check.ok ? "notice" : "error"} role="status" data-testid="storage-result">
            {check.ok ? (check.append_only ? "Storage is ready, append-only. " : "Storage is ready. ") : `The ${check.failed_step ?? "check"} step failed. `}
            {check.message}
          </div>
        )}
      </fieldset>
      {d.id === null && (
        <fieldset>
          <legend>Encryption</legend>
          <label class="radio">
            <input type="checkbox" checked={d.encrypt} onChange={(e) => set("encrypt", e.currentTarget.checked)} data-testid="identity-encrypt" /> Encrypt
            the backups (recommended): whoever can read the folder or the container cannot read the organization
          </label>
          {d.encrypt ? (
            <>
              <div class="grid2">
                <Field label="Repository password" hint="Kept in the vault so that scheduled backups can open the repository.">
                  <input type="password" autocomplete="new-password" required value={d.repo_password} onInput={text("repo_password")} data-testid="identity-repo-password" />
                </Field>
                <Field label="Repeat it">
                  <input type="password" autocomplete="new-password" required value={d.repo_password_again} onInput={text("repo_password_again")} data-testid="identity-repo-password-again" />
                </Field>
              </div>
              <p class="muted small">
                If the password and the recovery key shown after saving are both lost, the backups cannot be read by anyone, OrgVault included.
              </p>
            </>
          ) : (
            <p class="muted small" data-testid="identity-plain-warning">
              The repository will be plain: anyone who can read the storage reads every item, user and feature backed up.
            </p>
          )}
        </fieldset>
      )}
      <ErrorNote error={error} testid="identity-error" />
      {busy && (
        <Notice>
          {d.sign_in === "oauth"
            ? "Sign in and allow OrgVault in the browser window that opened (SAML accounts sign in with their identity provider there), then come back here…"
            : "Signing in and checking the account…"}
        </Notice>
      )}
      <div class="row">
        <button type="submit" class="primary" data-testid="identity-save" disabled={busy}>
          Save and verify
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The recovery key of a repository created encrypted just now: shown once, never stored by OrgVault. */
function RecoveryKey({ saved, onDone }: { saved: IdentitySaved; onDone: () => void }) {
  const [kept, setKept] = useState(false);
  const key = saved.recovery_key ?? "";
  return (
    <section class="panel form" role="dialog" aria-modal="true" aria-labelledby="recovery-title" data-testid="recovery-key-dialog">
      <h2 id="recovery-title">Save the recovery key of {saved.identity.name}'s backups</h2>
      <p>
        The backups of this organization are encrypted. This recovery key opens them when the repository password is lost. It is shown once: OrgVault keeps
        no copy.
      </p>
      <pre class="recovery-key" data-testid="recovery-key">{key}</pre>
      <div class="row">
        <button type="button" onClick={() => navigator.clipboard?.writeText(key)}>
          Copy
        </button>
      </div>
      <p class="error" role="note">
        Store it apart from the password (a password manager, a printed sheet in a safe). Without the password or this key, nobody can restore these backups.
      </p>
      <label class="radio">
        <input type="checkbox" checked={kept} onChange={(e) => setKept(e.currentTarget.checked)} data-testid="recovery-key-kept" /> I have stored the recovery key
        somewhere safe
      </label>
      <div class="row">
        <button type="button" class="primary" disabled={!kept} onClick={onDone} data-testid="recovery-key-done">
          Done
        </button>
      </div>
    </section>
  );
}
