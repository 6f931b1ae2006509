// LiveReader with an injected HTTP client standing in for a slow API server: the per-review
// deadline (engine -> view.forReview -> every live read) and the typed undecided kinds.
// The responses are shaped like the real API server's (test/integration/clusterView.test.ts reads
// the same paths from a real one); only their timing and failures are controlled here.
import { describe, expect, it } from 'vitest';
import { Discovery } from './discovery.ts';
import { KubeApiError, type KubeHttpClient, type KubeRequest } from './kubeHttp.ts';
import { FORBIDDEN_REPORTS, LiveReader } from './liveReads.ts';
import { UndecidedError } from './view.ts';

interface Seen {
  path: string;
  aborted: boolean;
}

/** Answers each GET after `delayMs`, unless its signal aborts first (then rejects, as the real client does). */
function slowClient(delayMs: number, seen: Seen[], answer: (path: string) => unknown = () => ({ metadata: { name: 'olm-operator' } })): KubeHttpClient {
  return {
    getJson<T>(req: KubeRequest): Promise<T> {
      const entry = { path: req.path, aborted: false };
      seen.push(entry);
      return new Promise<T>((resolve, reject) => {
        let done = false;
        const timer = setTimeout(() => {
          done = true;
          try {
            resolve(answer(req.path) as T);
          } catch (e) {
            reject(e as Error);
          }
        }, delayMs);
        req.signal?.addEventListener(
          'abort',
          () => {
            if (done) return;
            entry.aborted = true;
            clearTimeout(timer);
            reject(new Error('aborted'));
          },
          { once: true },
        );
      });
    },
    openStream: () => Promise.reject(new Error('not used')),
    sendJson: () => Promise.reject(new Error('this test makes no writes')),
    close: () => {},
  };
}

function reader(client: KubeHttpClient, timeoutMs: number): LiveReader {
  return new LiveReader({ client, discovery: new Discovery({ client }), timeoutMs, concurrency: 2 });
}

describe('LiveReader: one deadline per review', () => {
  it('a review whose reads together outlast its budget ends undecided (timeout), cancelling the read in flight', async () => {
    const seen: Seen[] = [];
    const live = reader(slowClient(150, seen), 10_000); // each read alone is well within its own budget
    const review = new AbortController();
    const first = await live.deployment('olm', 'olm-operator', { deadline: review.signal, freshness: 'consistent' });
    expect(first?.metadata?.name).toBe('olm-operator');
    const second = live.deployment('olm', 'olm-operator', { deadline: review.signal, freshness: 'consistent' });
    setTimeout(() => review.abort(), 20); // the review's budget runs out during the second read
    const err = await second.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndecidedError);
    expect((err as UndecidedError).kind).toBe('timeout');
    expect((err as UndecidedError).reason).toContain("review's live-lookup budget ran out during the live read of Deployment olm/olm-operator");
    expect(seen.map((s) => s.aborted)).toEqual([false, true]);
  });

  it('a read started after the deadline passed is not sent at all', async () => {
    const seen: Seen[] = [];
    const live = reader(slowClient(5, seen), 10_000);
    const err = await live.releaseRecords('web', { deadline: AbortSignal.abort(), freshness: 'consistent' }).catch((e: unknown) => e);
    expect((err as UndecidedError).kind).toBe('timeout');
    expect(seen).toEqual([]);
  });

  it('without a review deadline each read keeps its own budget', async () => {
    const seen: Seen[] = [];
    const err = await reader(slowClient(200, seen), 30)
      .deployment('olm', 'olm-operator')
      .catch((e: unknown) => e);
    expect((err as UndecidedError).kind).toBe('timeout');
    expect((err as UndecidedError).reason).toContain('timed out after 30 ms');
  });
});

describe('LiveReader: undecided kinds', () => {
  it('401/403 are forbidden, other API errors lookup-failed, 404 is an answer', async () => {
    const status = (code: number) => () => {
      throw new KubeApiError(code, `GET /apis/apps/v1/namespaces/olm/deployments/x: ${code}`);
    };
    const seen: Seen[] = [];
    const forbidden = await reader(slowClient(1, seen, status(403)), 1000)
      .deployment('olm', 'x')
      .catch((e: unknown) => e);
    expect((forbidden as UndecidedError).kind).toBe('forbidden');
    const failed = await reader(slowClient(1, seen, status(503)), 1000)
      .deployment('olm', 'x')
      .catch((e: unknown) => e);
    expect((failed as UndecidedError).kind).toBe('lookup-failed');
    expect(await reader(slowClient(1, seen, status(404)), 1000).deployment('olm', 'x')).toBeUndefined();
  });
});

describe('LiveReader: reads the RBAC does not grant', () => {
  it('counts every refused read and reports each distinct one once, up to FORBIDDEN_REPORTS', async () => {
    const refuse = () => {
      throw new KubeApiError(403, 'forbidden');
    };
    const client = slowClient(0, [], refuse);
    const reported: string[] = [];
    const live = new LiveReader({ client, discovery: new Discovery({ client }), timeoutMs: 1000, concurrency: 2, onForbidden: (what) => reported.push(what) });
    for (let i = 0; i < 3; i++) await live.deployment('olm', 'x').catch(() => undefined);
    expect(reported).toEqual(['live read of Deployment olm/x']);
    expect(live.stats().forbidden).toBe(3);
    for (let i = 0; i < FORBIDDEN_REPORTS + 10; i++) await live.deployment('olm', `d-${i}`).catch(() => undefined);
    expect(reported.length).toBe(FORBIDDEN_REPORTS);
    expect(live.stats().forbidden).toBe(3 + FORBIDDEN_REPORTS + 10);
    // Other failures are not refusals.
    const failing = slowClient(0, [], () => {
      throw new KubeApiError(503, 'unavailable');
    });
    const other = new LiveReader({
      client: failing,
      discovery: new Discovery({ client: failing }),
      timeoutMs: 1000,
      concurrency: 2,
      onForbidden: (what) => reported.push(what),
    });
    await other.deployment('olm', 'x').catch(() => undefined);
    expect(other.stats().forbidden).toBe(0);
  });
});

describe('LiveReader: where a list is served from', () => {
  it('watch-cache lists ask for resourceVersion=0 on their first page only; consistent lists never do', async () => {
    const queries: Array<Record<string, unknown>> = [];
    const client: KubeHttpClient = {
      getJson<T>(req: KubeRequest): Promise<T> {
        queries.push({ ...req.query });
        // Two pages, as kube-apiserver pages a consistent list (limit 500, then the continue token).
        const page = req.query?.['continue']
          ? { items: [{ metadata: { name: 'b' } }] }
          : { metadata: { continue: 'token' }, items: [{ metadata: { name: 'a' } }] };
        return Promise.resolve(page as T);
      },
      openStream: () => Promise.reject(new Error('not used')),
      sendJson: () => Promise.reject(new Error('this test makes no writes')),
      close: () => {},
    };
    const live = reader(client, 1000);
    expect((await live.apiServices({ freshness: 'watch-cache' })).map((a) => a.metadata?.name)).toEqual(['a', 'b']);
    expect(queries.map((q) => [q['resourceVersion'], q['continue']])).toEqual([
      ['0', undefined],
      [undefined, 'token'],
    ]);
    queries.length = 0;
    await live.apiServices();
    expect(queries.map((q) => q['resourceVersion'])).toEqual([undefined, undefined]);
  });
});
