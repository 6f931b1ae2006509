import { describe, expect, it } from 'vitest';
import { Correlator } from './correlator.ts';
import type { CorrelatorOptions } from './correlator.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { OLM_CSV_CLEANUP_GUARD } from '../olm/finalizerGuards.ts';
import type { AuditEventV1 } from './event.ts';
import { toRecord } from './event.ts';
import type { AuditFinding } from './findings.ts';
import {
  HELM3_UA,
  HELM4_UA,
  HELM_SDK_UA,
  KUBECTL_UA,
  NS_CONTROLLER,
  NS_CONTROLLER_UA,
  SDK_UA,
  auditEvent,
  helmUninstall,
} from '../../test/support/auditEvents.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');

function correlate(events: AuditEventV1[], o: Partial<CorrelatorOptions> = {}): AuditFinding[] {
  const found: AuditFinding[] = [];
  const c = new Correlator({ windowMs: 60_000, ...o, onFinding: (f) => found.push(f) });
  for (const e of events) {
    const r = toRecord(e);
    if (r) c.push(r);
  }
  c.flush();
  return found;
}

/** Background noise from other clients, interleaved by time. */
function noise(from: number, to: number, every = 500): AuditEventV1[] {
  const out: AuditEventV1[] = [];
  for (let t = from; t < to; t += every) {
    out.push(
      auditEvent({
        verb: 'update',
        uri: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
        user: 'system:node:node-1',
        ua: 'kubelet/v1.36.3 (linux/amd64) kubernetes/0123456',
        at: t,
      }),
    );
  }
  return out;
}

const byTime = (a: AuditEventV1, b: AuditEventV1) => Date.parse(a.requestReceivedTimestamp ?? '') - Date.parse(b.requestReceivedTimestamp ?? '');

describe('misdirected uninstall', () => {
  it('reports an SDK uninstall whose DELETEs went to default and got 404 before the purge', () => {
    const events = [
      ...helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0, versions: [1, 2] }),
      ...noise(T0, T0 + 5000),
    ].sort(byTime);
    const [f, ...rest] = correlate(events);
    expect(rest).toEqual([]);
    expect(f?.code).toBe('misdirected-uninstall');
    expect(f?.severity).toBe('high');
    expect(f?.release).toEqual({ namespace: 'helm-test', name: 'web' });
    expect(f?.namespaces).toEqual(['helm-test', 'default']);
    expect(f?.actor).toEqual({ user: 'admin', userAgent: SDK_UA, client: 'client-go' });
    expect(f?.title).toContain('release helm-test/web purged while its DELETEs went to default (3× 404)');
    expect(f?.objects.map((o) => `${o.resource}.${o.apiGroup}/${o.namespace}/${o.name}:${o.state}`)).toEqual([
      'services./helm-test/web-web:likely-still-present',
      'deployments.apps/helm-test/web-web:likely-still-present',
      'configmaps./helm-test/web-config:likely-still-present',
    ]);
    // Evidence: record list, update, 3 DELETE 404s, 2x (get + purge), in time order.
    expect(f?.evidence.map((e) => `${e.verb} ${e.code}`)).toEqual([
      'list 200',
      'update 200',
      'delete 404',
      'delete 404',
      'delete 404',
      'get 200',
      'delete 200',
      'get 200',
      'delete 200',
    ]);
    expect(f?.evidence[2]?.note).toContain('helm-test/web-web never deleted');
    expect(f?.remedy.join('\n')).toContain('kubectl get -n helm-test services/web-web deployments.apps/web-web configmaps/web-config');
    expect(f?.remedy.join('\n')).toContain('kubectl get all -n helm-test -l app.kubernetes.io/instance=web');
    expect(f?.remedy.join('\n')).toContain('settings.SetNamespace("helm-test")');
    expect(f?.detail).toContain('helm/helm#12766');
  });

  it('reads ConfigMap storage like Secrets (an SDK program using cli.New(): Helm/<major>.<minor>)', () => {
    const [f, ...rest] = correlate(
      helmUninstall({ releaseNamespace: 'apps', release: 'db', deleteNamespace: 'other', deleteCode: 404, ua: HELM_SDK_UA, start: T0, driver: 'configmaps' }),
    );
    expect(rest).toEqual([]);
    expect(f?.code).toBe('misdirected-uninstall');
    expect(f?.severity).toBe('high');
    expect(f?.actor?.client).toBe('helm-sdk');
    expect(f?.detail).toContain('ConfigMaps sh.helm.release.v1.db.v{1}');
  });

  it("is low for the Helm CLI's agent (Helm 4 here): its storage and kube client share one namespace, so 404s elsewhere are the chart's explicit-namespace objects already gone", () => {
    const [f, ...rest] = correlate(
      helmUninstall({ releaseNamespace: 'apps', release: 'db', deleteNamespace: 'other', deleteCode: 404, ua: HELM4_UA, start: T0, driver: 'configmaps' }),
    );
    expect(rest).toEqual([]);
    expect(f?.code).toBe('misdirected-uninstall');
    expect(f?.severity).toBe('low');
    expect(f?.actor?.client).toBe('helm-cli');
    expect(f?.title).toContain('unconfirmed misdirected uninstall: release apps/db got 3× 404 in other');
    expect(f?.detail).toContain('ConfigMaps sh.helm.release.v1.db.v{1}');
    expect(f?.detail).toContain('3 of its DELETEs went to other and none to apps');
    expect(f?.objects).toEqual([]);
    expect(f?.remedy.join('\n')).toContain('helm template db CHART -n apps shows metadata.namespace: other');
    expect(f?.remedy.join('\n')).toContain('configmaps/sh.helm.release.v1.db.v1 in apps');
  });

  it("keeps the Helm CLI's session high when its DELETEs outside hit another release's objects (no 404 to explain)", () => {
    const victimRecords = auditEvent({ verb: 'get', uri: '/api/v1/namespaces/default/secrets/sh.helm.release.v1.web.v1', ua: HELM3_UA, at: T0 - 30_000 });
    const codes = correlate([victimRecords, ...helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', start: T0 })]).map(
      (f) => `${f.severity} ${f.code}`,
    );
    expect(codes.sort()).toEqual(['high misdirected-uninstall', 'medium cross-release-delete']);
  });

  it('says "marked uninstalled" for --keep-history', () => {
    const [f] = correlate(
      helmUninstall({ releaseNamespace: 'apps', release: 'db', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0, keepHistory: true }),
    );
    expect(f?.title).toContain('marked uninstalled');
    expect(f?.severity).toBe('high');
  });

  it('is medium when the records were never purged (failed uninstall or the log ends)', () => {
    const events = helmUninstall({ releaseNamespace: 'apps', release: 'db', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 }).filter(
      (e) => !(e.verb === 'delete' && e.requestURI.includes('sh.helm.release')),
    );
    const [f] = correlate(events);
    expect(f?.severity).toBe('medium');
    expect(f?.detail).toContain('were not purged');
  });

  it('does not flag a correct uninstall by the CLI or the SDK', () => {
    expect(correlate(helmUninstall({ releaseNamespace: 'apps', release: 'db', start: T0 }))).toEqual([]);
    expect(correlate(helmUninstall({ releaseNamespace: 'apps', release: 'db', ua: SDK_UA, start: T0 }))).toEqual([]);
    // Objects already gone in the release namespace: 404s there are fine.
    expect(correlate(helmUninstall({ releaseNamespace: 'apps', release: 'db', deleteCode: 404, start: T0 }))).toEqual([]);
  });

  /** The delete events of `events`, with a logged response body naming `owner` as their release. */
  const withOwner = (events: AuditEventV1[], owner: { ns: string; name: string }, onlyDeletesIn?: string): AuditEventV1[] =>
    events.map((e) => {
      if (e.verb !== 'delete' || e.objectRef?.resource === 'secrets' || (onlyDeletesIn && e.objectRef?.namespace !== onlyDeletesIn)) return e;
      return {
        ...e,
        responseObject: {
          metadata: {
            name: e.objectRef?.name,
            namespace: e.objectRef?.namespace,
            annotations: { 'meta.helm.sh/release-name': owner.name, 'meta.helm.sh/release-namespace': owner.ns },
          },
        },
      };
    });

  it("does not flag Flux helm-controller's shape: records in flux-system, the release and its objects in apps (DELETEs 200)", () => {
    const events = withOwner(helmUninstall({ releaseNamespace: 'flux-system', release: 'apps-db', deleteNamespace: 'apps', ua: SDK_UA, start: T0 }), {
      ns: 'apps',
      name: 'apps-db',
    });
    expect(correlate(events)).toEqual([]);
  });

  it("does not flag Flux's shape when the DELETEs answer 404 but the log shows the release owns those objects there", () => {
    // The install (same log) created the objects with their ownership annotations; they were deleted by hand since.
    const created = ['services/apps-db-web', 'configmaps/apps-db-config'].map((p, i) => {
      const [resource = '', name = ''] = p.split('/');
      const e = auditEvent({
        verb: 'create',
        uri: `/api/v1/namespaces/apps/${resource}`,
        ua: SDK_UA,
        at: T0 - 60_000 + i,
        level: 'RequestResponse',
        code: 201,
        responseObject: {
          metadata: { name, namespace: 'apps', annotations: { 'meta.helm.sh/release-name': 'apps-db', 'meta.helm.sh/release-namespace': 'apps' } },
        },
      });
      (e.objectRef as Record<string, string>)['name'] = name; // filled from the body by the API server
      return e;
    });
    const uninstall = helmUninstall({
      releaseNamespace: 'flux-system',
      release: 'apps-db',
      deleteNamespace: 'apps',
      deleteCode: 404,
      ua: SDK_UA,
      start: T0,
      resources: [
        { path: '/api/v1', resource: 'services', name: 'apps-db-web' },
        { path: '/api/v1', resource: 'configmaps', name: 'apps-db-config' },
      ],
    });
    expect(correlate([...created, ...uninstall])).toEqual([]);
  });

  describe("Flux helm-controller's uninstall at Metadata level (no body shows the owner): 404s in its target namespace", () => {
    const CONTROLLER = 'system:serviceaccount:flux-system:helm-controller';
    const CONTROLLER_UA = 'helm-controller/v1.6.4 (linux/amd64) kubernetes/$Format';
    /** helm-controller as spec.serviceAccountName: every Helm request impersonates the HelmRelease's ServiceAccount. */
    const uninstall = (start: number) =>
      helmUninstall({ releaseNamespace: 'apps', release: 'prod-db', deleteNamespace: 'prod', deleteCode: 404, ua: CONTROLLER_UA, user: CONTROLLER, start }).map(
        (e) => ({
          ...e,
          impersonatedUser: { username: 'system:serviceaccount:apps:deployer', groups: ['system:serviceaccounts'] },
        }),
      );
    /** Its own writes to the HelmRelease (status, then the finalizer), as itself. */
    const hrWrites = (at: number, user = CONTROLLER, ua = CONTROLLER_UA) => [
      auditEvent({ verb: 'patch', uri: '/apis/helm.toolkit.fluxcd.io/v2/namespaces/apps/helmreleases/db/status', user, ua, at }),
      auditEvent({ verb: 'patch', uri: '/apis/helm.toolkit.fluxcd.io/v2/namespaces/apps/helmreleases/db', user, ua, at: at + 10 }),
    ];

    it('is low when the same client (authenticated user and agent) wrote a HelmRelease around it, also when it impersonates for Helm', () => {
      const [f, ...rest] = correlate([...uninstall(T0), ...hrWrites(T0 + 200)]);
      expect(rest).toEqual([]);
      expect(f?.severity).toBe('low');
      expect(f?.actor?.user).toBe('system:serviceaccount:apps:deployer');
      expect(f?.detail).toContain('the client that also wrote HelmRelease apps/db at');
      expect(f?.detail).toContain("The release name prod-db is Flux's default for HelmRelease apps/db with spec.targetNamespace prod.");
      expect(f?.remedy.join('\n')).toContain("kubectl get helmrelease -n apps db -o jsonpath='{.spec.targetNamespace}'");
    });

    it('stays high when no HelmRelease write of that client is near: another client wrote it, or long before', () => {
      expect(correlate([...uninstall(T0), ...hrWrites(T0 + 200, 'admin', KUBECTL_UA)]).map((f) => f.severity)).toEqual(['high']);
      expect(correlate([...hrWrites(T0 - 10 * 60_000), ...uninstall(T0)]).map((f) => f.severity)).toEqual(['high']);
    });
  });

  it('still reports the worse variant when the namespace the DELETEs hit holds a release of that name with its own records', () => {
    const victimRecords = auditEvent({ verb: 'get', uri: '/api/v1/namespaces/default/secrets/sh.helm.release.v1.web.v1', ua: HELM3_UA, at: T0 - 30_000 });
    const events = withOwner(helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', ua: SDK_UA, start: T0 }), {
      ns: 'default',
      name: 'web',
    });
    const codes = correlate([victimRecords, ...events])
      .map((f) => f.code)
      .sort();
    expect(codes).toEqual(['cross-release-delete', 'misdirected-uninstall']);
  });

  it('does not flag a correct CLI uninstall with one 404 in another namespace the release owns there', () => {
    const events = helmUninstall({
      releaseNamespace: 'apps',
      release: 'multi',
      start: T0,
      resources: [
        { path: '/api/v1', resource: 'services', name: 'multi' },
        { path: '/api/v1', resource: 'configmaps', name: 'multi-shared' },
      ],
    });
    const shared = events.find((e) => e.requestURI.includes('/configmaps/multi-shared')) as AuditEventV1;
    Object.assign(
      shared,
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/shared/configmaps/multi-shared',
        ua: HELM3_UA,
        at: shared.requestReceivedTimestamp ?? T0,
        code: 404,
      }),
    );
    const install = auditEvent({
      verb: 'create',
      uri: '/api/v1/namespaces/shared/configmaps',
      ua: HELM3_UA,
      at: T0 - 60_000,
      level: 'RequestResponse',
      code: 201,
      responseObject: {
        metadata: {
          name: 'multi-shared',
          namespace: 'shared',
          annotations: { 'meta.helm.sh/release-name': 'multi', 'meta.helm.sh/release-namespace': 'apps' },
        },
      },
    });
    (install.objectRef as Record<string, string>)['name'] = 'multi-shared';
    expect(correlate([install, ...events])).toEqual([]);
  });

  it('never reports a client that only read records (a dashboard) and then deleted elsewhere, nor takes an empty list as records', () => {
    const ua = 'dashboard/v1.0.0 (linux/amd64) kubernetes/$Format';
    // An empty list in b, then a's record read: the client's latest record op names a/st.
    const reads = [
      auditEvent({ verb: 'list', uri: '/api/v1/namespaces/b/secrets?labelSelector=name%3Dst%2Cowner%3Dhelm', ua, at: T0 }),
      auditEvent({ verb: 'list', uri: '/api/v1/namespaces/a/secrets?labelSelector=name%3Dst%2Cowner%3Dhelm', ua, at: T0 + 10 }),
      auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/secrets/sh.helm.release.v1.st.v1', ua, at: T0 + 20 }),
    ];
    const del = auditEvent({
      verb: 'delete',
      uri: '/api/v1/namespaces/b/configmaps/st-config',
      ua,
      at: T0 + 1000,
      level: 'RequestResponse',
      responseObject: {
        metadata: { name: 'st-config', namespace: 'b', annotations: { 'meta.helm.sh/release-name': 'st', 'meta.helm.sh/release-namespace': 'b' } },
      },
    });
    expect(correlate([...reads, del])).toEqual([]);
  });

  it('never opens an uninstall session for kubectl touching a record by hand (kubectl label, then a delete elsewhere)', () => {
    const label = auditEvent({ verb: 'patch', uri: '/api/v1/namespaces/a/secrets/sh.helm.release.v1.st.v1', ua: KUBECTL_UA, at: T0 });
    const del = auditEvent({
      verb: 'delete',
      uri: '/api/v1/namespaces/b/configmaps/st-config',
      ua: KUBECTL_UA,
      at: T0 + 1000,
      level: 'RequestResponse',
      responseObject: {
        metadata: { name: 'st-config', namespace: 'b', annotations: { 'meta.helm.sh/release-name': 'st', 'meta.helm.sh/release-namespace': 'b' } },
      },
    });
    expect(correlate([label, del])).toEqual([]);
  });

  it('does not flag a multi-namespace chart whose explicit-namespace objects were deleted', () => {
    const events = helmUninstall({
      releaseNamespace: 'apps',
      release: 'multi',
      start: T0,
      resources: [
        { path: '/api/v1', resource: 'services', name: 'multi' },
        { path: '/api/v1', resource: 'configmaps', name: 'multi-shared' },
      ],
    });
    // The second object lives (explicitly) in namespace "shared": Helm deletes it there, 200.
    const shared = events.find((e) => e.requestURI.includes('/configmaps/multi-shared')) as AuditEventV1;
    Object.assign(
      shared,
      auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/shared/configmaps/multi-shared', ua: HELM3_UA, at: shared.requestReceivedTimestamp ?? T0 }),
    );
    expect(correlate(events)).toEqual([]);
  });

  it('ignores the DELETEs of hooks the session created itself', () => {
    const events = helmUninstall({ releaseNamespace: 'apps', release: 'db', start: T0 + 1000 });
    const hook = [
      auditEvent({ verb: 'create', uri: '/apis/batch/v1/namespaces/default/jobs/db-pre-delete', ua: HELM3_UA, at: T0 + 1020, code: 201 }),
      auditEvent({ verb: 'delete', uri: '/apis/batch/v1/namespaces/default/jobs/db-pre-delete', ua: HELM3_UA, at: T0 + 1030, code: 404 }),
    ];
    // Hooks are created between the record update and the resource DELETEs.
    expect(correlate([...events, ...hook].sort(byTime))).toEqual([]);
  });

  it("does not give a finished uninstall the next command's DELETEs", () => {
    // --keep-history, then an install whose before-hook-creation policy deletes a hook that is not there yet.
    const done = helmUninstall({ releaseNamespace: 'keep-hist', release: 'web', start: T0, keepHistory: true });
    const next = [
      auditEvent({ verb: 'list', uri: '/api/v1/namespaces/hooks/secrets?labelSelector=name%3Dhooked%2Cowner%3Dhelm', ua: HELM3_UA, at: T0 + 1_000 }),
      auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/hooks/configmaps/hooked-post-install', ua: HELM3_UA, at: T0 + 1_100, code: 404 }),
    ];
    expect(correlate([...done, ...next])).toEqual([]);
  });

  it('starts a new session when the same client uninstalls a re-installed release again', () => {
    const first = helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 });
    const second = helmUninstall({
      releaseNamespace: 'helm-test',
      release: 'web',
      deleteNamespace: 'default',
      deleteCode: 404,
      ua: SDK_UA,
      start: T0 + 20_000,
    });
    expect(correlate([...first, ...second]).map((f) => `${f.code} ${f.firstSeen}`)).toEqual([
      'misdirected-uninstall 2026-03-01T09:00:00.007Z',
      'misdirected-uninstall 2026-03-01T09:00:20.007Z',
    ]);
  });

  it('keeps concurrent sessions of different users and agents apart', () => {
    const a = helmUninstall({ releaseNamespace: 'a', release: 'x', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, user: 'bot', start: T0 });
    const b = helmUninstall({ releaseNamespace: 'b', release: 'y', ua: HELM3_UA, user: 'alice', start: T0 + 3 });
    const found = correlate([...a, ...b].sort(byTime));
    expect(found.map((f) => `${f.code} ${f.release?.namespace}/${f.release?.name} ${f.actor?.user}`)).toEqual(['misdirected-uninstall a/x bot']);
  });

  it("keeps concurrent uninstalls by one client apart: a DELETE in the namespace of one of its open sessions is that session's", () => {
    // Two `helm uninstall` of the same Helm version with the same credentials at once (a teardown
    // script or CI running them in parallel): their record ops interleave. x's DELETEs answer 404
    // in x's own namespace (already gone, e.g. removed by its own pre-delete hook), a correct uninstall.
    const a = helmUninstall({ releaseNamespace: 'a', release: 'x', deleteCode: 404, start: T0, ua: HELM4_UA });
    const b = helmUninstall({ releaseNamespace: 'b', release: 'y', start: T0 + 3, ua: HELM4_UA });
    expect(correlate([...a, ...b].sort(byTime))).toEqual([]);
    // The misdirected one of two concurrent uninstalls is still the one reported.
    const m = helmUninstall({ releaseNamespace: 'c', release: 'z', deleteNamespace: 'default', deleteCode: 404, start: T0 + 3, ua: HELM4_UA });
    expect(correlate([...a, ...m].sort(byTime)).map((f) => `${f.code} ${f.release?.namespace}/${f.release?.name}`)).toEqual(['misdirected-uninstall c/z']);
  });

  it("does not give an uninstall the DELETEs the same client's install in another namespace sends meanwhile", () => {
    // helm install of b/y (hooks with before-hook-creation: Helm deletes each hook object before
    // creating it, 404 the first time) while the same client uninstalls a/x.
    const uninstall = helmUninstall({ releaseNamespace: 'a', release: 'x', start: T0 + 10, ua: HELM3_UA });
    const install = [
      auditEvent({ verb: 'list', uri: '/api/v1/namespaces/b/secrets?labelSelector=name%3Dy%2Cowner%3Dhelm', ua: HELM3_UA, at: T0 }),
      auditEvent({ verb: 'create', uri: '/api/v1/namespaces/b/secrets/sh.helm.release.v1.y.v1', ua: HELM3_UA, at: T0 + 5, code: 201 }),
      auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/b/serviceaccounts/y-admission', ua: HELM3_UA, at: T0 + 16, code: 404 }),
      auditEvent({ verb: 'delete', uri: '/apis/batch/v1/namespaces/b/jobs/y-admission-create', ua: HELM3_UA, at: T0 + 18, code: 404 }),
      auditEvent({ verb: 'update', uri: '/api/v1/namespaces/b/secrets/sh.helm.release.v1.y.v1', ua: HELM3_UA, at: T0 + 60 }),
    ];
    expect(correlate([...uninstall, ...install].sort(byTime))).toEqual([]);
  });

  it('attributes back-to-back uninstalls by the same client to the right release', () => {
    const a = helmUninstall({ releaseNamespace: 'a', release: 'x', start: T0, ua: HELM3_UA });
    const b = helmUninstall({ releaseNamespace: 'b', release: 'y', deleteNamespace: 'default', deleteCode: 404, start: T0 + 200, ua: HELM3_UA });
    const found = correlate([...a, ...b]);
    expect(found.map((f) => `${f.release?.namespace}/${f.release?.name}`)).toEqual(['b/y']);
  });

  it('closes sessions after the window and does not attach later DELETEs', () => {
    const s = helmUninstall({ releaseNamespace: 'a', release: 'x', start: T0, ua: SDK_UA });
    const late = auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/default/services/x', ua: SDK_UA, at: T0 + 5 * 60_000, code: 404 });
    expect(correlate([...s, late])).toEqual([]);
  });
});

describe('cross-release deletes', () => {
  it('reports DELETEs of objects whose logged body names another release', () => {
    const owned = (ns: string) => ({
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: {
        name: 'web',
        namespace: ns,
        annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': ns },
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
      },
    });
    const events = [
      // The other release's Deployment was created earlier (RequestResponse level shows its annotations).
      auditEvent({
        verb: 'create',
        uri: '/apis/apps/v1/namespaces/default/deployments',
        at: T0 - 60_000,
        ua: HELM3_UA,
        level: 'RequestResponse',
        code: 201,
        requestObject: owned('default'),
        responseObject: owned('default'),
      }),
      ...helmUninstall({
        releaseNamespace: 'helm-test',
        release: 'web',
        deleteNamespace: 'default',
        ua: SDK_UA,
        start: T0,
        resources: [
          { path: '/apis/apps/v1', resource: 'deployments', name: 'web' },
          { path: '/api/v1', resource: 'services', name: 'web' },
        ],
      }),
    ];
    // The create's objectRef has no name (POST to the collection); the API server fills it from the body.
    ((events[0] as AuditEventV1).objectRef as Record<string, string>)['name'] = 'web';
    // That install also wrote default/web's own release record: a release of that name lives in
    // default, so the annotations name a victim, not this release's home (Flux's shape has none there).
    const record = auditEvent({ verb: 'create', uri: '/api/v1/namespaces/default/secrets', at: T0 - 60_001, ua: HELM3_UA, code: 201 });
    (record.objectRef as Record<string, string>)['name'] = 'sh.helm.release.v1.web.v1';
    events.unshift(record);
    // services/web: 404 (misdirected), deployments/web: 200 (another release's object destroyed).
    (events.find((e) => e.requestURI.endsWith('/services/web')) as AuditEventV1).responseStatus = { code: 404 };
    const found = correlate(events);
    expect(found.map((f) => f.code).sort()).toEqual(['cross-release-delete', 'misdirected-uninstall']);
    expect(found.find((f) => f.code === 'misdirected-uninstall')?.title).toContain("(1× 404, 1 deleted another release's objects)");
    const x = found.find((f) => f.code === 'cross-release-delete');
    expect(x?.severity).toBe('high');
    expect(x?.title).toBe('uninstall of helm-test/web deleted 1 object(s) of release default/web');
    expect(x?.objects).toEqual([{ resource: 'deployments', apiGroup: 'apps', namespace: 'default', name: 'web', state: 'deleted' }]);
    expect(x?.remedy[0]).toContain('helm rollback web -n default');
  });

  it('infers the victim from release records of the same name seen in the target namespace', () => {
    const events = [
      auditEvent({ verb: 'get', uri: '/api/v1/namespaces/default/secrets/sh.helm.release.v1.web.v3', at: T0 - 30_000, ua: HELM3_UA, user: 'alice' }),
      ...helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', ua: SDK_UA, start: T0 }),
    ];
    const found = correlate(events);
    // Both harms: helm-test/web's objects were never deleted, default/web's were.
    expect(found.map((f) => f.code)).toEqual(['misdirected-uninstall', 'cross-release-delete']);
    expect(found[0]?.title).toBe(
      "misdirected uninstall: release helm-test/web purged while its DELETEs went to default (3 deleted another release's objects): resources likely still running",
    );
    expect(found[0]?.objects.filter((o) => o.state === 'likely-still-present').map((o) => `${o.namespace}/${o.name}`)).toEqual([
      'helm-test/web-web',
      'helm-test/web-web',
      'helm-test/web-config',
    ]);
    expect(found[1]?.severity).toBe('medium');
    expect(found[1]?.detail).toContain('its records were seen in the log');
  });
});

describe('namespaces', () => {
  const nsDelete = (ns: string, at: number, code = 200, user = 'admin', ua = KUBECTL_UA) =>
    auditEvent({ verb: 'delete', uri: `/api/v1/namespaces/${ns}`, at, code, user, ua, level: 'RequestResponse' });
  const nc = (verb: string, uri: string, at: number, code = 200) => auditEvent({ verb, uri, at, code, user: NS_CONTROLLER, ua: NS_CONTROLLER_UA });

  it('reports a namespace deleted seconds after olm-operator, which then never completes', () => {
    const events = [
      auditEvent({ verb: 'create', uri: '/apis/operators.coreos.com/v1alpha1/namespaces/px-operator/clusterserviceversions', at: T0 - 600_000, code: 201 }),
      auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: T0, ua: HELM3_UA }),
      nsDelete('px-operator', T0 + 2_000, 200, 'admin', HELM3_UA),
      nc('delete', '/apis/operators.coreos.com/v1alpha1/namespaces/px-operator/clusterserviceversions/px-operator.v0.1.0', T0 + 3_000),
      nc('update', '/api/v1/namespaces/px-operator/status', T0 + 4_000),
      nc('list', '/apis/operators.coreos.com/v1alpha1/namespaces/px-operator/clusterserviceversions', T0 + 200_000),
    ];
    const [f, ...rest] = correlate(events);
    expect(rest).toEqual([]);
    expect(f?.code).toBe('namespace-finalizer-race');
    expect(f?.severity).toBe('high');
    expect(f?.title).toBe(
      'namespace px-operator deleted 2.0s after Deployment olm/olm-operator (OLM olm-operator) was removed: its finalizers have no controller',
    );
    expect(f?.namespaces).toEqual(['px-operator', 'olm']);
    expect(f?.evidence.map((e) => e.note)).toEqual([
      'Deployment olm/olm-operator (OLM olm-operator) was deleted',
      'namespace px-operator deleted',
      'namespace controller deleted ClusterServiceVersion px-operator.v0.1.0; only OLM olm-operator removes their operators.coreos.com/csv-cleanup finalizer',
      'namespace controller updated the namespace status (content or finalizers remaining)',
      'namespace px-operator still exists 198s after its deletion',
    ]);
    expect(f?.remedy.join('\n')).toContain(
      'kubectl patch clusterserviceversions.operators.coreos.com NAME -n px-operator --type=merge -p \'{"metadata":{"finalizers":null}}\'',
    );
  });

  it('follows a configured finalizer guard like the built-in one: its controller (by the labels a logged body shows) and its kind', () => {
    const vm: FinalizerGuard = {
      finalizer: 'apps.victoriametrics.com/finalizer',
      resource: { group: 'operator.victoriametrics.com', version: 'v1beta1', resource: 'vmagents', kind: 'VMAgent', namespaced: true },
      controller: {
        displayName: 'the VictoriaMetrics operator',
        deploymentSelector: 'app.kubernetes.io/name=victoria-metrics-operator',
        requireClusterRoleBinding: false,
      },
    };
    const operator = { metadata: { name: 'vm-operator', namespace: 'vm-system', labels: { 'app.kubernetes.io/name': 'victoria-metrics-operator' } } };
    const events = [
      auditEvent({ verb: 'create', uri: '/apis/operator.victoriametrics.com/v1beta1/namespaces/monitoring/vmagents', at: T0 - 600_000, code: 201 }),
      auditEvent({
        verb: 'delete',
        uri: '/apis/apps/v1/namespaces/vm-system/deployments/vm-operator',
        at: T0,
        ua: HELM3_UA,
        level: 'RequestResponse',
        responseObject: operator,
      }),
      nsDelete('monitoring', T0 + 2_000, 200, 'admin', HELM3_UA),
      nc('delete', '/apis/operator.victoriametrics.com/v1beta1/namespaces/monitoring/vmagents/main', T0 + 3_000),
      nc('update', '/api/v1/namespaces/monitoring/status', T0 + 200_000),
    ];
    const [f] = correlate(events, { finalizerGuards: [OLM_CSV_CLEANUP_GUARD, vm] });
    expect(f?.code).toBe('namespace-finalizer-race');
    expect(f?.title).toContain('after Deployment vm-system/vm-operator (the VictoriaMetrics operator) was removed');
    expect(f?.detail).toContain('apps.victoriametrics.com/finalizer');
    expect(f?.remedy.join('\n')).toContain('kubectl patch vmagents.operator.victoriametrics.com NAME -n monitoring');
    // Without that guard configured, the same log shows no controller removal (only OLM's is known).
    expect(correlate(events).map((x) => x.code)).not.toContain('namespace-finalizer-race');
  });

  it('names the objects a logged list response shows held by finalizers', () => {
    const csvList = {
      kind: 'ClusterServiceVersionList',
      apiVersion: 'operators.coreos.com/v1alpha1',
      metadata: {},
      items: [
        {
          kind: 'ClusterServiceVersion',
          metadata: { name: 'px.v1', namespace: 'px-operator', deletionTimestamp: '2026-03-01T09:00:03Z', finalizers: ['operators.coreos.com/csv-cleanup'] },
        },
      ],
    };
    const events = [
      nsDelete('px-operator', T0),
      auditEvent({
        verb: 'list',
        uri: '/apis/operators.coreos.com/v1alpha1/namespaces/px-operator/clusterserviceversions',
        at: T0 + 5_000,
        user: NS_CONTROLLER,
        ua: NS_CONTROLLER_UA,
        level: 'RequestResponse',
        responseObject: csvList,
      }),
      auditEvent({ verb: 'get', uri: '/api/v1/namespaces/px-operator', at: T0 + 90_000, user: NS_CONTROLLER, ua: NS_CONTROLLER_UA }),
    ];
    const [f] = correlate(events);
    expect(f?.code).toBe('namespace-deletion-incomplete');
    expect(f?.severity).toBe('high');
    expect(f?.objects).toEqual([
      { resource: 'namespaces', apiGroup: '', name: 'px-operator', state: 'deletion-stuck' },
      { resource: 'clusterserviceversions', apiGroup: 'operators.coreos.com', namespace: 'px-operator', name: 'px.v1', state: 'deletion-stuck' },
    ]);
    expect(f?.detail).toContain('Still held when last seen: clusterserviceversions px.v1 (operators.coreos.com/csv-cleanup).');
    expect(f?.remedy.join('\n')).toContain('kubectl patch clusterserviceversions.operators.coreos.com px.v1 -n px-operator --type=merge');
    expect(f?.remedy.join('\n')).toContain('-l olm.owner=px.v1,olm.owner.namespace=px-operator,olm.owner.kind=ClusterServiceVersion');
  });

  it('also counts a namespace deleted just before the controller went away', () => {
    const events = [
      auditEvent({ verb: 'get', uri: '/apis/operators.coreos.com/v1alpha1/namespaces/px-operator/clusterserviceversions/px.v1', at: T0 - 10_000 }),
      nsDelete('px-operator', T0),
      auditEvent({ verb: 'delete', uri: '/api/v1/namespaces/olm', at: T0 + 1_000, level: 'RequestResponse' }),
    ];
    const found = correlate(events);
    expect(found.map((f) => `${f.code} ${f.objects[0]?.name} ${f.severity}`)).toEqual(['namespace-finalizer-race px-operator medium']);
    expect(found[0]?.title).toContain('1.0s before namespace olm, home of OLM olm-operator');
  });

  it("does not call a race where nothing shows the controller's finalizers were there", () => {
    // No CSV seen in "scratch", and the log ends before it could complete: pending, not a finding.
    const events = [auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: T0 }), nsDelete('scratch', T0 + 5_000)];
    expect(correlate(events)).toEqual([]);
  });

  it('does not report a racing namespace that completed quickly', () => {
    const events = [
      auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: T0 }),
      nsDelete('plain', T0 + 1_000),
      nc('update', '/api/v1/namespaces/plain/finalize', T0 + 3_000),
      nc('delete', '/api/v1/namespaces/plain', T0 + 3_100),
    ];
    expect(correlate(events)).toEqual([]);
  });

  it('reports a racing namespace that hung for longer than the window before completing', () => {
    const events = [
      auditEvent({ verb: 'delete', uri: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', at: T0 }),
      nsDelete('stuck', T0 + 1_000),
      nc('delete', '/api/v1/namespaces/stuck', T0 + 300_000),
    ];
    const [f] = correlate(events);
    expect(f?.code).toBe('namespace-finalizer-race');
    expect(f?.detail).toContain('It hung in Terminating for 299s');
  });

  it('reports a deletion that never completed while the namespace visibly lingered', () => {
    const events = [
      nsDelete('team-a', T0),
      nsDelete('team-a', T0 + 100_000, 409),
      auditEvent({ verb: 'get', uri: '/api/v1/namespaces/team-a', at: T0 + 130_000 }),
    ];
    const [f, ...rest] = correlate(events);
    expect(rest).toEqual([]);
    expect(f?.code).toBe('namespace-deletion-incomplete');
    expect(f?.severity).toBe('medium');
    expect(f?.evidence.map((e) => `${e.verb} ${e.code} ${e.note}`)).toEqual([
      'delete 200 namespace team-a deleted',
      'delete 409 namespace still Terminating (DELETE repeated)',
      'get 200 namespace team-a still exists 130s after its deletion',
    ]);
  });

  it("counts 404 GETs, the namespace controller's final DELETE and re-creation as completion", () => {
    for (const done of [
      auditEvent({ verb: 'get', uri: '/api/v1/namespaces/team-a', at: T0 + 10_000, code: 404 }),
      nc('delete', '/api/v1/namespaces/team-a', T0 + 10_000),
      auditEvent({ verb: 'create', uri: '/api/v1/namespaces', at: T0 + 10_000, code: 201 }),
    ]) {
      if (done.verb === 'create') (done.objectRef as Record<string, string>)['name'] = 'team-a';
      const events = [nsDelete('team-a', T0), done, auditEvent({ verb: 'get', uri: '/api/v1/namespaces/team-a', at: T0 + 200_000 })];
      expect(correlate(events)).toEqual([]);
    }
  });

  it('keeps a deletion without later evidence as pending, not a finding', () => {
    const found: AuditFinding[] = [];
    const c = new Correlator({ windowMs: 60_000, onFinding: (f) => found.push(f) });
    c.push(toRecord(nsDelete('team-b', T0))!);
    c.flush();
    expect(found).toEqual([]);
    expect(c.pendingNamespaceDeletions()).toEqual([{ namespace: 'team-b', deletedAt: '2026-03-01T09:00:00.000000Z', user: 'admin' }]);
  });
});

describe("the guard's own annotations", () => {
  const verdict = (v: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      verdict: v,
      mode: v === 'deny' ? 'enforce' : 'warn',
      findings: [
        {
          code: 'namespace-strands-finalizers',
          severity: 'violation',
          summary: 'px-operator holds CSV px-operator.v0.1.0 whose finalizer has no controller',
          objects: [],
        },
      ],
      ...extra,
    });

  it('reports denials, warnings, undecided answers and break-glass overrides', () => {
    const events = [
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/px-operator',
        at: T0,
        code: 403,
        annotations: { 'namespaces.teardown-guard.io/olm-orphaned-finalizers': verdict('deny') },
      }),
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/px-operator',
        at: T0 + 5_000,
        code: 403,
        annotations: { 'namespaces.teardown-guard.io/olm-orphaned-finalizers': verdict('deny') },
      }),
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/helm-test/secrets/sh.helm.release.v1.web.v1',
        at: T0 + 6_000,
        ua: SDK_UA,
        annotations: { 'release-records.teardown-guard.io/helm-uninstall-namespace': verdict('warn') },
      }),
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/team-c',
        at: T0 + 7_000,
        annotations: {
          'namespaces.teardown-guard.io/olm-orphaned-finalizers': JSON.stringify({
            verdict: 'undecided',
            mode: 'enforce',
            findings: [],
            reason: 'cluster view not synced',
          }),
        },
      }),
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/px-operator',
        at: T0 + 8_000,
        annotations: {
          'namespaces.teardown-guard.io/olm-orphaned-finalizers': verdict('break-glass'),
          'namespaces.teardown-guard.io/break-glass': JSON.stringify({ reason: 'INC-4711: OLM removed on purpose', user: 'admin' }),
        },
      }),
    ];
    const found = correlate(events);
    expect(found.map((f) => f.code).sort()).toEqual(['guard-break-glass', 'guard-denied', 'guard-undecided', 'guard-warned']);
    const denied = found.find((f) => f.code === 'guard-denied');
    expect(denied?.title).toBe('teardown-guard denied delete namespaces px-operator by admin (2 requests)');
    expect(denied?.evidence).toHaveLength(2);
    expect(denied?.objects).toEqual([{ resource: 'namespaces', apiGroup: '', name: 'px-operator', state: 'denied' }]);
    expect(found.find((f) => f.code === 'guard-undecided')?.detail).toContain('cluster view not synced');
    expect(found.find((f) => f.code === 'guard-break-glass')?.detail).toContain('INC-4711: OLM removed on purpose');
  });

  it('reports fail-open annotations naming the guard, and ignores other webhooks', () => {
    const events = [
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/px-operator',
        at: T0,
        annotations: { 'failed-open.validating.webhook.admission.k8s.io/round_0_index_0': 'namespaces.teardown-guard.io' },
      }),
      auditEvent({
        verb: 'delete',
        uri: '/api/v1/namespaces/other',
        at: T0 + 1_000,
        annotations: { 'failed-open.validating.webhook.admission.k8s.io/round_0_index_2': 'namespaces.teardown-guard.io' },
      }),
      auditEvent({
        verb: 'create',
        uri: '/api/v1/namespaces/x/pods',
        at: T0 + 2_000,
        code: 201,
        annotations: { 'failed-open.validating.webhook.admission.k8s.io/round_0_index_0': 'validation.gatekeeper.sh' },
      }),
    ];
    const found = correlate(events);
    expect(found.map((f) => f.code)).toEqual(['guard-bypassed']);
    expect(found[0]?.severity).toBe('high');
    expect(found[0]?.title).toBe('teardown-guard was bypassed: webhook namespaces.teardown-guard.io failed open for 2 request(s) by admin');
    expect(found[0]?.namespaces).toEqual(['px-operator', 'other']);
  });
});

describe('bounded state', () => {
  it('evicts idle sessions by time and counts what it could not track', () => {
    const found: AuditFinding[] = [];
    const c = new Correlator({ windowMs: 1_000, maxSessions: 50, onFinding: (f) => found.push(f) });
    for (let i = 0; i < 5_000; i++) {
      for (const e of helmUninstall({ releaseNamespace: `ns${i}`, release: 'r', start: T0 + i * 2_000, ua: HELM3_UA })) c.push(toRecord(e)!);
      expect(c.stats().openSessions).toBeLessThanOrEqual(2);
    }
    // Within one window: the cap holds and the overflow is counted.
    for (let i = 0; i < 100; i++)
      c.push(toRecord(auditEvent({ verb: 'get', uri: `/api/v1/namespaces/burst/secrets/sh.helm.release.v1.r${i}.v1`, ua: HELM3_UA, at: T0 + 20_000_000 }))!);
    expect(c.stats().openSessions).toBe(50);
    expect(c.stats().overflow.sessions).toBe(50);
    c.flush();
    expect(found).toEqual([]);
  });
});
