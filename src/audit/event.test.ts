import { describe, expect, it } from 'vitest';
import { classifyUserAgent, isAuditEvent, isAuditEventList, labelSelectorOf, toRecord } from './event.ts';
import { auditEvent } from '../../test/support/auditEvents.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');

describe('audit events', () => {
  it('recognises Events and EventLists by kind, apiVersion and required fields', () => {
    const ev = auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0 });
    expect(isAuditEvent(ev)).toBe(true);
    expect(isAuditEvent({ ...ev, kind: 'Pod' })).toBe(false);
    expect(isAuditEvent({ ...ev, apiVersion: 'v1' })).toBe(false);
    const { auditID: _id, ...noId } = ev;
    expect(isAuditEvent(noId)).toBe(false);
    expect(isAuditEventList({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [] })).toBe(true);
  });

  it('normalizes the final stage only, without bodies but with what they tell', () => {
    expect(toRecord(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0, stage: 'RequestReceived' }))).toBeUndefined();
    const obj = {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: {
        name: 'sh.helm.release.v1.web.v2',
        labels: { owner: 'helm', status: 'uninstalling', name: 'web' },
        annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'apps' },
      },
    };
    const r = toRecord(
      auditEvent({
        verb: 'update',
        uri: '/api/v1/namespaces/apps/secrets/sh.helm.release.v1.web.v2',
        at: T0,
        level: 'RequestResponse',
        requestObject: obj,
        impersonate: 'bob',
      }),
    );
    expect(r).toEqual({
      auditID: expect.any(String) as unknown,
      time: T0,
      timestamp: '2026-03-01T09:00:00.000000Z',
      verb: 'update',
      requestURI: '/api/v1/namespaces/apps/secrets/sh.helm.release.v1.web.v2',
      user: 'admin',
      impersonatedUser: 'bob',
      userAgent: expect.any(String) as unknown,
      level: 'RequestResponse',
      resource: 'secrets',
      namespace: 'apps',
      name: 'sh.helm.release.v1.web.v2',
      code: 200,
      annotations: expect.any(Object) as unknown,
      owner: { releaseName: 'web', releaseNamespace: 'apps' },
      recordStatus: 'uninstalling',
    });
    const list = toRecord(auditEvent({ verb: 'list', uri: '/api/v1/namespaces/apps/secrets?labelSelector=name%3Dweb%2Cowner%3Dhelm', at: T0 }));
    expect(list?.labelSelector).toBe('name=web,owner=helm');
    expect(labelSelectorOf('/api/v1/secrets')).toBeUndefined();
  });

  it('tells the Helm CLI, client-go programs (the Helm SDK) and kubectl apart by user agent', () => {
    expect(classifyUserAgent('Helm/3.21.4')).toEqual({ kind: 'helm-cli', program: 'helm' });
    expect(classifyUserAgent('Helm/4.3.1')).toEqual({ kind: 'helm-cli', program: 'helm' });
    // The SDK's kube client reports the library's built-in version, without a patch number.
    expect(classifyUserAgent('Helm/3.21')).toEqual({ kind: 'helm-sdk' });
    expect(classifyUserAgent('helm-sdk-uninstall-0123456789ab/v0.0.0 (linux/amd64) kubernetes/$Format')).toEqual({
      kind: 'client-go',
      program: 'helm-sdk-uninstall-0123456789ab',
    });
    expect(classifyUserAgent('my-operator/v1.2.3 (darwin/arm64) kubernetes/abcdef0')).toEqual({ kind: 'client-go', program: 'my-operator' });
    expect(classifyUserAgent('kubectl/v1.36.3 (linux/amd64) kubernetes/0123456')).toEqual({ kind: 'kubectl', program: 'kubectl' });
    expect(classifyUserAgent('kubectl-1.36.3/v1.36.3 (linux/amd64) kubernetes/$Format')).toEqual({ kind: 'kubectl', program: 'kubectl' });
    expect(classifyUserAgent('curl/8.5.0')).toEqual({ kind: 'other' });
  });
});
