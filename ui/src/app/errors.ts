import type { UiError } from "../backend/backend";

const LEADS: Record<string, string> = {
  not_admin: "This account is not an organization administrator.",
  unavailable: "Not available in this version yet.",
  bad_input: "Something in the form needs attention.",
  bad_url: "The portal address does not look right.",
  storage: "The backup storage cannot be used.",
  no_scan: "No scan yet.",
  not_found: "Not found.",
  network: "The portal could not be reached.",
  unauthorized: "The sign-in was refused or has expired.",
  token_expired: "The sign-in has expired; sign in again.",
  empty_selection: "Nothing to back up.",
  invalid_input: "Something in the form needs attention.",
  busy: "Another job of this organization is still running.",
  portal: "The target organization could not be read or written.",
  no_profile: "That mapping profile no longer exists.",
  not_running: "That job is no longer running.",
  not_a_repository: "That location is not an OrgVault repository; nothing was changed there.",
  destination_not_empty: "That folder already holds other files; choose an empty folder or a new sub-folder.",
  lock_lost: "The repository lock was lost; the backup stopped before writing its snapshot. Try again.",
  locked: "The repository is in use by another OrgVault job.",
  corrupt: "Stored backup data failed its check.",
  missing_data: "Stored backup data is missing.",
};

/** A headline a GIS administrator understands for an error code; the message carries the detail. */
export function headline(e: UiError): string {
  return LEADS[e.code] ?? "Something went wrong.";
}
