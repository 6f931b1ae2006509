import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmissionHandler } from '../admission/engine.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { AuditSink } from './app.ts';
import { createCallerAuthenticator } from './auth.ts';
import { startServer, type RunningServer } from './server.ts';
import { collectLogs, generateCerts, httpsRequest, namespaceDeleteReview, tempDir, tinyView, type CertSet } from '../../test/support/serverHarness.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'teardown-guard-audit';

const eventList = (n: number) =>
  JSON.stringify({
    kind: 'EventList',
    apiVersion: 'audit.k8s.io/v1',
    items: Array.from({ length: n }, (_, i) => ({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: `a-${i}`,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/secrets/x',
      verb: 'delete',
      user: { username: 'alice' },
      objectRef: { resource: 'secrets', namespace: 'default', name: 'x', apiVersion: 'v1' },
      responseStatus: { code: 404 },
      requestReceivedTimestamp: '2025-01-01T00:00:00.000000Z',
      stageTimestamp: '2025-01-01T00:00:00.100000Z',
    })),
  });

describe('POST /audit caller authentication', () => {
  const dir = tempDir('tg-audit');
  const otherDir = tempDir('tg-audit-other');
  let certs: CertSet;
  let foreign: CertSet;
  let ca: Buffer;
  let running: RunningServer;
  let metrics: Metrics;
  let privateKey: JoseKey;
  let strangerKey: JoseKey;
  const received: unknown[][] = [];
  let capacity = Infinity;

  const sink: AuditSink = {
    accept(events) {
      const accepted = Math.min(events.length, capacity);
      received.push(events.slice(0, accepted));
      return { accepted, dropped: events.length - accepted };
    },
  };

  const token = (key: JoseKey, claims: { iss?: string; aud?: string; exp?: string | number } = {}, alg = 'ES256') =>
    new SignJWT({ sub: 'audit-shipper' })
      .setProtectedHeader({ alg, kid: 'k1' })
      .setIssuer(claims.iss ?? ISSUER)
      .setAudience(claims.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '5m')
      .sign(key);

  const postAudit = (body: string, extra: Record<string, unknown> = {}) =>
    httpsRequest(running.port, {
      method: 'POST',
      path: '/audit',
      ca,
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...(extra['headers'] as Record<string, string> | undefined),
      },
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'headers')),
    });

  beforeAll(async () => {
    certs = generateCerts(dir.path, { client: 'audit-shipper' });
    foreign = generateCerts(otherDir.path, { client: 'intruder' });
    ca = readFileSync(certs.ca);
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwksFile = join(dir.path, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
    metrics = createMetrics({ defaultMetrics: false });
    running = await startServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certFile: certs.cert, keyFile: certs.key, clientCAFile: certs.ca, pollIntervalMs: 60_000 },
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
      logger: collectLogs().logger,
      maxBodyBytes: 4 * 1024 * 1024,
      audit: {
        sink,
        auth: createCallerAuthenticator({ mtls: true, jwt: { jwksFile, issuer: ISSUER, audience: [AUDIENCE] } }),
        maxBodyBytes: 1024 * 1024,
      },
    });
  });

  afterAll(async () => {
    await running?.shutdown('test end');
    dir.remove();
    otherDir.remove();
  });

  it('answers 401 JSON without credentials', async () => {
    const r = await postAudit(eventList(1));
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((r.json() as { error: string }).error).toMatch(/^unauthenticated: no credentials/);
  });

  it('accepts a valid JWT (local JWKS, issuer and audience checked) and hands the events over', async () => {
    const before = received.length;
    const r = await postAudit(eventList(3), { headers: { authorization: `Bearer ${await token(privateKey)}` } });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ accepted: 3, dropped: 0 });
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)).toHaveLength(3);
  });

  const rejected: Array<{ name: string; make: () => Promise<string>; error: RegExp }> = [
    { name: 'a wrong audience', make: () => token(privateKey, { aud: 'someone-else' }), error: /claim "aud"/ },
    { name: 'a wrong issuer', make: () => token(privateKey, { iss: 'https://evil.test' }), error: /claim "iss"/ },
    { name: 'an expired token', make: () => token(privateKey, { exp: Math.floor(Date.now() / 1000) - 3600 }), error: /expired/ },
    { name: 'a token signed by an unknown key', make: () => token(strangerKey), error: /bearer token rejected/ },
    {
      name: 'a symmetric (HS256) token',
      make: () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('x'.repeat(32))),
      error: /bearer token rejected/,
    },
    { name: 'garbage', make: async () => 'not.a.jwt', error: /bearer token rejected/ },
  ];
  for (const c of rejected) {
    it(`answers 401 for ${c.name}`, async () => {
      const r = await postAudit(eventList(1), { headers: { authorization: `Bearer ${await c.make()}` } });
      expect(r.status).toBe(401);
      expect((r.json() as { error: string }).error).toMatch(c.error);
    });
  }

  it('answers 401 for a non-Bearer Authorization header', async () => {
    const r = await postAudit(eventList(1), { headers: { authorization: 'Basic YWxpY2U6cGFzcw==' } });
    expect(r.status).toBe(401);
    expect((r.json() as { error: string }).error).toContain('Bearer <JWT>');
  });

  it('accepts a client certificate that chains to tls.clientCAFile (mTLS)', async () => {
    const r = await postAudit(eventList(2), { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ accepted: 2, dropped: 0 });
  });

  it('refuses a client certificate from another CA', async () => {
    const r = await postAudit(eventList(1), { cert: readFileSync(foreign.clientCert), key: readFileSync(foreign.clientKey) });
    expect(r.status).toBe(401);
    expect((r.json() as { error: string }).error).toMatch(/client certificate rejected/);
  });

  it('still serves /validate to callers without a client certificate (the API server)', async () => {
    const body = JSON.stringify(namespaceDeleteReview('uid-nocert', 'x'));
    const r = await httpsRequest(running.port, { method: 'POST', path: '/validate', ca, body, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
  });

  it('answers 400 to an authenticated caller sending something other than an EventList', async () => {
    const auth = { authorization: `Bearer ${await token(privateKey)}` };
    const notList = await postAudit(JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1' }), { headers: auth });
    expect(notList.status).toBe(400);
    expect((notList.json() as { error: string }).error).toContain('kind must be "EventList"');
    const notJson = await postAudit('{{', { headers: auth });
    expect(notJson.status).toBe(400);
    expect((notJson.json() as { error: string }).error).toContain('not valid JSON');
    const tooBig = await postAudit(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [], pad: 'x'.repeat(1024 * 1024) }), {
      headers: auth,
    });
    expect(tooBig.status).toBe(413);
    expect((tooBig.json() as { error: string }).error).toContain('audit.maxBodyBytes');
  });

  it('counts accepted and dropped events', async () => {
    capacity = 1;
    const r = await postAudit(eventList(4), { headers: { authorization: `Bearer ${await token(privateKey)}` } });
    capacity = Infinity;
    expect(r.json()).toEqual({ accepted: 1, dropped: 3 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/teardown_guard_audit_events_dropped_total 3/);
    expect(text).toMatch(/teardown_guard_audit_events_accepted_total \d+/);
    expect(text).toMatch(/teardown_guard_audit_requests_rejected_total\{reason="unauthenticated"\} [1-9]/);
  });
});

describe('remote JWKS (audit.jwt.jwksUrl)', () => {
  it('verifies tokens against keys fetched from a URL', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'r1', alg: 'RS256', use: 'sig' }] });
    const jwksServer = createHttpServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(jwks);
    });
    jwksServer.listen(0, '127.0.0.1');
    await once(jwksServer, 'listening');
    try {
      const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
      const auth = createCallerAuthenticator({ mtls: false, jwt: { jwksUrl: url, issuer: ISSUER, audience: [AUDIENCE] } });
      expect(auth.methods).toEqual(['jwt']);
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'r1' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('1m')
        .setSubject('shipper')
        .sign(privateKey);
      const ok = await auth.authenticate({ headers: { authorization: `Bearer ${jwt}` }, socket: {} } as never);
      expect(ok).toEqual({ ok: true, method: 'jwt', principal: 'jwt:shipper' });
      const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'r1' }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(privateKey);
      const bad = await auth.authenticate({ headers: { authorization: `Bearer ${noExp}` }, socket: {} } as never);
      expect(bad.ok).toBe(false);
    } finally {
      jwksServer.closeAllConnections();
      await new Promise((r) => jwksServer.close(r));
    }
  });

  it('refuses everything when no method is configured', async () => {
    const auth = createCallerAuthenticator({ mtls: false });
    const r = await auth.authenticate({ headers: {}, socket: {} } as never);
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('no caller authentication is configured') });
  });
});
