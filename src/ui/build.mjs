// Builds the browser UI into build/ui (served by the worker's static assets at /):
//   build/ui/assets/app.js, app.css   entry points named in the worker's HTML shell
//   build/ui/assets/chunks/*.js       code-split chunks (the Descope flow and widgets load only where used)
//   build/ui/assets/descope-ui/*      @descope/web-components-ui's own browser build, copied from npm, so the
//                                     Descope elements never fetch their UI components from a CDN
// Offline and fast: esbuild from node_modules. `node src/ui/build.mjs [--dev]` (--dev: unminified + source maps).
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { cp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outRoot = join(root, 'build', 'ui');
const assets = join(outRoot, 'assets');
const dev = process.argv.includes('--dev');
const started = performance.now();

await rm(outRoot, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  target: ['es2022', 'chrome100', 'firefox100', 'safari15.4'],
  logLevel: 'warning',
  legalComments: dev ? 'inline' : 'linked',
  metafile: true,
};

const [js, css] = await Promise.all([
  build({
    ...common,
    entryPoints: { app: join(here, 'app.js') },
    outdir: assets,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    assetNames: 'media/[name]-[hash]',
    define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
  }),
  build({
    ...common,
    entryPoints: { app: join(here, 'app.css') },
    outdir: assets,
    entryNames: '[name]',
  }),
]);

// The Descope UI component library: its UMD build plus lazily loaded chunks (webpack, with SRI hashes that
// match these exact files), copied unchanged; source maps are left behind.
const require = createRequire(import.meta.url);
const uiPkg = dirname(require.resolve('@descope/web-components-ui/package.json'));
const uiOut = join(assets, 'descope-ui');
await cp(join(uiPkg, 'dist', 'umd'), uiOut, { recursive: true, filter: (src) => !src.endsWith('.map') });
const uiVersion = JSON.parse(await readFile(join(uiPkg, 'package.json'), 'utf8')).version;

// Report sizes.
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
async function sizeOf(file) {
  const buf = await readFile(file);
  return { raw: buf.length, gz: gzipSync(buf).length };
}
const rows = [];
const outputs = { ...js.metafile.outputs, ...css.metafile.outputs };
for (const [file, info] of Object.entries(outputs)) {
  if (file.endsWith('.map') || file.endsWith('.txt')) continue;
  const s = await sizeOf(join(root, file));
  const entry = info.entryPoint ? relative(root, join(root, info.entryPoint)) : '';
  const names = Object.keys(info.inputs || {})
    .map((p) => p.match(/node_modules\/(@[^/]+\/[^/]+|[^/]+)/)?.[1])
    .filter(Boolean);
  const pkgs = [...new Set(names)].filter((n) => n.startsWith('@descope/')).join(' ');
  rows.push([relative(outRoot, join(root, file)), s.raw, s.gz, pkgs || entry]);
}
rows.sort((a, b) => a[0].localeCompare(b[0]));
let uiRaw = 0;
let uiGz = 0;
let uiFiles = 0;
for (const f of await readdir(uiOut)) {
  if (!f.endsWith('.js')) continue;
  const s = await sizeOf(join(uiOut, f));
  uiRaw += s.raw;
  uiGz += s.gz;
  uiFiles += 1;
}
const uiIndex = await sizeOf(join(uiOut, 'index.js'));
const width = Math.max(...rows.map((r) => r[0].length));
for (const [name, raw, gz, note] of rows) {
  console.log(`${name.padEnd(width)}  ${kb(raw).padStart(10)}  ${kb(gz).padStart(10)} gz  ${note}`);
}
console.log(`assets/descope-ui/ (@descope/web-components-ui ${uiVersion}): ${uiFiles} files, ${kb(uiRaw)} (${kb(uiGz)} gz); `
  + `index.js ${kb(uiIndex.raw)} (${kb(uiIndex.gz)} gz), the rest loads per component`);
console.log(`build:ui done in ${Math.round(performance.now() - started)} ms${dev ? ' (dev)' : ''}`);
await stat(join(assets, 'app.js'));
