import { render } from "preact";
import type { Backend } from "./backend/backend";
import { MockBackend } from "./backend/mock";
import { TauriBackend } from "./backend/tauri";
import { App } from "./app/App";
import { Ctx, createAppContext, type ScreenName } from "./app/context";
import "./styles.css";

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

/**
 * The desktop shell injects `__TAURI_INTERNALS__`; anywhere else (vite dev, the benchmark) the UI
 * runs on the in-memory demo. `?mock=N` starts that demo already set up with N elements.
 */
function pickBackend(params: URLSearchParams): Backend {
  if (window.__TAURI_INTERNALS__) return new TauriBackend();
  const n = Number(params.get("mock"));
  return new MockBackend(n > 0 ? { elements: n, withDemo: true } : {});
}

async function boot() {
  const params = new URLSearchParams(location.search);
  const backend = pickBackend(params);
  const app = createAppContext(backend);
  await app.jobs.connect(backend);
  try {
    const ids = await backend.listIdentities();
    app.identities.set(ids);
    app.current.set(ids[0]?.id ?? null);
    const screen = params.get("screen") as ScreenName | null;
    if (screen) app.screen.set(screen);
    else if (ids.length > 0) app.screen.set("scan");
  } catch {
    // The identities screen shows its own errors; an empty list must not stop the window from opening.
  }
  const root = document.getElementById("app");
  if (root) {
    render(
      <Ctx.Provider value={app}>
        <App />
      </Ctx.Provider>,
      root,
    );
    // For the start-up measurement (e2e/measure-start.mjs): the first screen is in the DOM.
    performance.mark("orgvault-rendered");
  }
}

void boot();
