#!/usr/bin/env node
// geyser-js-build KIND ENTRY [-o OUT]: bundles ENTRY (and what it imports, this SDK included)
// with esbuild and builds a component with componentize-js for the world KIND-function
// (sdk/wit/worlds.wit). KIND is http, event, schedule or event-http (both handlers). esbuild and componentize-js come
// from the project's own node_modules (pinned in its package.json), so each project decides
// their versions; componentize-js is called through its API, not jco's CLI (jco 1.35's
// nested preview2-shim preopens no directory, so its `--wit` paths fail with "os error 44").
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const KINDS = ['http', 'event', 'schedule', 'event-http'];

function usage(message) {
  console.error(`geyser-js-build: ${message}\nusage: geyser-js-build http|event|schedule|event-http ENTRY [-o OUT]`);
  process.exit(2);
}

const args = process.argv.slice(2);
const [kind, entry] = args;
if (!KINDS.includes(kind)) usage(`unknown kind ${JSON.stringify(kind)} (http, event, schedule or event-http)`);
if (!entry) usage('no entry module');
const outIndex = args.indexOf('-o');
const out = resolve(outIndex > 0 ? args[outIndex + 1] : 'app.wasm');

// The project's copy of a package: its directory under the nearest node_modules, entered by
// its `exports` import condition (componentize-js has no require entry, so require.resolve
// cannot find it).
async function load(name) {
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    const manifest = await readFile(join(root, 'package.json'), 'utf8').catch(() => undefined);
    if (manifest !== undefined) {
      const { exports, module, main } = JSON.parse(manifest);
      const dot = exports && typeof exports === 'object' && '.' in exports ? exports['.'] : exports;
      const target = typeof dot === 'string' ? dot : (dot?.import ?? dot?.default ?? module ?? main ?? 'index.js');
      return import(pathToFileURL(join(root, typeof target === 'string' ? target : target.default)).href);
    }
    if (dirname(dir) === dir) break;
  }
  console.error(`geyser-js-build: ${name} is not installed in ${process.cwd()} (run npm install)`);
  process.exit(1);
}
const esbuild = await load('esbuild');
const { componentize } = await load('@bytecodealliance/componentize-js');

const wit = resolve(dirname(fileURLToPath(import.meta.url)), '../../wit');
const work = await mkdtemp(join(tmpdir(), 'geyser-js-'));
try {
  const bundle = join(work, 'bundle.js');
  await esbuild.build({
    entryPoints: [resolve(entry)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    outfile: bundle,
    external: ['geyser:*', 'wasi:*'],
    logLevel: 'warning',
  });
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: wit,
    worldName: `${kind}-function`,
    // Only an HTTP function answers fetch events; the others must not export a handler for them.
    disableFeatures: kind.includes('http') ? [] : ['fetch-event'],
  });
  await writeFile(out, component);
  console.log(`built ${out} (${component.length} bytes)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
