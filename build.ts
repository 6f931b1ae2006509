// Bundles the CLI into dist/ for the container image: one self-contained set of ES modules, no
// node_modules at run time.
//
// Why a bundle rather than tsc's one-file-per-module output: module count is memory. Loaded file
// by file, @kubernetes/client-node alone adds ~67 MiB of RSS (its generated API is hundreds of
// modules, each with its own module record and source); bundled, the guard's whole serve code
// loads in 92 MiB where it took 139 MiB file by file. `npm run bench` measures the guard the way
// this script builds it.
//
//   node build.ts                 # dist/cli.js and its lazily loaded chunks
//   node build.ts --outdir DIR    # elsewhere (tests)
//
// Type checking is `npm run typecheck`; esbuild only strips types.
import { build, type BuildResult } from 'esbuild';
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
