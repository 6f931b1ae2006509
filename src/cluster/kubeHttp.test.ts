// The API server client over an in-memory connection per request (KubeTransport): the real
// node:http client writes the request and parses the answer; the test only decides what bytes come
// back and when. The Status bodies have the shape the real API server sends (meta/v1 Status: kind,
// code, reason, message, details.causes; test/integration/clusterView.test.ts meets them live).
// What the client's errors become for a review (typed undecided kinds) is asserted through LiveReader.
import { Duplex } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Discovery } from './discovery.ts';
import { createKubeHttpClient, isExpiredError, KubeApiError, type KubeHttpClient, type KubeTransport } from './kubeHttp.ts';
import { LiveReader } from './liveReads.ts';
import { UndecidedError } from './view.ts';

/** What the API server does with one request: answer with these bytes (maybe in parts), or say nothing. */
type Reply = { status: number; body: unknown; parts?: number; pauseMs?: number } | 'silence';

function httpResponse(status: number, body: unknown): Buffer {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/html' : 'application/json';
  return Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/** A connection that records the request and plays `reply` once the request is complete. */
function connection(reply: Reply, requests: string[], progress: { partsSent: number }): Duplex {
  let request = '';
  let timer: NodeJS.Timeout | undefined;
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      request += chunk.toString('latin1');
      if (request.includes('\r\n\r\n') && reply !== 'silence') {
        requests.push(request);
        play(reply);
      } else if (reply === 'silence' && request.includes('\r\n\r\n')) {
        requests.push(request);
      }
      done();
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
  const play = (r: Exclude<Reply, 'silence'>): void => {
    const bytes = httpResponse(r.status, r.body);
    const parts = r.parts ?? 1;
    const size = Math.ceil(bytes.length / parts);
    let i = 0;
    const next = (): void => {
      if (socket.destroyed) return;
      socket.push(bytes.subarray(i * size, (i + 1) * size));
      i++;
      progress.partsSent++;
      if (i < parts) timer = setTimeout(next, r.pauseMs ?? 0);
      else socket.push(null);
    };
    setImmediate(next);
  };
  // node:http asks its socket for an inactivity timer (req.setTimeout); net.Socket has one, a Duplex does not.
  let idle: NodeJS.Timeout | undefined;
  Object.assign(socket, {
    setTimeout(ms: number, cb?: () => void) {
      clearTimeout(idle);
      if (cb) socket.once('timeout', cb);
      if (ms > 0) idle = setTimeout(() => socket.emit('timeout'), ms);
      return socket;
    },
    setNoDelay: () => socket,
    setKeepAlive: () => socket,
  });
  socket.on('close', () => clearTimeout(idle));
  return socket;
}

function client(replies: Reply[]): { client: KubeHttpClient; requests: string[]; progress: { partsSent: number } } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const requests: string[] = [];
  const progress = { partsSent: 0 };
  const transport: KubeTransport = { connect: () => connection(replies.shift() ?? 'silence', requests, progress) };
  return { client: createKubeHttpClient(kubeConfig, transport), requests, progress };
}

const status = (code: number, reason: string, message: string, causes: string[] = []) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
  ...(causes.length ? { details: { causes: causes.map((r) => ({ reason: r, message: 'm' })) } } : {}),
});

const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'olm-operator', namespace: 'olm', resourceVersion: '7' } };

describe('KubeHttpClient', () => {
  it('sends the path, query, Accept and credentials, and parses a JSON body that arrives in parts', async () => {
    const { client: c, requests } = client([{ status: 200, body: deployment, parts: 3, pauseMs: 5 }]);
    const got = await c.getJson({
      path: '/apis/apps/v1/namespaces/olm/deployments/olm-operator',
      query: { resourceVersion: '0', limit: undefined },
      accept: 'application/json',
    });
    expect(got).toEqual(deployment);
    expect(requests[0]).toMatch(/^GET \/apis\/apps\/v1\/namespaces\/olm\/deployments\/olm-operator\?resourceVersion=0 HTTP\/1\.1\r\n/);
    expect(requests[0]).toMatch(/\r\nAccept: application\/json\r\n/);
    expect(requests[0]).toMatch(/\r\nAuthorization: Bearer test-token\r\n/);
    c.close();
  });

  it('writes: a PUT or POST carries the object as JSON, and a 409 Conflict names the method', async () => {
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'memory', namespace: 'guard', resourceVersion: '9' }, data: { k: 'v' } };
    const { client: c, requests } = client([
      { status: 200, body: configMap },
      { status: 409, body: status(409, 'AlreadyExists', 'configmaps "memory" already exists') },
    ]);
    const put = { method: 'PUT', path: '/api/v1/namespaces/guard/configmaps/memory', accept: 'application/json', body: configMap } as const;
    expect(await c.sendJson(put)).toEqual(configMap);
    expect(requests[0]).toMatch(/^PUT \/api\/v1\/namespaces\/guard\/configmaps\/memory HTTP\/1\.1\r\n/);
    expect(requests[0]).toMatch(/\r\nContent-Type: application\/json\r\n/);
    expect(requests[0]).toContain(JSON.stringify(configMap));
    const err = await c.sendJson({ ...put, method: 'POST', path: '/api/v1/namespaces/guard/configmaps' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      statusCode: 409,
      reason: 'AlreadyExists',
      message: 'POST /api/v1/namespaces/guard/configmaps: HTTP 409: configmaps "memory" already exists',
    });
    c.close();
  });

  it('a 404 Status is a KubeApiError with the code, reason and message', async () => {
    const { client: c } = client([{ status: 404, body: status(404, 'NotFound', 'deployments.apps "x" not found') }]);
    const err = await c.getJson({ path: '/apis/apps/v1/namespaces/olm/deployments/x', accept: 'application/json' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({
      statusCode: 404,
      reason: 'NotFound',
      message: 'GET /apis/apps/v1/namespaces/olm/deployments/x: HTTP 404: deployments.apps "x" not found',
    });
    expect(isExpiredError(err)).toBe(false);
  });

  it('410 Expired and 504 ResourceVersionTooLarge both say: relist', async () => {
    const { client: c } = client([
      { status: 410, body: status(410, 'Expired', 'too old resource version: 5 (90)') },
      { status: 504, body: status(504, 'Timeout', 'Too large resource version', ['ResourceVersionTooLarge']) },
      { status: 500, body: status(500, 'InternalError', 'etcdserver: request timed out') },
    ]);
    const errs = await Promise.all([1, 2, 3].map(() => c.getJson({ path: '/api/v1/secrets', accept: 'application/json' }).catch((e: unknown) => e)));
    expect(errs.map(isExpiredError)).toEqual([true, true, false]);
    expect(errs[1]).toMatchObject({ statusCode: 504, causes: ['ResourceVersionTooLarge'] });
  });

  it('an error body that is not a Status (a proxy page) still gives the status code', async () => {
    const { client: c } = client([{ status: 502, body: '<html>Bad Gateway</html>' }]);
    const err = await c.getJson({ path: '/api/v1/namespaces', accept: 'application/json' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 502, reason: undefined, message: 'GET /api/v1/namespaces: HTTP 502' });
  });

  it('the deadline firing before the answer ends the request', async () => {
    const { client: c, requests } = client(['silence']);
    const review = new AbortController();
    const pending = c.getJson({ path: '/api/v1/namespaces/olm', accept: 'application/json', signal: review.signal }).catch((e: unknown) => e);
    await until(() => requests.length === 1);
    review.abort(new Error('budget ran out'));
    const err = await pending;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
  });

  it('the deadline firing in the middle of a body ends the request too', async () => {
    const { client: c, progress } = client([{ status: 200, body: deployment, parts: 2, pauseMs: 60_000 }]);
    const review = new AbortController();
    const pending = c
      .getJson({ path: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', accept: 'application/json', signal: review.signal })
      .catch((e: unknown) => e);
    await until(() => progress.partsSent === 1); // headers and the first half of the body are out; the rest would take a minute
    review.abort(new Error('budget ran out'));
    expect(await pending).toBeInstanceOf(Error);
    expect(progress.partsSent).toBe(1);
  });

  it('a socket silent for idleTimeoutMs fails the request', async () => {
    const { client: c } = client(['silence']);
    const err = await c.getJson({ path: '/api/v1/namespaces', accept: 'application/json', idleTimeoutMs: 30 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('GET /api/v1/namespaces: no data for 30 ms');
  });
});

describe('API server answers as a review sees them (LiveReader over KubeHttpClient)', () => {
  const discoveryDocs = (): Reply[] => [
    { status: 200, body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', items: [] } },
    { status: 200, body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', items: [] } },
  ];
  const reader = (replies: Reply[], timeoutMs = 10_000): LiveReader => {
    const { client: c } = client(replies);
    return new LiveReader({ client: c, discovery: new Discovery({ client: c }), timeoutMs, concurrency: 2 });
  };
  const kindOf = async (p: Promise<unknown>): Promise<string> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    return err instanceof UndecidedError ? err.kind : `not undecided: ${String(err)}`;
  };

  it('200 is the object, 404 is "absent", 403 is forbidden, 401 forbidden, 500 lookup-failed', async () => {
    const live = reader([
      { status: 200, body: deployment },
      { status: 404, body: status(404, 'NotFound', 'not found') },
      {
        status: 403,
        body: status(403, 'Forbidden', 'deployments.apps is forbidden: User "system:serviceaccount:teardown-guard:teardown-guard" cannot get resource'),
      },
      { status: 401, body: status(401, 'Unauthorized', 'Unauthorized') },
      { status: 500, body: status(500, 'InternalError', 'etcdserver: request timed out') },
    ]);
    expect((await live.deployment('olm', 'olm-operator'))?.metadata?.name).toBe('olm-operator');
    expect(await live.deployment('olm', 'gone')).toBeUndefined();
    expect(await kindOf(live.deployment('olm', 'a'))).toBe('forbidden');
    expect(await kindOf(live.deployment('olm', 'b'))).toBe('forbidden');
    expect(await kindOf(live.deployment('olm', 'c'))).toBe('lookup-failed');
  });

  it("a silent API server: the review's deadline makes it timeout, and so does the read's own budget", async () => {
    const review = new AbortController();
    const live = reader(['silence', 'silence'], 10_000);
    const first = live.deployment('olm', 'olm-operator', { deadline: review.signal, freshness: 'consistent' });
    setTimeout(() => review.abort(), 20);
    expect(await kindOf(first)).toBe('timeout');
    const own = reader(['silence'], 30);
    expect(await kindOf(own.deployment('olm', 'olm-operator'))).toBe('timeout');
  });

  it('discovery that cannot be read makes a reference lookup-failed, not gone', async () => {
    const live = reader([{ status: 503, body: status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request') }, ...discoveryDocs()]);
    expect(await kindOf(live.objectsState([{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', namespace: 'ns' }]))).toBe('lookup-failed');
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!check()) throw new Error('condition not reached');
}
