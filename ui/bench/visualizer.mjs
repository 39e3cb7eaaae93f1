// Visualizer benchmark: serves ui/dist on 127.0.0.1, opens it in headless Chromium with the mock
// backend at N elements (default 50,000) and prints start-to-first-paint, time to the first
// visualizer frame and frame times while panning. Prints figures only; it does not pass or fail.
//
//   npm --prefix ui run bench            (builds first)
//   node ui/bench/visualizer.mjs 50000   (uses the existing ui/dist)
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const elements = Number(process.argv[2] ?? process.env.ELEMENTS ?? 50_000);
const panFrames = 180;
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(join(dist, "index.html"))) throw new Error(`no build in ${dist}: run npm --prefix ui run build`);
if (!existsSync(browserPath)) throw new Error(`${browserPath} is missing: apt-get install -y chromium`);

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname)).replace(/^(\.\.[/\\])+/, "");
  let file = join(dist, path);
  if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
  res.end(readFileSync(file));
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${server.address().port}`;

const profile = mkdtempSync(join(tmpdir(), "orgvault-bench-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: browserPath,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f1 = (x) => x.toFixed(1);

try {
  const page = await context.newPage();
  const external = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) external.push(r.url());
  });
  await page.goto(`${base}/?mock=${elements}&screen=scan`);
  await page.waitForFunction(() => window.__ovBench && window.__ovBench.firstRenderMs !== null, null, { timeout: 60_000 });
  const start = await page.evaluate(() => {
    const paints = Object.fromEntries(performance.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
    return {
      firstPaint: paints["first-paint"] ?? null,
      firstContentfulPaint: paints["first-contentful-paint"] ?? null,
      firstRender: window.__ovBench.firstRenderMs,
      firstFrameDraw: window.__ovBench.frames[0],
    };
  });
  // Pan in the page, one synthetic drag step per animation frame, as a user's drag arrives.
  const panOnce = (zoom) => page.evaluate(async ([frames, zoom]) => {
    const canvas = document.querySelector('[data-testid="visualizer-canvas"]');
    const r = canvas.getBoundingClientRect();
    const bench = window.__ovBench;
    if (zoom !== 1) bench.viz.zoomAt(zoom, r.width / 2, r.height / 2);
    await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
    const drawsBefore = bench.frames.length;
    let x = r.left + r.width / 2;
    const y = r.top + r.height / 2;
    const ev = (type) => new PointerEvent(type, { clientX: x, clientY: y, pointerId: 1, bubbles: true, isPrimary: true });
    canvas.dispatchEvent(ev("pointerdown"));
    const stamps = [];
    await new Promise((done) => {
      let n = 0;
      const step = (t) => {
        stamps.push(t);
        if (n++ >= frames) return done();
        x += n % 120 < 60 ? 6 : -6;
        canvas.dispatchEvent(ev("pointermove"));
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    canvas.dispatchEvent(ev("pointerup"));
    const intervals = stamps.slice(2).map((t, i) => t - stamps[i + 1]);
    return { intervals, draws: bench.frames.slice(drawsBefore) };
  }, [panFrames, zoom]);
  const pan = await panOnce(1);
  // Zoomed in 8x the scene no longer fits the cached bitmap and is drawn node by node, culled to the view.
  const panZoomed = await panOnce(8);
  const nodes = await page.evaluate(() => window.__ovBench.viz && document.querySelector('[data-testid="tally-items"]')?.textContent);

  const median = pct(pan.intervals, 50);
  console.log(`OrgVault visualizer benchmark: ${elements} elements (mock backend), headless Chromium, 1280x800, --disable-gpu`);
  console.log(`  items selected on load          ${nodes}`);
  console.log(`  page start to first paint       ${f1(start.firstPaint ?? NaN)} ms (first contentful paint ${f1(start.firstContentfulPaint ?? NaN)} ms)   target < 1500 ms`);
  console.log(`  time to first visualizer render ${f1(start.firstRender)} ms from navigation start (that frame drew in ${f1(start.firstFrameDraw)} ms)   target < 2000 ms`);
  console.log(`  panning, ${pan.intervals.length} frames, whole organization in view:`);
  console.log(`    frame interval median ${f1(median)} ms, p95 ${f1(pct(pan.intervals, 95))} ms, ${f1(1000 / median)} fps   target >= 30 fps`);
  console.log(`    draw time per frame   median ${f1(pct(pan.draws, 50))} ms, p95 ${f1(pct(pan.draws, 95))} ms (${pan.draws.length} draws)`);
  const mz = pct(panZoomed.intervals, 50);
  console.log(`  panning, ${panZoomed.intervals.length} frames, zoomed in 8x (drawn directly, culled):`);
  console.log(`    frame interval median ${f1(mz)} ms, p95 ${f1(pct(panZoomed.intervals, 95))} ms, ${f1(1000 / mz)} fps`);
  console.log(`    draw time per frame   median ${f1(pct(panZoomed.draws, 50))} ms, p95 ${f1(pct(panZoomed.draws, 95))} ms (${panZoomed.draws.length} draws)`);
  console.log(`  requests to anything but the local server: ${external.length}${external.length ? ` (${external.slice(0, 3).join(", ")})` : ""}`);
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
