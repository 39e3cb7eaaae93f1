// The desktop app must work offline and load nothing remote: the built UI may contain no http(s)
// URL except XML namespace names, which browsers use as identifiers and never fetch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const XML_NAMESPACES = new Set([
  "http://www.w3.org/2000/svg",
  "http://www.w3.org/1999/xhtml",
  "http://www.w3.org/1998/Math/MathML",
  "http://www.w3.org/1999/xlink",
  "http://www.w3.org/XML/1998/namespace",
  "http://www.w3.org/2000/xmlns/",
]);
// A URL names a host, which starts with a letter, digit or "[" (IPv6); "https://${host}" in code is a template, not a URL.
const URL_RE = /https?:\/\/[a-z0-9[][^\s"'`<>()\\,;]*/gi;

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

export function externalUrls(text) {
  return [...text.matchAll(URL_RE)].map((m) => m[0]).filter((u) => !XML_NAMESPACES.has(u));
}

test("the URL scan itself catches a remote font and spares a namespace", () => {
  const found = externalUrls('@import url("https://fonts.example.com/x.css"); el.setAttribute("xmlns","http://www.w3.org/2000/svg")');
  assert.deepEqual(found, ["https://fonts.example.com/x.css"], "a remote URL must be reported and an XML namespace must not");
  assert.deepEqual(externalUrls("fetch(`http://127.0.0.1:8080/x`); const u = `https://${host}`;"), ["http://127.0.0.1:8080/x"], "any literal URL counts, loopback too; a template with no host is not a URL");
});

test("the production bundle holds no external URL", async () => {
  const out = mkdtempSync(join(tmpdir(), "orgvault-ui-dist-"));
  try {
    await build({ root, logLevel: "silent", build: { outDir: out, emptyOutDir: true } });
    const all = files(out);
    assert.ok(all.some((f) => f.endsWith(".js")), "the build must produce a script bundle");
    const offenders = all
      .filter((f) => /\.(js|css|html|svg|json|map)$/.test(f))
      .flatMap((f) => externalUrls(readFileSync(f, "utf8")).map((u) => `${f.slice(out.length)}: ${u}`));
    assert.deepEqual(offenders, [], "every script, style, font and icon must be bundled, never fetched");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
