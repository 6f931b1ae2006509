// The container image runs the bundle build.ts makes, with no node_modules beside it. This builds
// it into a temporary directory outside the repository (so nothing can resolve from the
// repository's node_modules), loads every emitted module, and checks that the bundled CLI answers
// like the source one on a captured audit log.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, CLI_ENTRY } from '../../build.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(repo, 'test', 'fixtures', 'audit', 'sdk-misdirected-uninstall.jsonl');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(launcher: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [launcher, ...args], { cwd: tmpdir(), maxBuffer: 16 * 2 ** 20, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A review report without the field that differs between any two runs. */
function comparable(json: string): unknown {
  const report = JSON.parse(json) as Record<string, unknown>;
  delete report['generatedAt'];
  return report;
}

describe('the image bundle (build.ts)', () => {
  let root = '';
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tg-bundle-'));
    // The image's layout: /app/{package.json, bin/teardown-guard.js, dist/}.
    mkdirSync(join(root, 'bin'));
    copyFileSync(join(repo, 'package.json'), join(root, 'package.json'));
    copyFileSync(join(repo, 'bin', 'teardown-guard.js'), join(root, 'bin', 'teardown-guard.js'));
    await bundle(CLI_ENTRY, join(root, 'dist'));
  }, 120_000);
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('loads every emitted module without node_modules', async () => {
    const modules = readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.js'));
    expect(modules).toContain('cli.js');
    expect(modules.length).toBeGreaterThan(1); // the server and cluster code stay lazily loaded chunks
    const script = `for (const f of ${JSON.stringify(modules)}) await import(${JSON.stringify(join(root, 'dist'))} + '/' + f);`;
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 60_000 });
    expect(stderr).toBe('');
  }, 60_000);

  it("leaves client-node's generated API out: only its kubeconfig code is loaded", () => {
    // Its API classes and models are ~15 MB of source; loaded, they cost the server ~30 MiB of RSS
    // for nothing it calls (docs/PERFORMANCE.md). A dynamic import of the whole package, or one
    // generated client, brings them all back.
    const modules = readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.js'));
    const code = modules.map((f) => readFileSync(join(root, 'dist', f), 'utf8'));
    expect(code.some((c) => c.includes('KubeConfig'))).toBe(true);
    expect(code.filter((c) => /\bCoreV1Api\b|\bV1PodSpec\b/.test(c))).toEqual([]);
    expect(code.reduce((bytes, c) => bytes + c.length, 0)).toBeLessThan(6 * 2 ** 20);
    // Node keeps a large module's source as an external string, in UTF-16 as soon as one character
    // is not ASCII: twice the memory for the whole module (build.ts moves license comments out).
    expect(modules.filter((_, i) => /[\u0080-\uffff]/.test(code[i] ?? ''))).toEqual([]);
  });

  it("still builds client-node's fetch dispatcher, with undici loaded on that first use", async () => {
    // build.ts hands client-node a stand-in for undici that loads the real one when first called.
    const kubeConfigModule = readdirSync(join(root, 'dist')).find((f) => /^kubeConfig-.*\.js$/.test(f));
    expect(kubeConfigModule).toBeDefined();
    const script = [
      `const { KubeConfig } = await import(${JSON.stringify(join(root, 'dist', kubeConfigModule ?? ''))});`,
      'const kc = new KubeConfig();',
      "kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });",
      "const dispatcher = kc.createDispatcher(kc.getCurrentCluster(), { ca: 'x' });",
      'process.stdout.write(`${typeof dispatcher.dispatch} ${dispatcher.constructor.name}`);',
      'await dispatcher.close();',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 60_000 });
    expect(stdout).toMatch(/^function Agent\d*$/);
  }, 60_000);

  it('answers like the source CLI', async () => {
    const bundled = join(root, 'bin', 'teardown-guard.js');
    const source = join(repo, 'bin', 'teardown-guard.js');
    expect((await cli(bundled, ['version'])).stdout).toBe((await cli(source, ['version'])).stdout);
    const [a, b] = await Promise.all([cli(bundled, ['review', '--format', 'json', FIXTURE]), cli(source, ['review', '--format', 'json', FIXTURE])]);
    expect(a.code).toBe(1); // findings
    expect(a.code).toBe(b.code);
    expect(comparable(a.stdout)).toEqual(comparable(b.stdout));
    const bad = await cli(bundled, ['serve', '--port', 'not-a-port']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not-a-port');
  }, 120_000);
});
