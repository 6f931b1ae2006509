// Bundles the CLI into dist/ for the container image: one self-contained set of ES modules, no
// node_modules at run time.
//
// Why a bundle rather than tsc's one-file-per-module output: module count is memory. Loaded file
// by file, @kubernetes/client-node alone adds ~67 MiB of RSS (its generated API is hundreds of
// modules, each with its own module record and source); bundled, the guard's whole serve code
// loads in 92 MiB where it took 139 MiB file by file. Code size is memory too: with only the
// client-node code the guard calls (the plugins below), whitespace and comments gone and pure
// ASCII, the same serve code loads in ~74 MiB (bare Node: 42). `npm run bench` measures the guard
// the way this script builds it.
//
//   node build.ts                 # dist/cli.js and its lazily loaded chunks
//   node build.ts --outdir DIR    # elsewhere (tests)
//
// Type checking is `npm run typecheck`; esbuild only strips types.
import { build, type BuildResult, type Plugin } from 'esbuild';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Entry points by output name (DIR/<name>.js). */
export type BundleEntries = Record<string, string>;

export const CLI_ENTRY: BundleEntries = { cli: fileURLToPath(new URL('./src/cli.ts', import.meta.url)) };

/**
 * Some CommonJS dependencies (undici, pino's sonic-boom) `require()` Node built-ins. In an ES module
 * bundle `require` does not exist; this gives every output file one, bound to its own URL.
 */
const REQUIRE_SHIM = "import { createRequire as __tgCreateRequire } from 'node:module'; const require = __tgCreateRequire(import.meta.url);";

/**
 * @kubernetes/client-node's modules declare no side effects of their own, but its package.json
 * does not say so, so esbuild keeps every module the kubeconfig code imports transitively (its
 * generated API index, fetch and proxy helpers) whether used or not. Said here, the bundle keeps
 * what the guard calls: measured, ~0.9 MB less code and ~10 MiB less RSS after import, since
 * loaded code stays resident (docs/PERFORMANCE.md).
 */
const CLIENT_NODE_IS_PURE: Plugin = {
  name: 'client-node-side-effect-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === CLIENT_NODE_IS_PURE || !/^[.]|client-node/.test(args.path)) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        with: args.with,
        pluginData: CLIENT_NODE_IS_PURE,
      });
      if (resolved.errors.length > 0 || !resolved.path.includes(`${sep}@kubernetes${sep}client-node${sep}`)) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

/**
 * client-node imports undici at the top of its kubeconfig module for the dispatchers of its fetch
 * based API, which the guard never calls (its own client is node:https, cluster/kubeHttp.ts); run
 * at load, undici cost the server ~2 MiB of RSS (measured after import). Imports of undici from
 * client-node get this stand-in instead, which loads the real one on first use: the same classes
 * and function, later.
 */
const LAZY_UNDICI_SOURCE = `
const undici = () => require('undici');
export class Agent { constructor(options) { return new (undici().Agent)(options); } }
export class ProxyAgent { constructor(options) { return new (undici().ProxyAgent)(options); } }
export function fetch(...args) { return undici().fetch(...args); }
`;
const CLIENT_NODE_LOADS_UNDICI_LAZILY: Plugin = {
  name: 'client-node-loads-undici-lazily',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (args) =>
      args.importer.includes(`${sep}@kubernetes${sep}client-node${sep}`) ? { path: 'undici', namespace: 'lazy-undici' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-undici' }, () => ({
      contents: LAZY_UNDICI_SOURCE,
      loader: 'js',
      resolveDir: fileURLToPath(new URL('.', import.meta.url)),
    }));
  },
};

export async function bundle(entries: BundleEntries, outdir: string): Promise<BuildResult> {
  return build({
    entryPoints: Object.entries(entries).map(([out, input]) => ({ in: input, out })),
    outdir,
    bundle: true,
    // Shared code goes to chunks and `await import()` stays lazy: `review` never loads the server.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22.12',
    sourcemap: 'linked',
    banner: { js: REQUIRE_SHIM },
    logLevel: 'warning',
    // A missing dependency must fail the build, never become a require() that fails in a pod.
    external: [],
    metafile: true,
    // Memory: Node holds each loaded module's source for as long as the process lives (a large one
    // outside the V8 heap, in UTF-16 as soon as one character is not ASCII). Whitespace and comments
    // are a third of it; names stay, so stack traces still name functions (and the linked source
    // maps give lines). License comments go to a .LEGAL.txt beside each module, in the image too:
    // some carry non-ASCII names, and the code stays pure ASCII (esbuild escapes the rest).
    minifyWhitespace: true,
    legalComments: 'external',
    plugins: [CLIENT_NODE_LOADS_UNDICI_LAZILY, CLIENT_NODE_IS_PURE],
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: fileURLToPath(new URL('./dist', import.meta.url)) } } });
  const started = Date.now();
  const result = await bundle(CLI_ENTRY, values.outdir);
  const outputs = Object.entries(result.metafile?.outputs ?? {}).filter(([name]) => name.endsWith('.js'));
  const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
  process.stdout.write(`bundled ${outputs.length} files (${(bytes / 2 ** 20).toFixed(1)} MiB) into ${values.outdir} in ${Date.now() - started} ms\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
