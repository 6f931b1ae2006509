// The decision log is written asynchronously, off the review's path (log.ts bufferedStdout). What
// must never happen is a decision answered and its line lost on an ordinary end of the process:
// these run the real `teardown-guard serve` (its caches never sync: the kubeconfig points at a
// closed port, so every review is answered undecided, each with its decision line) and stop it
// with SIGTERM, and the real logging wiring of serve ended by an uncaught error.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCerts, httpsRequest, namespaceDeleteReview, tempDir } from '../../test/support/serverHarness.ts';

const dir = tempDir('tg-decision-log');
const certs = generateCerts(dir.path);
const ca = readFileSync(certs.ca);
afterAll(() => dir.remove());
const CLI = new URL('../../bin/teardown-guard.js', import.meta.url).pathname;
const LOG_TS = new URL('../log.ts', import.meta.url).pathname;

interface Ran {
  code: number | null;
  lines: Array<Record<string, unknown>>;
}

/** The complete JSON lines of `stdout` (a line still being written is left for later). */
function parse(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('decision lines are never lost on an ordinary end', () => {
  it('SIGTERM: every review answered before it has its decision line (the drain flushes the buffer)', async () => {
    const kubeconfig = join(dir.path, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    );
    const config = join(dir.path, 'config.yaml');
    writeFileSync(
      config,
      [
        'listen: {host: 127.0.0.1, port: 0}',
        `tls: {certFile: ${certs.cert}, keyFile: ${certs.key}}`,
        `kubeconfig: ${kubeconfig}`,
        'shutdown: {delayMs: 0, drainTimeoutMs: 5000}',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not listen:\n${stdout}`)), 20_000);
      child.stdout.on('data', () => {
        const listening = parse(stdout).find((l) => l['msg'] === 'listening (HTTPS, TLS >= 1.2)');
        if (listening) {
          clearTimeout(timer);
          resolve(listening['port'] as number);
        }
      });
    });
    const uids = Array.from({ length: 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const answers = await Promise.all(
      uids.map((uid) =>
        httpsRequest(port, {
          method: 'POST',
          path: '/validate',
          ca,
          body: JSON.stringify(namespaceDeleteReview(uid, 'x')),
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const exited = new Promise<Ran>((resolve) => child.on('exit', (code) => resolve({ code, lines: parse(stdout) })));
    child.kill('SIGTERM');
    const { code, lines } = await exited;
    expect(code).toBe(0);
    const logged = new Set(lines.filter((l) => l['msg'] === 'decision').map((l) => l['uid']));
    expect(uids.filter((u) => !logged.has(u))).toEqual([]);
  }, 60_000);

  it('an uncaught error: what was logged before it is written, then the fatal line, exit 1', async () => {
    // serve's own wiring (services.ts runServe): bufferedStdout + flushOnExit.
    const script = [
      `import { bufferedStdout, createLogger, flushOnExit, logDecision } from ${JSON.stringify(LOG_TS)};`,
      'const destination = bufferedStdout({ flushIntervalMs: 60_000, bufferBytes: 8 * 1024 });',
      'const logger = createLogger({ destination: destination.stream });',
      'flushOnExit(logger, destination);',
      "for (let i = 0; i < 300; i++) logDecision(logger, { uid: String(i), policy: 'p', verdict: 'allow', mode: 'warn', object: 'o', operation: 'DELETE', user: 'u', latencyMs: 1, dryRun: false });",
      "setTimeout(() => { throw new Error('a bug'); }, 10);",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lines = parse(stdout);
    expect(code).toBe(1);
    expect(lines.filter((l) => l['msg'] === 'decision')).toHaveLength(300);
    expect(lines.at(-1)).toMatchObject({ level: 'fatal', msg: 'uncaught exception; exiting', err: { message: 'a bug' } });
  }, 30_000);
});
