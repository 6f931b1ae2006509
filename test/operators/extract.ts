// Build-time extraction of the operators' charts and manifests (test/cluster/build-binaries.sh
// runs it): each path operators.json lists under `extract` is copied out of the module at its
// pinned version, as the Go module proxy serves it (`go mod download -json MODULE@VERSION`, its
// "Dir"), into <cache>/data/operators/<name>-<version>/, with source.json saying where from and
// a `.complete` marker. Cached by version; a failure is reported by the operator's name and the
// others still extracted. Nothing of these modules is committed to this repository.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifest, operatorDataDir, type OperatorSpec } from './manifest.ts';

interface ModuleDownload {
  Path?: string;
  Version?: string;
  Dir?: string;
  Sum?: string;
  Error?: string;
}

/** The module's directory in the module cache, fetched through the proxy if needed. */
function downloadModule(module: string, version: string): { dir: string; sum: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, GOFLAGS: '' };
  const r = spawnSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
    env,
    encoding: 'utf8',
    timeout: 600_000,
    cwd: tmpdir(),
  });
  if (r.error) throw new Error(`go mod download: ${r.error.message}`);
  let info: ModuleDownload;
  try {
    info = JSON.parse(r.stdout) as ModuleDownload;
  } catch {
    throw new Error(`go mod download exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 400)}`);
  }
  if (info.Error) throw new Error(`go mod download: ${info.Error}`);
  if (!info.Dir || !existsSync(info.Dir)) throw new Error(`go mod download gave no directory (exit ${r.status})`);
  return { dir: info.Dir, sum: info.Sum ?? '' };
}

/** Module cache files are read-only; the copies must be removable by the next extraction. */
function makeWritable(path: string): void {
  const st = statSync(path);
  chmodSync(path, st.mode | 0o200);
  if (st.isDirectory()) for (const e of readdirSync(path)) makeWritable(join(path, e));
}

export function extractOperator(op: OperatorSpec): 'cached' | 'extracted' | 'nothing' {
  if (op.extract.length === 0) return 'nothing';
  const dest = operatorDataDir(op);
  if (existsSync(join(dest, '.complete'))) return 'cached';
  const { dir, sum } = downloadModule(op.module, op.version);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const p of op.extract) {
    const from = join(dir, p);
    if (!existsSync(from)) throw new Error(`${p} is not in ${op.module}@${op.version}`);
    cpSync(from, join(dest, p), { recursive: true });
  }
  makeWritable(dest);
  writeFileSync(join(dest, 'source.json'), `${JSON.stringify({ module: op.module, version: op.version, sum, paths: op.extract }, null, 2)}\n`);
  writeFileSync(join(dest, '.complete'), '');
  return 'extracted';
}

function main(): void {
  const failed: string[] = [];
  for (const op of loadManifest().operators) {
    const t0 = Date.now();
    try {
      const r = extractOperator(op);
      if (r === 'cached') console.log(`[build] operator ${op.name} ${op.version}: cached`);
      else if (r === 'extracted') console.log(`[build] operator ${op.name} ${op.version}: extracted ${op.extract.join(', ')} in ${Date.now() - t0} ms`);
    } catch (e) {
      console.error(`[build] operator ${op.name} ${op.version}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
      failed.push(op.name);
    }
  }
  if (failed.length) {
    console.error(`[build] operator data FAILED: ${failed.join(', ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main();
