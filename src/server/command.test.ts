import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config.ts';
import { createMetrics } from '../metrics.ts';
import { registerServeCommand } from './command.ts';
import { startAuditReceiver, startServices } from './services.ts';
import { collectLogs, generateCerts, httpsRequest, namespaceDeleteReview, tempDir } from '../../test/support/serverHarness.ts';

function program(): { cmd: Command; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const cmd = new Command('teardown-guard').exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  registerServeCommand(cmd);
  for (const sub of cmd.commands) sub.exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  return { cmd, out, err };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const dir = tempDir('tg-command');
afterAll(() => dir.remove());

describe('teardown-guard serve', () => {
  it('--help lists the flags and the configuration keys with their env variables', async () => {
    const { cmd, out } = program();
    await expect(cmd.parseAsync(['node', 'tg', 'serve', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    const help = out.join('');
    for (const flag of ['--config <file>', '--port <port>', '--kubeconfig <file>', '--log-level <level>', '--tls-cert-file <file>', '--check-config']) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('TG_POLICIES_HELM_UNINSTALL_NAMESPACE_MODE');
    expect(help).toMatch(/policies\.olm-orphaned-finalizers\.mode\s+TG_POLICIES_OLM_ORPHANED_FINALIZERS_MODE\s+enforce/);
  });

  it('--check-config prints the effective settings, flags winning', async () => {
    const certs = generateCerts(join(dir.path, 'check'));
    const file = join(dir.path, 'check.yaml');
    writeFileSync(file, `tls: { certFile: ${JSON.stringify(certs.cert)}, keyFile: ${JSON.stringify(certs.key)} }\nlisten: { port: 9000 }\n`);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const { cmd } = program();
      await cmd.parseAsync(['node', 'tg', 'serve', '--config', file, '--port', '9100', '--check-config']);
      const printed = JSON.parse(String(log.mock.calls[0]?.[0])) as { listen: { port: number } };
      expect(printed.listen.port).toBe(9100);
    } finally {
      log.mockRestore();
    }
  });

  it('rejects a bad config before starting anything, naming the key', async () => {
    const { cmd } = program();
    await expect(cmd.parseAsync(['node', 'tg', 'serve', '--port', 'https', '--check-config'])).rejects.toThrow(
      /config: listen\.port: "https" is not an integer between 0 and 65535 \(from flag --port\)/,
    );
  });
});

/** A serve config on a free loopback port whose kubeconfig (file `name`) points at `apiPort`, with no real credentials. */
function serveConfig(certs: { cert: string; key: string }, apiPort: number, name: string) {
  const kubeconfig = join(dir.path, name);
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${apiPort}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: not-a-real-token } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
  );
  const { config } = loadConfig({
    env: {},
    flags: { 'listen.host': '127.0.0.1', 'listen.port': '0', 'tls.certFile': certs.cert, 'tls.keyFile': certs.key, kubeconfig },
  });
  config.shutdown = { delayMs: 0, drainTimeoutMs: 1000 };
  return config;
}

describe('startServices (real policies and cluster view, API server unreachable)', () => {
  it('serves /healthz, reports unsynced caches on /readyz, answers reviews as undecided, and stops cleanly', async () => {
    const certs = generateCerts(join(dir.path, 'svc'));
    const config = serveConfig(certs, await closedPort(), 'kubeconfig');
    const logs = collectLogs('info');
    const services = await startServices(config, logs.logger, createMetrics({ defaultMetrics: false }));
    const ca = readFileSync(certs.ca);
    const port = services.server.port;
    try {
      expect((await httpsRequest(port, { path: '/healthz', ca })).status).toBe(200);
      const ready = await httpsRequest(port, { path: '/readyz', ca });
      expect(ready.status).toBe(503);
      expect((ready.json() as { notSynced: string[] }).notSynced).toEqual(expect.arrayContaining(['namespaces', 'helm-secrets']));

      const body = JSON.stringify(namespaceDeleteReview('uid-undecided', 'px-operator'));
      const r = await httpsRequest(port, { method: 'POST', path: '/validate', ca, body, headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(200);
      const review = r.json() as { response: { uid: string; allowed: boolean; warnings?: string[] } };
      expect(review.response.uid).toBe('uid-undecided');
      expect(review.response.allowed).toBe(true); // undecided: allow (the default)
      expect(review.response.warnings?.join('\n')).toMatch(/not synced|has not synced/);
      expect(logs.lines.some((l) => l['msg'] === 'decision' && l['uid'] === 'uid-undecided' && l['verdict'] === 'undecided')).toBe(true);

      const metrics = await httpsRequest(port, { path: '/metrics', ca });
      expect(metrics.body).toMatch(/teardown_guard_undecided_total\{policy="olm-orphaned-finalizers",reason="cache-unsynced"\} 1/);
      expect(metrics.body).toMatch(/teardown_guard_cache_synced\{cache="namespaces"\} 0/);
    } finally {
      const t0 = Date.now();
      await services.stop('test end');
      expect(Date.now() - t0).toBeLessThan(5000);
    }
    await expect(httpsRequest(port, { path: '/healthz', ca })).rejects.toThrow();
  });
});

describe('startAuditReceiver (serve --audit-only: the audit receiver Deployment, which runs without a ServiceAccount token)', () => {
  it('never connects to the API server its kubeconfig names, is ready at once, refuses /validate and unauthenticated /audit', async () => {
    const certs = generateCerts(join(dir.path, 'audit'));
    // An "API server" that only counts connections: the receiver must open none.
    let connections = 0;
    const apiServer = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    apiServer.listen(0, '127.0.0.1');
    await once(apiServer, 'listening');
    const config = serveConfig(certs, (apiServer.address() as AddressInfo).port, 'audit-kubeconfig');
    const logs = collectLogs('info');
    const receiver = await startAuditReceiver(config, logs.logger, createMetrics({ defaultMetrics: false }));
    const ca = readFileSync(certs.ca);
    const port = receiver.server.port;
    try {
      const ready = await httpsRequest(port, { path: '/readyz', ca });
      expect(ready.status).toBe(200);
      expect(ready.json()).toEqual({ ready: true, caches: [] });
      const body = JSON.stringify(namespaceDeleteReview('uid-receiver', 'px-operator'));
      const validate = await httpsRequest(port, { method: 'POST', path: '/validate', ca, body, headers: { 'content-type': 'application/json' } });
      expect(validate.status).toBe(404);
      expect((validate.json() as { error: string }).error).toMatch(/audit events only/);
      const audit = await httpsRequest(port, {
        method: 'POST',
        path: '/audit',
        ca,
        body: JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'EventList', items: [] }),
        headers: { 'content-type': 'application/json' },
      });
      expect(audit.status).toBe(401);
      expect((await httpsRequest(port, { path: '/metrics', ca })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect(connections).toBe(0);
    } finally {
      await receiver.stop('test end');
      await new Promise((r) => apiServer.close(r));
    }
  });
});
