import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmissionHandler } from '../admission/engine.ts';
import { UndecidedError } from '../cluster/view.ts';
import { DEFAULT_BODY_BYTES } from '../config.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { Finding, Policy } from '../policies/types.ts';
import { startServer, type RunningServer } from './server.ts';
import { collectLogs, generateCerts, httpsRequest, namespaceDeleteReview, tempDir, tinyView, type CollectedLogs } from '../../test/support/serverHarness.ts';

const PASSWORD = 'hunter2-s3cr3t-PA55';

function finding(policy: Finding['policy'], severity: Finding['severity'], name: string): Finding {
  return {
    policy,
    severity,
    code: severity === 'violation' ? 'namespace-strands-finalizers' : 'record-purge-leaves-resources',
    summary: `test finding about ${name}`,
    detail: `detail about ${name}`,
    remedy: ['kubectl get ns'],
    objects: [{ apiVersion: 'v1', kind: 'Namespace', name }],
  };
}

// Stand-in policies: the server is under test here, not the policies.
const olmStandIn: Policy = {
  name: 'olm-orphaned-finalizers',
  appliesTo: (r) => r.resource.resource === 'namespaces' && r.operation === 'DELETE',
  async evaluate({ request }) {
    if (request.name === 'stuck') return [finding('olm-orphaned-finalizers', 'violation', 'stuck')];
    if (request.name === 'unsynced') throw new UndecidedError('cache-unsynced', 'cluster cache "namespaces" has not synced yet');
    return [];
  },
};
const helmStandIn: Policy = {
  name: 'helm-uninstall-namespace',
  appliesTo: (r) => r.resource.resource === 'secrets',
  async evaluate() {
    return [finding('helm-uninstall-namespace', 'risk', 'web')];
  },
};

describe('HTTPS app', () => {
  const dir = tempDir('tg-app');
  const state = { synced: false };
  let logs: CollectedLogs;
  let metrics: Metrics;
  let running: RunningServer;
  let ca: Buffer;

  const post = (body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, path = '/validate') =>
    httpsRequest(running.port, { method: 'POST', path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body, ca });
  const get = (path: string) => httpsRequest(running.port, { path, ca });

  beforeAll(async () => {
    const certs = generateCerts(dir.path);
    ca = readFileSync(certs.ca);
    logs = collectLogs();
    metrics = createMetrics({ defaultMetrics: false });
    const view = tinyView(state);
    const admit = createAdmissionHandler({
      policies: [olmStandIn, helmStandIn],
      view,
      settings: { exemptNamespaces: ['kube-system'], exemptUsers: [], finalizerGuards: [], breakGlassAnnotation: 'teardown-guard.io/break-glass' },
      modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' },
      undecided: 'allow',
    });
    running = await startServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certFile: certs.cert, keyFile: certs.key, pollIntervalMs: 60_000 },
      shutdown: { delayMs: 0, drainTimeoutMs: 1000 },
      admit,
      readiness: () => ({
        synced: state.synced,
        caches: [
          { name: 'namespaces', synced: state.synced, items: 0 },
          { name: 'discovery', synced: true },
        ],
      }),
      metrics,
      logger: logs.logger,
      maxBodyBytes: DEFAULT_BODY_BYTES,
    });
  });

  afterAll(async () => {
    await running?.shutdown('test end');
    dir.remove();
  });

  it('answers /healthz while the process is up', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 503 naming the unsynced caches until the view has synced, then 200', async () => {
    state.synced = false;
    const before = await get('/readyz');
    expect(before.status).toBe(503);
    expect(before.json()).toMatchObject({ ready: false, notSynced: ['namespaces'] });
    expect((before.json() as { reason: string }).reason).toContain('namespaces');
    state.synced = true;
    const after = await get('/readyz');
    expect(after.status).toBe(200);
    expect(after.json()).toMatchObject({ ready: true });
  });

  it('denies through the engine and logs exactly one decision line with the documented fields', async () => {
    const r = await post(JSON.stringify(namespaceDeleteReview('uid-deny-1', 'stuck')));
    expect(r.status).toBe(200);
    const review = r.json() as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; status?: { message?: string } } };
    expect(review.apiVersion).toBe('admission.k8s.io/v1');
    expect(review.kind).toBe('AdmissionReview');
    expect(review.response.uid).toBe('uid-deny-1');
    expect(review.response.allowed).toBe(false);
    const decisions = logs.lines.filter((l) => l['msg'] === 'decision' && l['uid'] === 'uid-deny-1');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      uid: 'uid-deny-1',
      policy: 'olm-orphaned-finalizers',
      verdict: 'deny',
      mode: 'enforce',
      object: 'Namespace stuck',
      user: 'alice',
      dryRun: false,
    });
    expect(typeof decisions[0]?.['latencyMs']).toBe('number');
  });

  it('answers undecided as allowed with a warning and counts it', async () => {
    const r = await post(JSON.stringify(namespaceDeleteReview('uid-undecided', 'unsynced')));
    const review = r.json() as { response: { allowed: boolean; warnings?: string[] } };
    expect(review.response.allowed).toBe(true);
    expect(review.response.warnings?.join('\n')).toContain('has not synced');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/teardown_guard_undecided_total\{policy="olm-orphaned-finalizers",reason="cache-unsynced"\} 1/);
  });

  it('never logs or answers with Secret data', async () => {
    const payload = Buffer.from(Buffer.from(JSON.stringify({ name: 'web', config: { password: PASSWORD } })).toString('base64')).toString('base64');
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'uid-secret',
        kind: { group: '', version: 'v1', kind: 'Secret' },
        resource: { group: '', version: 'v1', resource: 'secrets' },
        name: 'sh.helm.release.v1.web.v1',
        namespace: 'default',
        operation: 'DELETE',
        userInfo: { username: 'bob' },
        object: null,
        dryRun: false,
        oldObject: {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'helm.sh/release.v1',
          metadata: { name: 'sh.helm.release.v1.web.v1', namespace: 'default', labels: { owner: 'helm', name: 'web', status: 'deployed', version: '1' } },
          data: { release: payload },
          stringData: { password: PASSWORD },
        },
      },
    };
    const r = await post(JSON.stringify(review), { 'content-type': 'application/json', authorization: `Bearer ${PASSWORD}` });
    expect(r.status).toBe(200);
    expect(r.body).not.toContain(PASSWORD);
    expect(r.body).not.toContain(payload);
    expect(logs.lines.some((l) => l['uid'] === 'uid-secret')).toBe(true);
    expect(logs.text()).not.toContain(PASSWORD);
    expect(logs.text()).not.toContain(payload.slice(0, 40));
  });

  describe('bad input answers 4xx with a JSON error and never crashes', () => {
    const cases: Array<{ name: string; body: string | Buffer; headers?: Record<string, string>; status: number; error: RegExp }> = [
      { name: 'not JSON', body: 'this is not json', status: 400, error: /not valid JSON/ },
      { name: 'truncated JSON', body: '{"apiVersion": "admission.k8s.io/v1", "kind": ', status: 400, error: /not valid JSON/ },
      { name: 'a JSON string, not an object', body: '"AdmissionReview"', status: 400, error: /not valid JSON|JSON object/ },
      { name: 'a JSON array', body: '[]', status: 400, error: /JSON object/ },
      {
        name: 'wrong apiVersion',
        body: JSON.stringify({ ...namespaceDeleteReview('u', 'x'), apiVersion: 'admission.k8s.io/v1beta1' }),
        status: 400,
        error: /apiVersion must be "admission.k8s.io\/v1"/,
      },
      { name: 'wrong kind', body: JSON.stringify({ ...namespaceDeleteReview('u', 'x'), kind: 'Pod' }), status: 400, error: /kind must be "AdmissionReview"/ },
      {
        name: 'no request',
        body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
        status: 400,
        error: /request must be an object/,
      },
      { name: 'no request.uid', body: JSON.stringify(namespaceDeleteReview('', 'x')), status: 400, error: /request\.uid/ },
      { name: 'wrong Content-Type', body: '{}', headers: { 'content-type': 'text/plain' }, status: 415, error: /Content-Type must be application\/json/ },
      {
        name: 'unsupported Content-Encoding',
        body: '{}',
        headers: { 'content-type': 'application/json', 'content-encoding': 'x-bogus' },
        status: 415,
        error: /Content-Encoding "x-bogus"/,
      },
      { name: 'unsupported charset', body: '{}', headers: { 'content-type': 'application/json; charset=latin-9' }, status: 415, error: /charset/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const r = await post(c.body, c.headers);
        expect(r.status).toBe(c.status);
        expect(r.headers['content-type']).toMatch(/application\/json/);
        expect((r.json() as { error: string }).error).toMatch(c.error);
      });
    }

    it('an empty body', async () => {
      const r = await post('');
      expect(r.status).toBe(400);
      expect((r.json() as { error: string }).error).toMatch(/empty/);
    });

    it('a body over the limit (413) that names the limit', async () => {
      const big = JSON.stringify({ ...namespaceDeleteReview('big', 'x'), padding: 'x'.repeat(DEFAULT_BODY_BYTES) });
      const r = await post(big);
      expect(r.status).toBe(413);
      expect((r.json() as { error: string }).error).toMatch(new RegExp(`limit of ${DEFAULT_BODY_BYTES} bytes \\(maxBodyBytes\\)`));
    });

    it('a gzip bomb is measured after decompression (413)', async () => {
      const bomb = gzipSync(Buffer.alloc(DEFAULT_BODY_BYTES + 1024, 0x20));
      expect(bomb.length).toBeLessThan(64 * 1024);
      const r = await post(bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      expect(r.status).toBe(413);
    });

    it('a body with two 1.5 MiB objects (UPDATE) fits the default limit', async () => {
      const blob = 'a'.repeat(1.5 * 1024 * 1024 - 200);
      const review = namespaceDeleteReview('two-objects', 'fine', {
        operation: 'UPDATE',
        object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fine', annotations: { blob } } },
        oldObject: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fine', annotations: { blob } } },
      });
      const r = await post(JSON.stringify(review));
      expect(r.status).toBe(200);
      expect((r.json() as { response: { allowed: boolean } }).response.allowed).toBe(true);
    });

    it('GET /validate is 405 and unknown paths 404, both JSON', async () => {
      const r = await get('/validate');
      expect(r.status).toBe(405);
      expect(r.headers['allow']).toBe('POST');
      const n = await get('/nope');
      expect(n.status).toBe(404);
      expect((n.json() as { error: string }).error).toContain('/nope');
    });

    it('is still serving afterwards', async () => {
      expect((await get('/healthz')).status).toBe(200);
    });
  });

  it('negotiates TLS 1.2 and 1.3 and refuses TLS 1.1', async () => {
    expect((await httpsRequest(running.port, { path: '/healthz', ca, maxVersion: 'TLSv1.2' })).status).toBe(200);
    expect((await httpsRequest(running.port, { path: '/healthz', ca, minVersion: 'TLSv1.3' })).status).toBe(200);
    await expect(
      httpsRequest(running.port, { path: '/healthz', ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
    ).rejects.toThrow();
  });

  it('exposes Prometheus metrics with policy/verdict labels and cache state', async () => {
    metrics.setCacheSource(() => [
      { name: 'namespaces', synced: true, items: 3 },
      { name: 'helm-secrets', synced: false, items: 0 },
    ]);
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body;
    expect(text).toMatch(/teardown_guard_admission_requests_total\{policy="olm-orphaned-finalizers",verdict="deny"\} 1/);
    expect(text).toMatch(/teardown_guard_admission_requests_total\{policy="helm-uninstall-namespace",verdict="warn"\} 1/);
    expect(text).toMatch(/teardown_guard_admission_duration_seconds_bucket\{le="0\.005",policy="olm-orphaned-finalizers",verdict="deny"\} \d/);
    expect(text).toMatch(/teardown_guard_admission_duration_seconds_count\{policy="olm-orphaned-finalizers",verdict="deny"\} 1/);
    expect(text).toMatch(/teardown_guard_cache_synced\{cache="namespaces"\} 1/);
    expect(text).toMatch(/teardown_guard_cache_synced\{cache="helm-secrets"\} 0/);
    expect(text).toMatch(/teardown_guard_cache_items\{cache="namespaces"\} 3/);
    expect(text).toMatch(/teardown_guard_admission_rejected_requests_total\{status="413"\} [1-9]/);
    expect(text).toMatch(/teardown_guard_admission_rejected_requests_total\{status="400"\} [1-9]/);
    expect(text).toContain('# TYPE teardown_guard_tls_reloads_total counter');
    expect(text).toContain('# TYPE teardown_guard_break_glass_total counter');
    expect(text).toMatch(/teardown_guard_tls_certificate_not_after_seconds \d+/);
  });
});
