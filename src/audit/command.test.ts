import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTimeArg, registerReviewCommand, reviewAction } from './command.ts';
import type { ReviewFlags } from './command.ts';
import { SDK_UA, auditEvent, helmUninstall, toJsonLines } from '../../test/support/auditEvents.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');
const dir = scratchDir('tg-review-cmd');
const file = (name: string, content: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

const misdirected = toJsonLines(
  helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 }),
);
const clean = toJsonLines(helmUninstall({ releaseNamespace: 'apps', release: 'db', start: T0 }));
const flags = (f: Partial<ReviewFlags> = {}): ReviewFlags => ({ format: 'human', windowSeconds: 120, guardName: 'teardown-guard', ...f });

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string, cb?: () => void) => {
    out.push(String(chunk));
    cb?.();
    return true;
  }) as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  return { out: () => out.join(''), err: () => err.join('') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('review --config', () => {
  it("follows the config file's finalizerGuards like the built-in OLM one, and names a bad config", async () => {
    const c = capture();
    const config = file(
      'guard.yaml',
      [
        'finalizerGuards:',
        '  - finalizer: example.com/cleanup',
        '    resource: { group: example.com, version: v1, resource: widgets, kind: Widget, namespaced: true }',
        '    controller: { displayName: widget-operator, deploymentSelector: "app=widget-operator", requireClusterRoleBinding: false }',
        '',
      ].join('\n'),
    );
    const log = file(
      'widgets.log',
      toJsonLines([
        auditEvent({ verb: 'create', uri: '/apis/example.com/v1/namespaces/shop/widgets', at: T0 - 600_000, code: 201 }),
        auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/widgets-system/deployments/widget-operator', at: T0 }),
        auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/shop', at: T0 + 2000, level: 'RequestResponse' }),
        auditEvent({ verb: 'update', uri: '/api/v1/namespaces/shop/status', at: T0 + 200_000, user: 'system:serviceaccount:kube-system:namespace-controller' }),
      ]),
    );
    expect(await reviewAction([log], flags({ config, format: 'json' }))).toBe(1);
    expect(c.out()).toContain('widget-operator');
    expect(c.out()).toContain('namespace-finalizer-race');
    expect(await reviewAction([log], flags({ config: file('bad.yaml', 'finalizerGuards: [{ finalizer: x }]\n') }))).toBe(2);
    expect(c.err()).toContain('finalizerGuards[0]');
  });
});

describe('review exit codes', () => {
  it('0 without findings, 1 with findings, 2 for input that is not an audit log or a missing file', async () => {
    const c = capture();
    expect(await reviewAction([file('clean.log', clean)], flags())).toBe(0);
    expect(c.out()).toContain('No findings.');
    expect(await reviewAction([file('bad.log', misdirected)], flags())).toBe(1);
    expect(await reviewAction([file('pods.json', '{"kind":"PodList","apiVersion":"v1","items":[]}\n')], flags())).toBe(2);
    expect(c.err()).toContain('not a kube-apiserver audit log');
    expect(await reviewAction([join(dir, 'missing.log')], flags())).toBe(2);
    expect(c.err()).toContain('missing.log: no such file');
    expect(await reviewAction(['-', '-'], flags())).toBe(2);
  });

  it('reads several inputs, gzip included, as one log in time order', async () => {
    const events = helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 });
    // The session is split over a rotated file (older, gzip) and the current one, given newest first.
    const older = file('audit.log.1.gz', gzipSync(toJsonLines(events.slice(0, 3))));
    const newer = file('audit.log', toJsonLines(events.slice(3)));
    const c = capture();
    expect(await reviewAction([newer, older], flags({ format: 'json' }))).toBe(1);
    const report = JSON.parse(c.out()) as { inputs: Array<{ name: string; compressed: boolean }>; findings: Array<{ code: string }> };
    expect(report.inputs.map((i) => [i.name, i.compressed])).toEqual([
      [older, true],
      [newer, false],
    ]);
    expect(report.findings.map((f) => f.code)).toEqual(['misdirected-uninstall']);
  });

  it('applies --since/--until to events and --namespace/--user to findings', async () => {
    const p = file('filters.log', misdirected);
    const c = capture();
    expect(await reviewAction([p], flags({ namespace: 'helm-test' }))).toBe(1);
    expect(await reviewAction([p], flags({ namespace: 'default' }))).toBe(1);
    expect(await reviewAction([p], flags({ namespace: 'kube-system' }))).toBe(0);
    expect(await reviewAction([p], flags({ user: 'admin' }))).toBe(1);
    expect(await reviewAction([p], flags({ user: 'someone-else' }))).toBe(0);
    expect(c.out()).toContain('(1 before filters)');
    // A window that leaves no event is "nothing analysed" (3), never "no findings".
    expect(await reviewAction([p], flags({ since: T0 + 60_000 }))).toBe(3);
    expect(c.out()).toContain('NOTHING ANALYSED: none of the');
    expect(await reviewAction([p], flags({ until: T0 }))).toBe(3);
    expect(await reviewAction([p], flags({ since: T0, until: T0 + 60_000 }))).toBe(1);
    expect(await reviewAction([p], flags({ since: T0 + 1, until: T0 }))).toBe(2);
  });

  it('3 when no event is usable: only earlier stages are logged', async () => {
    const early = toJsonLines(
      [1, 2, 3].map((i) => auditEvent({ verb: 'delete', uri: `/api/v1/namespaces/a/configmaps/c${i}`, at: T0 + i, stage: 'RequestReceived' })),
    );
    const c = capture();
    expect(await reviewAction([file('early.log', early)], flags({ format: 'markdown' }))).toBe(3);
    expect(c.out()).toContain('NOTHING ANALYSED: none of the 3 events read is a completed request with a time (3 at an earlier stage, 0 without a time)');
    expect(c.out()).not.toContain('No findings.');
    expect(c.err()).toContain('nothing analysed: 3 events read, none used');
  });

  it('writes Markdown and reports malformed lines on stderr for machine formats', async () => {
    const p = file('md.log', misdirected + 'oops\n');
    const c = capture();
    expect(await reviewAction([p], flags({ format: 'markdown' }))).toBe(1);
    expect(c.out()).toMatch(/^# teardown-guard audit review/);
    expect(c.err()).toContain('1 malformed line(s) skipped');
  });
});

describe('review command line', () => {
  const program = () => {
    const p = new Command('teardown-guard').exitOverride();
    p.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerReviewCommand(p);
    p.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} }));
    return p;
  };

  it('rejects bad usage through commander (mapped to exit 2 by the CLI)', async () => {
    for (const args of [['review'], ['review', '--format', 'xml', 'f'], ['review', '--since', 'yesterday', 'f'], ['review', '--window-seconds', '0', 'f']]) {
      await expect(program().parseAsync(['node', 'tg', ...args])).rejects.toBeInstanceOf(CommanderError);
    }
  });

  it('parses times as RFC 3339 or a duration before now', () => {
    expect(parseTimeArg('2026-03-01T09:00:00Z')).toBe(T0);
    expect(parseTimeArg('30m', T0)).toBe(T0 - 30 * 60_000);
    expect(parseTimeArg('7d', T0)).toBe(T0 - 7 * 86_400_000);
    expect(() => parseTimeArg('soon')).toThrow(/RFC 3339/);
  });

  it('runs end to end and sets the exit code', async () => {
    const c = capture();
    const before = process.exitCode;
    await program().parseAsync([
      'node',
      'tg',
      'review',
      '--format',
      'json',
      file('e2e.log', toJsonLines([auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0 })])),
    ]);
    expect(process.exitCode).toBe(0);
    expect((JSON.parse(c.out()) as { schemaVersion: number }).schemaVersion).toBe(1);
    process.exitCode = before;
  });
});
