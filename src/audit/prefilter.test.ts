import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateAuditLog } from '../../test/support/auditLogGenerator.ts';
import type { AuditEventV1 } from './event.ts';
import { classifyLine } from './prefilter.ts';
import type { Interest } from './prefilter.ts';
import { runReview } from './review.ts';
import { HELM3_UA, KUBECTL_UA, NS_CONTROLLER, NS_CONTROLLER_UA, SDK_UA, auditEvent, helmUninstall, toJsonLines } from '../../test/support/auditEvents.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');
const none: Interest = { pendingNamespaces: new Set(), sessionUserAgents: new Set() };
const classify = (ev: AuditEventV1, interest = none) => {
  const line = Buffer.from(JSON.stringify(ev));
  return classifyLine(line, 0, line.length, interest);
};

describe('classifyLine', () => {
  it('skips what the correlator ignores and parses what it reads', () => {
    expect(classify(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0 }))).toBe('skip');
    expect(classify(auditEvent({ verb: 'update', uri: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1', at: T0 }))).toBe('skip');
    expect(classify(auditEvent({ verb: 'get', uri: '/version', at: T0 }))).toBe('skip');
    expect(classify(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0, stage: 'RequestReceived' }))).toBe('not-final');
    expect(classify(auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/a/pods/p', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'deletecollection', uri: '/api/v1/namespaces/a/pods', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'update', uri: '/api/v1/namespaces/a/finalize', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/secrets/sh.helm.release.v1.web.v3', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'list', uri: '/api/v1/namespaces/a/secrets?labelSelector=name%3Dweb%2Cowner%3Dhelm', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'list', uri: '/api/v1/namespaces/a/secrets?labelSelector=app%3Dweb', at: T0 }))).toBe('skip');
    expect(classify(auditEvent({ verb: 'create', uri: '/apis/operators.coreos.com/v1alpha1/namespaces/a/clusterserviceversions', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'patch', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: T0 }))).toBe('parse');
    // Writes to Flux HelmReleases mark helm-controller's uninstalls; reads of them do not.
    expect(classify(auditEvent({ verb: 'patch', uri: '/apis/helm.toolkit.fluxcd.io/v2/namespaces/a/helmreleases/web/status', at: T0 }))).toBe('parse');
    expect(classify(auditEvent({ verb: 'get', uri: '/apis/helm.toolkit.fluxcd.io/v2/namespaces/a/helmreleases/web', at: T0 }))).toBe('skip');
  });

  it('follows what the correlator is waiting for', () => {
    const ev = auditEvent({ verb: 'list', uri: '/api/v1/namespaces/stuck/configmaps', at: T0, user: NS_CONTROLLER, ua: NS_CONTROLLER_UA });
    expect(classify(ev)).toBe('skip');
    expect(classify(ev, { pendingNamespaces: new Set(['stuck']), sessionUserAgents: new Set() })).toBe('parse');
    const hook = auditEvent({ verb: 'create', uri: '/apis/batch/v1/namespaces/default/jobs', at: T0, ua: SDK_UA, code: 201 });
    expect(classify(hook)).toBe('skip');
    expect(classify(hook, { pendingNamespaces: new Set(), sessionUserAgents: new Set([SDK_UA]) })).toBe('parse');
  });

  it("hands anything not in the API server's own encoding to the full parser", () => {
    const ev = auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0 });
    const { kind, ...rest } = ev;
    for (const text of [
      JSON.stringify(ev, null, 1),
      JSON.stringify({ ...rest, kind }),
      '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}',
      'garbage',
    ]) {
      const b = Buffer.from(text);
      expect(classifyLine(b, 0, b.length, none)).toBe('parse');
    }
  });
});

/** Fast path and strict parsing must report the same findings. */
async function bothWays(content: string, windowMs = 60_000) {
  const dir = scratchDir('tg-prefilter');
  const p = join(dir, 'audit.log');
  writeFileSync(p, content);
  const fast = await runReview({ inputs: [p], windowMs });
  const strict = await runReview({ inputs: [p], windowMs, strict: true });
  return { fast, strict };
}

describe('fast path equals strict parsing', () => {
  it('on a generated log with planted incidents', async () => {
    const dir = scratchDir('tg-prefilter');
    const p = join(dir, 'gen.log');
    const planted = await generateAuditLog({ out: p, sizeMb: 8, seed: 7, helmEvery: 150 });
    const fast = await runReview({ inputs: [p] });
    const strict = await runReview({ inputs: [p], strict: true });
    expect(planted.misdirected).toBeGreaterThan(2);
    expect(planted.namespaceDeletions).toBeGreaterThan(2);
    expect(fast.findings.filter((f) => f.code === 'misdirected-uninstall')).toHaveLength(planted.misdirected);
    expect(fast.findings).toEqual(strict.findings);
    expect(fast.pendingNamespaceDeletions).toEqual(strict.pendingNamespaceDeletions);
    expect(fast.inputs[0]?.parsedLines).toBeLessThan((strict.inputs[0]?.parsedLines ?? 0) / 10);
  }, 60_000);

  it('on random interleavings of every incident type with noise', async () => {
    const scenario = fc.record({
      seed: fc.integer({ min: 0, max: 1_000_000 }),
      gapMs: fc.integer({ min: 1, max: 90_000 }),
      misdirected: fc.boolean(),
      sdk: fc.boolean(),
      raceFirst: fc.boolean(),
      olm: fc.boolean(),
      stuck: fc.boolean(),
      hook: fc.boolean(),
      noise: fc.integer({ min: 0, max: 40 }),
    });
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        let t = T0;
        const events: AuditEventV1[] = [];
        const noise = (n: number) => {
          for (let i = 0; i < n; i++) {
            t += 250;
            events.push(
              auditEvent({
                verb: i % 3 === 0 ? 'list' : 'get',
                uri: `/api/v1/namespaces/${i % 2 ? 'stuck' : 'default'}/configmaps${i % 3 ? `/c${i}` : ''}`,
                at: t,
                user: NS_CONTROLLER,
                ua: NS_CONTROLLER_UA,
              }),
            );
          }
        };
        noise(s.noise);
        const ua = s.sdk ? SDK_UA : HELM3_UA;
        const un = helmUninstall({
          releaseNamespace: 'helm-test',
          release: 'web',
          start: t,
          ua,
          ...(s.misdirected ? { deleteNamespace: 'default', deleteCode: 404 } : {}),
        });
        if (s.hook) un.splice(2, 0, auditEvent({ verb: 'create', uri: '/apis/batch/v1/namespaces/default/jobs', at: t + 15, ua, code: 201 }));
        events.push(...un);
        t += 1000 + s.gapMs;
        const olm = auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: t, ua: HELM3_UA });
        const ns = auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/stuck', at: t + 2000, ua: KUBECTL_UA });
        events.push(...(!s.olm ? [ns] : s.raceFirst ? [ns, olm] : [olm, ns]));
        t += 3000;
        noise(s.noise);
        if (!s.stuck) events.push(auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/stuck', at: (t += 10), user: NS_CONTROLLER, ua: NS_CONTROLLER_UA }));
        t += s.gapMs;
        noise(s.noise);
        const { fast, strict } = await bothWays(toJsonLines(events));
        expect(fast.findings).toEqual(strict.findings);
        expect(fast.pendingNamespaceDeletions).toEqual(strict.pendingNamespaceDeletions);
        for (const f of fast.findings) codes.add(f.code);
      }),
      { numRuns: 40, seed: 4711 },
    );
    // The scenarios did exercise the findings they were built for.
    expect([...codes].sort()).toEqual(['misdirected-uninstall', 'namespace-deletion-incomplete', 'namespace-finalizer-race']);
  }, 60_000);
});
