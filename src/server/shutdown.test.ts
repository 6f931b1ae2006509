import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdmissionResult } from '../admission/engine.ts';
import { createMetrics } from '../metrics.ts';
import { startServer } from './server.ts';
import { collectLogs, generateCerts, httpsRequest, namespaceDeleteReview, tempDir } from '../../test/support/serverHarness.ts';

const dir = tempDir('tg-shutdown');
const certs = generateCerts(dir.path);
const ca = readFileSync(certs.ca);
afterAll(() => dir.remove());

/** An admission handler that takes `ms`; `entered` resolves once a request has reached it (in flight). */
function slowAdmit(ms: number, entered: () => void): (body: unknown) => Promise<AdmissionResult> {
  return async (body) => {
    entered();
    await sleep(ms);
    const uid = (body as { request: { uid: string } }).request.uid;
    return { ok: true, decisions: [], review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } } };
  };
}

async function start(admitMs: number, shutdown: { delayMs: number; drainTimeoutMs: number }) {
  const logs = collectLogs();
  let entered = () => {};
  const inFlight = new Promise<void>((resolve) => (entered = resolve));
  const running = await startServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certFile: certs.cert, keyFile: certs.key, pollIntervalMs: 60_000 },
    shutdown,
    admit: slowAdmit(admitMs, () => entered()),
    readiness: () => ({ synced: true, caches: [] }),
    metrics: createMetrics({ defaultMetrics: false }),
    logger: logs.logger,
    maxBodyBytes: 4 * 1024 * 1024,
  });
  return { running, logs, inFlight };
}

const review = (uid: string) => JSON.stringify(namespaceDeleteReview(uid, 'x'));

describe('graceful shutdown', () => {
  it('fails readiness at once, keeps serving during the delay, then drains in-flight requests', async () => {
    const { running, inFlight } = await start(400, { delayMs: 300, drainTimeoutMs: 3000 });
    const port = running.port;
    const inflight = httpsRequest(port, { method: 'POST', path: '/validate', ca, body: review('in-flight'), headers: { 'content-type': 'application/json' } });
    // Shut down once the request is in flight, however long a loaded machine takes to get it there.
    await inFlight;
    const stopping = running.shutdown('SIGTERM');
    const ready = await httpsRequest(port, { path: '/readyz', ca });
    expect(ready.status).toBe(503);
    expect(ready.json()).toMatchObject({ ready: false, reason: 'shutting down' });
    expect((await httpsRequest(port, { path: '/healthz', ca })).status).toBe(200); // liveness unaffected
    const done = await inflight;
    expect(done.status).toBe(200);
    expect((done.json() as { response: { uid: string } }).response.uid).toBe('in-flight');
    await stopping;
    await expect(httpsRequest(port, { path: '/healthz', ca })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('bounds the drain: a request outliving drainTimeoutMs is cut off and shutdown still returns', async () => {
    const { running, logs, inFlight } = await start(5000, { delayMs: 0, drainTimeoutMs: 200 });
    const stuck = httpsRequest(running.port, { method: 'POST', path: '/validate', ca, body: review('stuck'), headers: { 'content-type': 'application/json' } });
    stuck.catch(() => undefined);
    await inFlight;
    const t0 = Date.now();
    await running.shutdown('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(stuck).rejects.toThrow();
    expect(logs.lines.some((l) => l['msg'] === 'drain timeout: closing connections with requests in flight')).toBe(true);
  });

  it('is idempotent', async () => {
    const { running } = await start(1, { delayMs: 0, drainTimeoutMs: 100 });
    await Promise.all([running.shutdown('a'), running.shutdown('b')]);
  });
});

describe('internal errors', () => {
  it('answer 500 JSON without details and the server keeps serving', async () => {
    const logs = collectLogs();
    const running = await startServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certFile: certs.cert, keyFile: certs.key, pollIntervalMs: 60_000 },
      shutdown: { delayMs: 0, drainTimeoutMs: 100 },
      admit: async () => {
        throw new Error('engine bug with secret-ish detail');
      },
      readiness: () => ({ synced: true, caches: [] }),
      metrics: createMetrics({ defaultMetrics: false }),
      logger: logs.logger,
      maxBodyBytes: 4 * 1024 * 1024,
    });
    try {
      const r = await httpsRequest(running.port, {
        method: 'POST',
        path: '/validate',
        ca,
        body: review('boom'),
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(500);
      expect(r.json()).toEqual({ error: 'internal error; see the teardown-guard log' });
      expect(logs.lines.some((l) => l['msg'] === 'internal error while serving request')).toBe(true);
      expect((await httpsRequest(running.port, { path: '/healthz', ca })).status).toBe(200);
    } finally {
      await running.shutdown('test end');
    }
  });
});
