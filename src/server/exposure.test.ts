// What a caller without credentials, or with wrong ones, gets from each path of the guard's one
// port (docs/SECURITY.md, "Who may call each endpoint" and "Who can reach each port"): every path
// the server knows and two it does not, with every method, on the webhook (`serve`) and on the
// audit receiver (`serve --audit-only`). The expected answers are the table below; anything else
// (a 2xx on /audit, an audit event or a request body echoed back, a path that answers where none
// is documented) fails the test.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmissionHandler } from '../admission/engine.ts';
import { createMetrics } from '../metrics.ts';
import type { AuditSink } from './app.ts';
import { createCallerAuthenticator } from './auth.ts';
import { startServer, type RunningServer } from './server.ts';
import { collectLogs, generateCerts, httpsRequest, tempDir, tinyView, type CertSet } from '../../test/support/serverHarness.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'teardown-guard-audit';
/** A marker in every body sent: no answer may contain it. */
const MARKER = 'secret-value-7f3a';

type Mode = 'webhook' | 'audit-only';
const PATHS = ['/validate', '/audit', '/healthz', '/readyz', '/metrics', '/', '/debug/pprof'] as const;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;
type Path = (typeof PATHS)[number];
type Method = (typeof METHODS)[number];

/** The documented answer to a caller without valid credentials: status, and what the body is. */
function expected(mode: Mode, path: Path, method: Method): { status: number; body: 'json-error' | 'ok' | 'metrics' } {
  switch (path) {
    case '/validate':
      // Any TLS client may ask for a verdict (a body it wrote; here one that is not an AdmissionReview).
      if (mode === 'audit-only') return { status: 404, body: 'json-error' };
      return method === 'POST' ? { status: 400, body: 'json-error' } : { status: 405, body: 'json-error' };
    case '/audit':
      return method === 'POST' ? { status: 401, body: 'json-error' } : { status: 405, body: 'json-error' };
    case '/healthz':
    case '/readyz':
      return method === 'GET' ? { status: 200, body: 'ok' } : { status: 404, body: 'json-error' };
    case '/metrics':
      return method === 'GET' ? { status: 200, body: 'metrics' } : { status: 404, body: 'json-error' };
    default:
      return { status: 404, body: 'json-error' };
  }
}

const dir = tempDir('tg-exposure');
const otherDir = tempDir('tg-exposure-other');
let certs: CertSet;
let foreign: CertSet;
let ca: Buffer;
let wrongToken: string;
const servers = new Map<Mode, RunningServer>();
const received: unknown[] = [];

beforeAll(async () => {
  certs = generateCerts(dir.path, { client: 'audit-shipper' });
  foreign = generateCerts(otherDir.path, { client: 'intruder' });
  ca = readFileSync(certs.ca);
  const trusted = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('ES256');
  const jwksFile = join(dir.path, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  // Right issuer, audience and key id, signed by a key the server does not trust.
  wrongToken = await new SignJWT({ sub: 'intruder' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(stranger.privateKey);
  const sink: AuditSink = {
    accept(events) {
      received.push(...events);
      return { accepted: events.length, dropped: 0 };
    },
  };
  for (const mode of ['webhook', 'audit-only'] as const) {
    servers.set(
      mode,
      await startServer({
        host: '127.0.0.1',
        port: 0,
        tls: { certFile: certs.cert, keyFile: certs.key, clientCAFile: certs.ca, pollIntervalMs: 60_000 },
        shutdown: { delayMs: 0, drainTimeoutMs: 1000 },
        ...(mode === 'webhook'
          ? {
              admit: createAdmissionHandler({
                policies: [],
                view: tinyView({ synced: true }),
                settings: { exemptNamespaces: [], exemptUsers: [], finalizerGuards: [], breakGlassAnnotation: 'teardown-guard.io/break-glass' },
                modes: {},
                undecided: 'allow',
              }),
            }
          : {}),
        readiness: () => ({ synced: true, caches: [] }),
        metrics: createMetrics({ defaultMetrics: false }),
        logger: collectLogs().logger,
        maxBodyBytes: 1024 * 1024,
        audit: { sink, auth: createCallerAuthenticator({ mtls: true, jwt: { jwksFile, issuer: ISSUER, audience: [AUDIENCE] } }), maxBodyBytes: 1024 * 1024 },
      }),
    );
  }
});

afterAll(async () => {
  for (const s of servers.values()) await s.shutdown('test end');
  dir.remove();
  otherDir.remove();
});

/** The callers, as what they add to a request: nothing, or credentials the server must refuse. */
const CALLERS: Record<string, () => { authorization?: string; cert?: Buffer; key?: Buffer }> = {
  'no credentials': () => ({}),
  'a bearer token signed by an untrusted key': () => ({ authorization: `Bearer ${wrongToken}` }),
  'a client certificate from another CA': () => ({ cert: readFileSync(foreign.clientCert), key: readFileSync(foreign.clientKey) }),
  'a Basic Authorization header': () => ({ authorization: 'Basic YWxpY2U6cGFzcw==' }),
};

describe.each(['webhook', 'audit-only'] as const)('the %s server, to callers without valid credentials', (mode) => {
  it.each(Object.keys(CALLERS))('answers every path and method as documented, to %s', async (caller) => {
    const { authorization, ...tlsClient } = CALLERS[caller]!();
    const server = servers.get(mode)!;
    const seen: string[] = [];
    const want: string[] = [];
    for (const path of PATHS)
      for (const method of METHODS) {
        const body = JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'EventList', items: [{ auditID: MARKER, level: 'Metadata' }] });
        const headers: Record<string, string> = authorization !== undefined ? { authorization } : {};
        const withBody = method === 'POST' || method === 'PUT';
        const r = await httpsRequest(server.port, {
          method,
          path,
          ca,
          ...(withBody
            ? { body, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }
            : { headers }),
          ...tlsClient,
        });
        const e = expected(mode, path, method);
        want.push(`${method} ${path} ${e.status}`);
        seen.push(`${method} ${path} ${r.status}`);
        expect(r.body, `${method} ${path}`).not.toContain(MARKER);
        if (e.body === 'json-error') expect(Object.keys(r.json() as object), `${method} ${path}`).toEqual(['error']);
        if (e.body === 'metrics') expect(r.body, `${method} ${path}`).toMatch(/^# HELP /m);
        if (e.body === 'ok' && r.status === 200) expect(r.headers['content-type'], `${method} ${path}`).toMatch(/application\/json/);
      }
    expect(seen).toEqual(want);
    expect(received).toEqual([]);
  });
});
