import { useState } from "preact/hooks";
import type { UiError } from "../backend/backend";
import { toUiError } from "../backend/backend";

/**
 * What a screen's buttons share: one action at a time, what it is doing (`busy`), what it did
 * (`done`, set by the action) and what went wrong (`error`, from whatever the action throws).
 */
export function useAction() {
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  /** Runs `fn`, showing `working` meanwhile (none for a quick one). */
  const act = async (fn: () => Promise<void>, working?: string) => {
    setError(null);
    setDone(null);
    setBusy(working ?? null);
    try {
      await fn();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(null);
    }
  };
  return { error, setError, done, setDone, busy, act };
}
