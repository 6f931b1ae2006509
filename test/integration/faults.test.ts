// Faults, on the real loopback control plane with the guard as a host process (issue: scale,
// latency and resilience). Each test injects one fault and checks what an operator relies on:
// readiness tells the truth, decisions stay right, nothing hangs past the webhook timeout.
// (A watch answered 410 Gone relisting is proven in clusterView.test.ts with real etcd compaction;
// SIGTERM draining in-flight requests in src/server/shutdown.test.ts.)
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { makeLeaf } from '../cluster/pki.ts';
import { sleep, waitFor } from '../cluster/proc.ts';
import { csvManifest } from '../scenarios/objects.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { capturedReview } from '../support/fixtures.ts';

let cp: ControlPlane;
let guard: Guard;

function get(url: string, caPem: string, timeoutMs = 3000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function post(url: string, caPem: string, body: unknown, timeoutMs = 10_000): Promise<{ status: number; json: Record<string, unknown>; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = httpsRequest(
      url,
      { method: 'POST', ca: caPem, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': data.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, ms: Date.now() - t0 }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A namespace holding a CSV that carries csv-cleanup, with no olm-operator anywhere: deleting it would hang. */
async function strandedNamespace(name: string): Promise<void> {
  await cp.kubectl(['create', 'namespace', name]);
  const csv = csvManifest(name, 'op.v1') as { metadata: Record<string, unknown> };
  csv.metadata['finalizers'] = ['operators.coreos.com/csv-cleanup'];
  const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(csv) });
  if (r.code !== 0) throw new Error(`creating the CSV failed: ${r.stderr}`);
}

async function dryRunDelete(ns: string): Promise<{ code: number; stderr: string }> {
  return cp.kubectl(['delete', 'namespace', ns, '--dry-run=server']);
}

beforeAll(async () => {
  cp = await startControlPlane({ olm: 'crds' });
  guard = await startGuard(cp, {
    modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' },
    extraYaml: 'liveLookup:\n  timeoutMs: 1500',
  });
  await guard.register('Fail');
  await strandedNamespace('stuck-a');
});

afterAll(async () => {
  await guard?.stop();
  await cp?.stop();
});

describe('faults on a real control plane', () => {
  it('API server restart: readiness drops and returns, watches resume, decisions after recovery are right', async () => {
    expect(await get(`${guard.url}/readyz`, guard.certs.caPem)).toBe(200);
    expect((await dryRunDelete('stuck-a')).stderr).toMatch(/denied the request/);

    await cp.stopComponent('kube-apiserver');
    await waitFor(
      'guard /readyz to fail while the API server is down',
      30_000,
      async () => ((await get(`${guard.url}/readyz`, guard.certs.caPem)) === 503 ? true : undefined),
      250,
    );
    expect(await get(`${guard.url}/healthz`, guard.certs.caPem)).toBe(200); // alive, just not ready

    await cp.startComponent('kube-apiserver');
    await waitFor('guard /readyz to return', 60_000, async () => ((await get(`${guard.url}/readyz`, guard.certs.caPem)) === 200 ? true : undefined), 250);

    // Objects created after the restart are seen (the watches resumed), and old decisions hold.
    await strandedNamespace('stuck-late');
    await waitFor(
      'the guard to deny deleting stuck-late',
      20_000,
      async () => (/denied the request/.test((await dryRunDelete('stuck-late')).stderr) ? true : undefined),
      250,
    );
    expect((await dryRunDelete('stuck-a')).stderr).toMatch(/denied the request/);
    await cp.kubectl(['create', 'namespace', 'plain']);
    expect((await dryRunDelete('plain')).code).toBe(0);
  });

  it('certificate files rotated while serving: new handshakes get the new certificate, no request fails', async () => {
    const peerSerial = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: guard.port, ca: guard.certs.caPem, servername: 'localhost' }, () => {
          const serial = socket.getPeerCertificate().serialNumber;
          socket.end();
          resolve(serial);
        });
        socket.on('error', reject);
      });
    const before = await peerSerial();
    // Requests through the API server keep flowing while the files change (failurePolicy Fail:
    // a dropped or failed handshake would show up as an error here).
    let stop = false;
    const answers: number[] = [];
    const load = (async () => {
      for (let i = 0; i < 200 && !stop; i++) answers.push((await dryRunDelete('stuck-a')).code);
    })();
    await sleep(500);
    // Same CA (the registered caBundle stays valid), new key and certificate, swapped by rename.
    const ca = { cert: join(guard.certs.dir, 'ca.crt'), key: join(guard.certs.dir, 'ca.key'), pem: guard.certs.caPem };
    const next = await makeLeaf(guard.certs.dir, 'rotated', ca, { cn: 'teardown-guard', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
    writeFileSync(`${guard.certs.certFile}.new`, readFileSync(next.cert));
    writeFileSync(`${guard.certs.keyFile}.new`, readFileSync(next.key));
    renameSync(`${guard.certs.keyFile}.new`, guard.certs.keyFile);
    renameSync(`${guard.certs.certFile}.new`, guard.certs.certFile);
    await waitFor('the guard to serve the new certificate', 30_000, async () => ((await peerSerial()) !== before ? true : undefined), 250);
    await sleep(500);
    stop = true;
    await load;
    expect(answers.length).toBeGreaterThan(3);
    // Every answer is the guard's denial (exit 1 from kubectl); none is a transport failure.
    expect(answers.every((code) => code === 1)).toBe(true);
    expect((await dryRunDelete('stuck-a')).stderr).toMatch(/teardown-guard \[olm-orphaned-finalizers\]/);
  });

  it('etcd stopped: the guard answers undecided within its budget, well under the webhook timeout', async () => {
    const purge = capturedReview('record-delete-misdirected-purge.json').review;
    const nsDelete = capturedReview('namespace-delete.json').review;
    await cp.stopComponent('etcd');
    try {
      // The API server cannot reach etcd, so it never sends a DELETE to admission; the guard is
      // asked directly, as the API server would if its cache served the object. The record purge
      // needs live reads, which now fail or time out.
      const answer = await post(`${guard.url}/validate`, guard.certs.caPem, purge);
      expect(answer.status).toBe(200);
      expect(answer.ms).toBeLessThan(5000);
      const response = answer.json['response'] as { allowed: boolean; warnings?: string[] };
      expect(response.allowed).toBe(true); // undecided: allow (the default)
      expect(response.warnings?.join('\n')).toMatch(/could not check this request/);
      // A namespace DELETE is answered from the caches, as fast as ever.
      const ns = await post(`${guard.url}/validate`, guard.certs.caPem, nsDelete);
      expect(ns.status).toBe(200);
      expect(ns.ms).toBeLessThan(5000);
    } finally {
      await cp.startComponent('etcd');
    }
  });

  it('etcd stopped with undecided: deny: the guard denies, saying why, within its budget', async () => {
    const denyGuard = await startGuard(cp, {
      modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' },
      extraYaml: 'undecided: deny\nliveLookup:\n  timeoutMs: 1500',
    });
    try {
      await cp.stopComponent('etcd');
      const answer = await post(`${denyGuard.url}/validate`, denyGuard.certs.caPem, capturedReview('record-delete-misdirected-purge.json').review);
      expect(answer.ms).toBeLessThan(5000);
      const response = answer.json['response'] as { allowed: boolean; status?: { message?: string } };
      expect(response.allowed).toBe(false);
      expect(response.status?.message).toMatch(/could not decide \(.+\) and is configured to deny when undecided/);
    } finally {
      await cp.startComponent('etcd');
      await denyGuard.stop();
    }
  });
});
