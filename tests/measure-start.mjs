// Measures app start to first paint in the real window: launches the app N times through
// tauri-driver and, for each launch, takes the app process's start time from /proc and the
// page's first contentful paint (and the moment the first screen was rendered) from the
// webview's performance timeline. Prints the figures; the target is under 1.5 s.
//
//   node measure-start.mjs [runs]      (scripts/e2e.sh runs it after the tests)
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { application, openApp } from "./app.mjs";

const runs = Number(process.argv[2] ?? process.env.E2E_START_RUNS ?? 5);
const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
// The boot time in ms since the epoch, to 10 ms: /proc/stat's btime is whole seconds only.
const bootMs = Date.now() - Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;

/** Start times (ms since the epoch) of the running processes of the app's binary, by pid. */
function appProcesses() {
  const out = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`) !== application) continue;
      // Field 22 (starttime, in clock ticks since boot) comes after the ")" closing the name.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(pid, bootMs + (Number(fields[19]) / ticksPerSecond) * 1000);
    } catch {
      // The process ended while being read, or is not ours to read.
    }
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const paints = [];
const rendered = [];
for (let n = 0; n < runs; n++) {
  const before = appProcesses();
  const browser = await openApp();
  try {
    const started = [...appProcesses()].filter(([pid]) => !before.has(pid)).map(([, t]) => t);
    if (started.length !== 1) throw new Error(`expected one new app process, found ${started.length}`);
    const page = await browser.waitUntil(
      () =>
        browser.execute(() => {
          const fcp = performance.getEntriesByName("first-contentful-paint")[0];
          const mark = performance.getEntriesByName("orgvault-rendered")[0];
          return fcp && mark ? { origin: performance.timeOrigin, fcp: fcp.startTime, rendered: mark.startTime } : false;
        }),
      { timeout: 30_000, interval: 100, timeoutMsg: "the window never painted (no first-contentful-paint entry)" },
    );
    paints.push(page.origin + page.fcp - started[0]);
    rendered.push(page.origin + page.rendered - started[0]);
    console.log(
      `launch ${n + 1}: process start -> first contentful paint ${Math.round(paints.at(-1))} ms ` +
        `(page load began at ${Math.round(page.origin - started[0])} ms), -> first screen rendered ${Math.round(rendered.at(-1))} ms`,
    );
  } finally {
    await browser.deleteSession();
  }
}
const figure = median(paints);
console.log(
  `app start to first paint: median ${Math.round(figure)} ms over ${runs} launches (min ${Math.round(Math.min(...paints))}, max ${Math.round(Math.max(...paints))}); first screen rendered: median ${Math.round(median(rendered))} ms; target < 1500 ms`,
);
