import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Decision } from './admission/engine.ts';
import { CENSOR, createLogger, logDecision, scrub } from './log.ts';

const SECRET = 'c2VjcmV0LXZhbHVl-hunter2';

function collector(level = 'info') {
  const raw: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write: (s: string) => {
        raw.push(s);
      },
    },
  });
  return { logger, raw, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('scrub', () => {
  it('censors payload keys at any depth and keeps names', () => {
    const out = scrub({
      review: { request: { uid: 'u', oldObject: { kind: 'Secret', data: { password: SECRET } } } },
      deep: { a: { b: { c: { stringData: { p: SECRET }, binaryData: SECRET, manifest: SECRET } } } },
      finding: { object: 'Secret default/x', release: { namespace: 'ns', name: 'web' }, config: { password: SECRET } },
      list: [{ data: SECRET }],
    });
    const text = JSON.stringify(out);
    expect(text).not.toContain(SECRET);
    expect(out).toMatchObject({
      review: { request: { uid: 'u', oldObject: CENSOR } },
      finding: { object: 'Secret default/x', release: { namespace: 'ns', name: 'web' }, config: CENSOR },
      list: [{ data: CENSOR }],
    });
  });
  it('is bounded in depth and breadth', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 50; i++) deep = { next: deep };
    expect(JSON.stringify(scrub(deep))).toContain('[depth limit]');
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(scrub(wide) as object).length).toBeLessThanOrEqual(201);
    expect((scrub(Array.from({ length: 500 }, () => 1)) as unknown[]).length).toBe(101);
  });
  it('keeps only name, message, stack and code of errors', () => {
    const err = Object.assign(new SyntaxError('bad json'), { body: SECRET, code: 'E_PARSE' });
    const out = scrub({ err }) as { err: Record<string, unknown> };
    expect(out.err).toMatchObject({ type: 'SyntaxError', message: 'bad json', code: 'E_PARSE' });
    expect(JSON.stringify(out)).not.toContain(SECRET);
  });
});

describe('logger', () => {
  it('never writes Secret data, whatever the shape handed to it', () => {
    const c = collector('debug');
    c.logger.info({ request: { object: { data: { token: SECRET } }, oldObject: { stringData: { p: SECRET } } } }, 'admission request');
    c.logger.info({ headers: { authorization: `Bearer ${SECRET}` }, req: { headers: { authorization: SECRET, cookie: SECRET } } }, 'headers');
    c.logger.warn({ err: Object.assign(new Error('boom'), { body: JSON.stringify({ data: SECRET }) }) }, 'error');
    c.logger.debug({ event: { requestObject: { data: SECRET }, responseObject: { kind: 'Secret', data: SECRET } } }, 'audit event');
    expect(c.raw.join('')).not.toContain(SECRET);
    expect(c.raw).toHaveLength(4);
  });
  it('writes one decision line with uid, policy, verdict, mode, object, user, latencyMs', () => {
    const c = collector();
    const d: Decision = {
      uid: 'u-1',
      policy: 'olm-orphaned-finalizers',
      verdict: 'deny',
      mode: 'enforce',
      object: 'Namespace px-operator',
      operation: 'DELETE',
      user: 'alice',
      reason: 'namespace-strands-finalizers',
      latencyMs: 1.25,
      dryRun: false,
    };
    logDecision(c.logger, d);
    expect(c.lines()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'decision',
        uid: 'u-1',
        policy: 'olm-orphaned-finalizers',
        verdict: 'deny',
        mode: 'enforce',
        object: 'Namespace px-operator',
        operation: 'DELETE',
        user: 'alice',
        latencyMs: 1.25,
        dryRun: false,
        reason: 'namespace-strands-finalizers',
      }),
    ]);
    logDecision(c.logger, { ...d, verdict: 'allow', uid: 'u-2' });
    expect(c.lines()[1]).toMatchObject({ level: 'info', uid: 'u-2', verdict: 'allow' });
    expect(c.lines()[1]).not.toHaveProperty('undecidedKind');
    logDecision(c.logger, { ...d, verdict: 'undecided', uid: 'u-3', reason: 'cluster cache "namespaces" has not synced yet', undecidedKind: 'cache-unsynced' });
    expect(c.lines()[2]).toMatchObject({ level: 'warn', uid: 'u-3', verdict: 'undecided', undecidedKind: 'cache-unsynced' });
  });
  it("writes only the scalar decision fields (decision lines skip the scrub), at the logger's level", () => {
    const c = collector('warn');
    const d = {
      uid: 'u-3',
      policy: 'helm-uninstall-namespace',
      verdict: 'deny',
      mode: 'enforce',
      object: 'Secret default/sh.helm.release.v1.web.v1',
      operation: 'DELETE',
      user: 'bob',
      latencyMs: 0.5,
      dryRun: false,
      // Fields a Decision never has, standing in for a future change that hands it a payload.
      data: { release: SECRET },
      oldObject: { data: SECRET },
    } as unknown as Decision;
    logDecision(c.logger, d);
    logDecision(c.logger, { ...d, verdict: 'allow' });
    expect(c.raw.join('')).not.toContain(SECRET);
    expect(c.lines()).toHaveLength(1);
    const line = c.lines()[0] as Record<string, unknown>;
    for (const [key, value] of Object.entries(line)) expect([key, typeof value]).not.toEqual([key, 'object']);
  });
});

describe('line time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  it('is the ISO time of the millisecond the line is written in, formatted once per millisecond', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { logger, lines } = collector();
    vi.setSystemTime(new Date('2026-12-07T10:00:00.001Z'));
    logger.info('a');
    logger.info('b');
    vi.setSystemTime(new Date('2026-12-07T10:00:00.002Z'));
    logger.info('c');
    vi.setSystemTime(new Date('2026-12-08T00:00:00.000Z'));
    logger.info('d');
    expect(lines().map((l) => l['time'])).toEqual([
      '2026-12-07T10:00:00.001Z',
      '2026-12-07T10:00:00.001Z',
      '2026-12-07T10:00:00.002Z',
      '2026-12-08T00:00:00.000Z',
    ]);
  });
});
