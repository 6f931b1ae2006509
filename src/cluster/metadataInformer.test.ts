// MetadataInformer against a scripted HTTP client: the list/watch protocol's failure paths, which
// the real control plane produces only by chance or by force (test/integration/clusterView.test.ts
// covers them there: real 410 after etcd compaction, API server restarts). Bodies are shaped like
// the API server's PartialObjectMetadataList and watch events; only their order and faults are scripted.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KubeApiError, type KubeHttpClient, type KubeRequest } from './kubeHttp.ts';
import { createInformer, type InformerChange } from './metadataInformer.ts';
import type { PartialObjectMetadata } from '../k8s/types.ts';

const meta = (name: string, rv: string): PartialObjectMetadata => ({
  apiVersion: 'meta.k8s.io/v1',
  kind: 'PartialObjectMetadata',
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});
const list = (rv: string, ...names: string[]) => ({
  kind: 'PartialObjectMetadataList',
  metadata: { resourceVersion: rv },
  items: names.map((n) => meta(n, rv)),
});
const event = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

type ListStep = ReturnType<typeof list> | KubeApiError;
/** A watch: lines to send, then how the stream ends ('end', 'hold' until aborted). */
interface WatchStep {
  lines: string[];
  then: 'end' | 'hold';
}

function scriptedClient(lists: ListStep[], watches: WatchStep[]) {
  const watchQueries: Array<Record<string, unknown>> = [];
  let listCalls = 0;
  const client: KubeHttpClient = {
    async getJson<T>(_req: KubeRequest): Promise<T> {
      const step = lists[Math.min(listCalls++, lists.length - 1)];
      if (step instanceof KubeApiError) throw step;
      return step as T;
    },
    async openStream(req: KubeRequest): Promise<IncomingMessage> {
      watchQueries.push({ ...req.query });
      const step = watches.shift() ?? { lines: [], then: 'hold' };
      const stream = new PassThrough();
      req.signal?.addEventListener('abort', () => stream.destroy(), { once: true });
      setImmediate(() => {
        for (const l of step.lines) stream.write(l);
        if (step.then === 'end') stream.end();
      });
      return stream as unknown as IncomingMessage;
    },
    sendJson: () => Promise.reject(new Error('this test makes no writes')),
    close: () => {},
  };
  return { client, watchQueries, listCalls: () => listCalls };
}

const FAST = { backoff: { initialMs: 5, maxMs: 20, jitter: 0 }, notServedRetryMs: 10, healthyWatchMs: 10_000, random: () => 0 };

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('MetadataInformer', () => {
  it('relists on a 410 arriving mid-stream, and the relist emits the deletion it missed', async () => {
    const { client, listCalls } = scriptedClient(
      [list('10', 'a', 'b'), list('30', 'a', 'c')],
      [
        {
          lines: [event('ADDED', meta('c', '20')), event('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' })],
          then: 'hold',
        },
      ],
    );
    const informer = createInformer({ client, resource: { group: '', version: 'v1', resource: 'secrets' }, ...FAST });
    const changes: Array<InformerChange<PartialObjectMetadata>> = [];
    informer.on('change', (c) => changes.push(c));
    informer.start();
    try {
      await until('the relist', () => listCalls() >= 2 && informer.list().length === 2);
      expect(
        informer
          .list()
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(['a', 'c']);
      expect(changes.filter((c) => c.type === 'deleted').map((c) => c.object.metadata.name)).toEqual(['b']);
      expect(informer.status().counters.expired).toBe(1);
      expect(informer.status().counters.relists).toBe(1);
    } finally {
      await informer.stop();
    }
  });

  it('re-watches from the last resourceVersion (bookmarks included) after a watch that ends, without relisting', async () => {
    const { client, watchQueries, listCalls } = scriptedClient(
      [list('10', 'a')],
      [
        { lines: [event('MODIFIED', meta('a', '11')), event('BOOKMARK', { kind: 'PartialObjectMetadata', metadata: { resourceVersion: '15' } })], then: 'end' },
        { lines: [event('ADDED', meta('d', '16'))], then: 'hold' },
      ],
    );
    const informer = createInformer({ client, resource: { group: '', version: 'v1', resource: 'secrets' }, ...FAST });
    informer.start();
    try {
      await until('the second watch', () => informer.get('ns', 'd') !== undefined);
      expect(watchQueries.map((q) => q['resourceVersion'])).toEqual(['10', '15']);
      expect(listCalls()).toBe(1);
      expect(informer.status().counters.reconnects).toBe(1);
    } finally {
      await informer.stop();
    }
  });

  it('backs off and counts a failure when a watch closes before delivering anything, then follows the server again', async () => {
    const { client } = scriptedClient(
      [list('10', 'a')],
      [
        { lines: [], then: 'end' },
        { lines: [event('ADDED', meta('e', '12'))], then: 'hold' },
      ],
    );
    const informer = createInformer({ client, resource: { group: '', version: 'v1', resource: 'secrets' }, ...FAST });
    informer.start();
    try {
      await until('the object after the early close', () => informer.get('ns', 'e') !== undefined);
      expect(informer.status().counters.failures).toBe(1);
      expect(informer.status().failingSinceMs).toBeUndefined(); // following again
    } finally {
      await informer.stop();
    }
  });

  it('is synced and empty while the resource is not served (404), and fills once it appears', async () => {
    const { client } = scriptedClient(
      [new KubeApiError(404, 'the server could not find the requested resource', 'NotFound'), list('40', 'w1')],
      [{ lines: [], then: 'hold' }],
    );
    const informer = createInformer({ client, resource: { group: 'example.com', version: 'v1', resource: 'widgets' }, ...FAST });
    informer.start();
    try {
      await until('synced while not served', () => informer.status().synced);
      await until('the resource appearing', () => informer.list().length === 1);
      expect(informer.status().notServed).toBe(false);
      expect(informer.list()[0]?.metadata.name).toBe('w1');
    } finally {
      await informer.stop();
    }
  });

  it('keeps following the server when a change listener throws', async () => {
    const { client } = scriptedClient([list('10')], [{ lines: [event('ADDED', meta('x', '11')), event('ADDED', meta('y', '12'))], then: 'hold' }]);
    const informer = createInformer({ client, resource: { group: '', version: 'v1', resource: 'secrets' }, ...FAST });
    const seen: string[] = [];
    informer.on('change', (c) => {
      seen.push(c.object.metadata.name ?? '');
      throw new Error('listener bug');
    });
    informer.start();
    try {
      await until('both objects', () => informer.list().length === 2);
      expect(seen).toEqual(['x', 'y']);
      expect(informer.status().counters.failures).toBe(0);
    } finally {
      await informer.stop();
    }
  });

  it('holds only the objects `keep` accepts: one that stops qualifying leaves with a deletion, one never held leaves no trace', async () => {
    const carrying = (name: string, rv: string): PartialObjectMetadata => ({
      ...meta(name, rv),
      metadata: { ...meta(name, rv).metadata, finalizers: ['x/y'] },
    });
    const { client } = scriptedClient(
      [{ ...list('10'), items: [carrying('a', '10'), meta('b', '10'), carrying('c', '10')] }],
      [
        {
          lines: [
            event('MODIFIED', meta('a', '11')), // finalizer removed: leaves the cache
            event('DELETED', meta('b', '12')), // never held
            event('MODIFIED', carrying('b2', '13')), // gains the finalizer: enters as added
            event('ADDED', meta('d', '14')),
          ],
          then: 'hold',
        },
      ],
    );
    const informer = createInformer({
      client,
      resource: { group: '', version: 'v1', resource: 'secrets' },
      keep: (o) => o.metadata?.finalizers?.includes('x/y') ?? false,
      ...FAST,
    });
    const changes: string[] = [];
    informer.on('change', (c) => changes.push(`${c.type} ${c.object.metadata?.name ?? ''}`));
    informer.start();
    try {
      await until('every event', () => informer.status().counters.events === 4);
      expect(changes).toEqual(['added a', 'added c', 'deleted a', 'added b2']);
      expect(
        informer
          .list()
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(['b2', 'c']);
    } finally {
      await informer.stop();
    }
  });
});
