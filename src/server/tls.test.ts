import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { X509Certificate } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.ts';
import { startServer, type RunningServer } from './server.ts';
import { collectLogs, generateCerts, httpsRequest, tempDir, tinyView } from '../../test/support/serverHarness.ts';
import { loadTlsMaterial, startTlsReloader, TlsMaterialError } from './tls.ts';
import { createAdmissionHandler } from '../admission/engine.ts';

function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function serve(certFile: string, keyFile: string, pollIntervalMs = 60_000) {
  const logs = collectLogs();
  const metrics = createMetrics({ defaultMetrics: false });
  const running: RunningServer = await startServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certFile, keyFile, pollIntervalMs, debounceMs: 100 },
    shutdown: { delayMs: 0, drainTimeoutMs: 1000 },
    admit: createAdmissionHandler({
      policies: [],
      view: tinyView({ synced: true }),
      settings: { exemptNamespaces: [], exemptUsers: [], finalizerGuards: [], breakGlassAnnotation: 'teardown-guard.io/break-glass' },
      modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' },
      undecided: 'allow',
    }),
    readiness: () => ({ synced: true, caches: [] }),
    metrics,
    logger: logs.logger,
    maxBodyBytes: 4 * 1024 * 1024,
  });
  cleanups.push(() => running.shutdown('test end'));
  return { running, logs, metrics };
}

describe('TLS material', () => {
  it('rejects a key that does not belong to the certificate, naming both files', () => {
    const a = tempDir('tg-tls-a');
    const b = tempDir('tg-tls-b');
    cleanups.push(a.remove, b.remove);
    const ca = generateCerts(a.path);
    const cb = generateCerts(b.path);
    expect(() => loadTlsMaterial({ certFile: ca.cert, keyFile: cb.key })).toThrow(TlsMaterialError);
    expect(() => loadTlsMaterial({ certFile: ca.cert, keyFile: cb.key })).toThrow(/does not match certificate/);
    expect(() => loadTlsMaterial({ certFile: join(a.path, 'missing.crt'), keyFile: ca.key })).toThrow(/cannot be read \(ENOENT\)/);
    writeFileSync(join(a.path, 'garbage.crt'), 'not a certificate');
    expect(() => loadTlsMaterial({ certFile: join(a.path, 'garbage.crt'), keyFile: ca.key })).toThrow(/not a PEM X\.509 certificate/);
  });
});

describe('TLS reload without restart', () => {
  it('serves a rotated certificate on new handshakes and drops no request while rotating', async () => {
    const dir = tempDir('tg-rotate');
    cleanups.push(dir.remove);
    const certs = generateCerts(dir.path);
    const ca = readFileSync(certs.ca);
    const oldFp = fingerprint(certs.cert);
    const { running, metrics } = await serve(certs.cert, certs.key);

    expect((await httpsRequest(running.port, { path: '/healthz', ca })).fingerprint256).toBe(oldFp);

    // Keep fresh connections coming (each a full handshake) across the rotation.
    const seen = new Set<string>();
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await httpsRequest(running.port, { path: '/healthz', ca });
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
          if (r.fingerprint256) seen.add(r.fingerprint256);
        } catch (err) {
          failures.push(String(err));
        }
      }
    })();
    // Plus a keep-alive connection opened before the rotation and used across it.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => keepAlive.destroy());
    expect((await httpsRequest(running.port, { path: '/healthz', ca, agent: keepAlive })).fingerprint256).toBe(oldFp);
    await sleep(100);
    generateCerts(dir.path); // same CA, new serving key and certificate (atomic renames)
    const newFp = fingerprint(certs.cert);
    expect(newFp).not.toBe(oldFp);
    await until('a handshake that presents the new certificate', () => seen.has(newFp));
    await sleep(100);
    stop = true;
    await loop;
    const reused = await httpsRequest(running.port, { path: '/healthz', ca, agent: keepAlive });
    expect(reused.status).toBe(200);
    expect(reused.fingerprint256).toBe(oldFp); // the established connection kept its session

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(2);
    expect(seen.has(oldFp)).toBe(true);
    expect((await httpsRequest(running.port, { path: '/healthz', ca })).fingerprint256).toBe(newFp);
    expect(running.reloader.current().fingerprint256).toBe(newFp);
    expect(await metrics.registry.getSingleMetricAsString('teardown_guard_tls_reloads_total')).toMatch(/result="success"\} [1-9]/);
  });

  it('keeps the old certificate when the new pair is bad, and logs why', async () => {
    const dir = tempDir('tg-badpair');
    const other = tempDir('tg-other');
    cleanups.push(dir.remove, other.remove);
    const certs = generateCerts(dir.path);
    const foreign = generateCerts(other.path);
    const ca = readFileSync(certs.ca);
    const goodFp = fingerprint(certs.cert);
    const { running, logs, metrics } = await serve(certs.cert, certs.key);

    copyFileSync(foreign.key, `${certs.key}.tmp`);
    renameSync(`${certs.key}.tmp`, certs.key); // key no longer matches the certificate
    await until('the rejection to be logged', () => logs.lines.some((l) => String(l['msg']).includes('rejected; keeping the current certificate')));
    expect(logs.text()).toContain('does not match certificate');
    const r = await httpsRequest(running.port, { path: '/healthz', ca });
    expect(r.status).toBe(200);
    expect(r.fingerprint256).toBe(goodFp);
    expect(await metrics.registry.getSingleMetricAsString('teardown_guard_tls_reloads_total')).toMatch(/result="failure"\} 1/);
    // The private key material itself never reaches the log.
    expect(logs.text()).not.toContain(readFileSync(foreign.key, 'utf8').split('\n')[1]);

    // A good pair later is picked up again.
    generateCerts(dir.path);
    const nextFp = fingerprint(certs.cert);
    await until('the good pair to be served', async () => (await httpsRequest(running.port, { path: '/healthz', ca })).fingerprint256 === nextFp);
  });

  it('follows a Kubernetes Secret volume update (..data symlink swap)', async () => {
    const dir = tempDir('tg-secretvol');
    cleanups.push(dir.remove);
    const v1 = generateCerts(join(dir.path, 'pki'));
    const ca = readFileSync(v1.ca);
    const vol = join(dir.path, 'vol');
    mkdirSync(join(vol, '..2025_01_01_v1'), { recursive: true });
    copyFileSync(v1.cert, join(vol, '..2025_01_01_v1', 'tls.crt'));
    copyFileSync(v1.key, join(vol, '..2025_01_01_v1', 'tls.key'));
    symlinkSync('..2025_01_01_v1', join(vol, '..data'));
    symlinkSync('..data/tls.crt', join(vol, 'tls.crt'));
    symlinkSync('..data/tls.key', join(vol, 'tls.key'));
    const { running } = await serve(join(vol, 'tls.crt'), join(vol, 'tls.key'));
    const oldFp = fingerprint(v1.cert);
    expect((await httpsRequest(running.port, { path: '/healthz', ca })).fingerprint256).toBe(oldFp);

    // What the kubelet does: write a new timestamped dir, then atomically rename a new ..data link over the old.
    const v2 = generateCerts(join(dir.path, 'pki'));
    const newFp = fingerprint(v2.cert);
    mkdirSync(join(vol, '..2025_01_02_v2'));
    copyFileSync(v2.cert, join(vol, '..2025_01_02_v2', 'tls.crt'));
    copyFileSync(v2.key, join(vol, '..2025_01_02_v2', 'tls.key'));
    symlinkSync('..2025_01_02_v2', join(vol, '..data_tmp'));
    renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
    await until('the swapped certificate to be served', async () => (await httpsRequest(running.port, { path: '/healthz', ca })).fingerprint256 === newFp);
  });

  it('falls back to polling when no watch event arrives', async () => {
    const dir = tempDir('tg-poll');
    cleanups.push(dir.remove);
    const certs = generateCerts(dir.path);
    const applied: SecureContextOptions[] = [];
    const logs = collectLogs();
    const reloader = startTlsReloader({
      files: { certFile: certs.cert, keyFile: certs.key },
      initial: loadTlsMaterial({ certFile: certs.cert, keyFile: certs.key }),
      target: {
        setSecureContext: (o) => {
          applied.push(o);
        },
      },
      logger: logs.logger,
      pollIntervalMs: 200,
      debounceMs: 60_000, // watch events would only fire after the test: the poll must do it
    });
    cleanups.push(() => reloader.stop());
    generateCerts(dir.path);
    await until('the poll to reload', () => applied.length === 1);
    expect(applied[0]?.minVersion).toBe('TLSv1.2');
    expect(reloader.current().fingerprint256).toBe(fingerprint(certs.cert));
    expect(reloader.check()).toBe('unchanged');
  });
});
