import type { ErrorCode, UiError } from "../backend/backend";

/**
 * A headline for every code the shell can send (`orgvault_core::ErrorCode`, exported to the
 * bindings). A `Record` over the generated union: a new code without words, or words for a code
 * Rust does not emit, fails `npm run check`.
 */
const LEADS: Record<ErrorCode, string> = {
  // The portal and the sign-in.
  not_admin: "This account is not an organization administrator.",
  sign_in: "The sign-in was refused.",
  auth_expired: "The sign-in has expired or was revoked; sign in again.",
  forbidden: "The account is not allowed to do this.",
  not_found: "Not found.",
  rate_limited: "The portal is throttling requests; try again in a few minutes.",
  network: "The portal could not be reached.",
  portal_unavailable: "The portal is having trouble; try again later.",
  portal_error: "The portal refused the request.",
  not_a_portal: "That address does not answer like an ArcGIS portal.",
  tls: "The portal's certificate was refused.",
  bad_answer: "The portal sent an answer OrgVault cannot read.",
  search_too_large: "A search is too large for the portal to split.",
  host_not_allowed: "An item points at a host outside the organization that is not allowed.",
  invalid_settings: "The connection or storage settings need attention.",
  // The engine.
  invalid_input: "Something in the form needs attention.",
  invalid_state: "That cannot be done in the job's current state.",
  database: "OrgVault's database failed.",
  database_busy: "OrgVault's database is busy; try again in a moment.",
  io: "A file or folder could not be read or written.",
  no_room: "There is not enough free space.",
  corrupt: "Stored data failed its check.",
  cancelled: "Cancelled.",
  busy: "Another job of this organization is still running.",
  not_running: "That job is no longer running.",
  internal: "Something went wrong in OrgVault itself.",
  // Backup and restore.
  empty_selection: "Nothing to back up.",
  only_failed_selected: "Everything selected failed in the scan: nothing to back up.",
  all_failed: "Every selected item failed; no snapshot was written.",
  no_profile: "That mapping profile no longer exists.",
  no_scan: "No scan yet.",
  no_secret: "OrgVault has no saved sign-in or connection string for this organization; edit it and save it again.",
  // The backup repository.
  not_a_repository: "That location is not an OrgVault repository; nothing was changed there.",
  destination_not_empty: "That folder already holds other files; choose an empty folder or a new sub-folder.",
  repository_password_required: "The repository is encrypted; its password is needed.",
  wrong_repository_password: "The repository password is wrong: no key of the repository opens with it.",
  repository_not_encrypted: "The repository is not encrypted, but a password was given for it.",
  key_refused: "That change to the repository's keys was refused.",
  locked: "The repository is in use by another OrgVault job.",
  lock_lost: "The repository lock was lost; the backup stopped before writing its snapshot. Try again.",
  missing_data: "Stored backup data is missing.",
  bad_zip: "The zip file cannot be used.",
  content_unreadable: "Content to store or send could not be read.",
  // Storage.
  storage_folder: "The backup folder cannot be used.",
  already_exists: "It already exists.",
  storage_denied: "The backup storage refused access.",
  append_only: "The repository is append-only: forgetting and pruning need credentials that may delete.",
  storage: "The backup storage failed.",
  storage_unavailable: "The backup storage is not answering; try again later.",
  storage_check: "The backup storage cannot be used.",
  // The vault of secrets.
  vault_wrong_key: "The vault key does not open the vault.",
  vault_corrupt: "The vault file is damaged.",
  vault_key_permissions: "The vault key file can be read by other users.",
  vault_key_invalid: "The vault key file does not hold a key.",
  vault_key_missing: "The vault's key cannot be found.",
  vault_keyring: "The system keyring failed.",
  vault: "The vault of secrets failed.",
  // The desktop shell.
  browser: "OrgVault could not open your web browser.",
  // E-mail.
  mail_not_configured: "E-mail is not set up.",
  mail_refused: "The mail server refused the message.",
};

/** A headline a GIS administrator understands for an error code; the message carries the detail. */
export function headline(e: UiError): string {
  return LEADS[e.code] ?? "Something went wrong.";
}
