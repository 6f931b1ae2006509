// What a stand-in controller needs from the API server, as its ServiceAccount: the kubeconfig the
// supervisor wrote (a TokenRequest token), a client whose User-Agent gives its writes the real
// program's field manager, and informers (list, then watch from the list's resourceVersion,
// listed again after any break), the way client-go programs observe the cluster.
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { HttpError, kubeClient, type KubeClient, type KubeCredentials } from '../../cluster/kubeClient.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

interface Kubeconfig {
  clusters?: Array<{ cluster?: { server?: string; 'certificate-authority-data'?: string } }>;
  users?: Array<{ user?: { token?: string } }>;
}

/** Credentials from the kubeconfig the supervisor wrote for this workload's ServiceAccount. */
export function credentialsFrom(kubeconfigPath: string, userAgent: string): KubeCredentials {
  const k = parse(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  const server = k.clusters?.[0]?.cluster?.server;
  const ca = k.clusters?.[0]?.cluster?.['certificate-authority-data'];
  const token = k.users?.[0]?.user?.token;
  if (!server || !ca || !token) throw new Error(`${kubeconfigPath}: server, CA or token missing`);
  return { server, caPem: Buffer.from(ca, 'base64').toString('utf8'), token, userAgent };
}

export function apiClient(creds: KubeCredentials): KubeClient {
  return kubeClient(creds);
}

export const hasFinalizer = (o: KubeObject, f: string): boolean => (o.metadata.finalizers ?? []).includes(f);
export const deleting = (o: KubeObject): boolean => Boolean(o.metadata.deletionTimestamp);
export const keyOf = (o: KubeObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/** The HTTP status of an error from KubeClient.must (0 when it is not an HTTP answer). */
export function statusOf(e: unknown): number {
  return e instanceof HttpError ? e.status : 0;
}

type WatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T };

/** One watch request; resolves when the server ends it, rejects on a transport error or an ERROR event. */
function watchOnce<T extends KubeObject>(
  creds: KubeCredentials,
  path: string,
  rv: string,
  onEvent: (e: WatchEvent<T>) => void,
  signal: AbortSignal,
): Promise<void> {
  const url = new URL(creds.server);
  const sep = path.includes('?') ? '&' : '?';
  const full = `${path}${sep}watch=true&allowWatchBookmarks=true&timeoutSeconds=50&resourceVersion=${encodeURIComponent(rv)}`;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'GET',
        path: full,
        ca: creds.caPem,
        headers: { Accept: 'application/json', Authorization: `Bearer ${creds.token}`, 'User-Agent': creds.userAgent ?? 'stand-in' },
        signal,
      },
      (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          res.resume();
          reject(new HttpError(`watch ${path}: ${res.statusCode}`, res.statusCode ?? 0, undefined));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const ev = JSON.parse(line) as WatchEvent<T>;
            if (ev.type === 'ERROR') {
              req.destroy();
              reject(new HttpError(`watch ${path}: ${JSON.stringify(ev.object).slice(0, 200)}`, 410, ev.object));
              return;
            }
            onEvent(ev);
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A list-and-watch cache of one collection (all namespaces, or one collection path). */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly listeners: Array<(o: T, type: ChangeType) => void> = [];
  private readonly abort = new AbortController();
  private resolveSynced: () => void = () => {};
  readonly synced: Promise<void>;

  private readonly client: KubeClient;
  private readonly creds: KubeCredentials;
  readonly path: string;
  private readonly log: (line: string) => void;

  constructor(client: KubeClient, creds: KubeCredentials, path: string, log: (line: string) => void) {
    this.client = client;
    this.creds = creds;
    this.path = path;
    this.log = log;
    this.synced = new Promise((r) => (this.resolveSynced = r));
  }

  onChange(fn: (o: T, type: ChangeType) => void): void {
    this.listeners.push(fn);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  private emit(o: T, type: ChangeType): void {
    for (const fn of this.listeners) fn(o, type);
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    let lastError = '';
    while (!this.abort.signal.aborted) {
      try {
        const list = await this.client.must<{ metadata: { resourceVersion: string }; items: T[] }>('GET', this.path);
        const fresh = new Map(list.items.map((o) => [keyOf(o), o]));
        for (const [k, o] of this.items) if (!fresh.has(k)) this.emit(o, 'DELETED');
        this.items.clear();
        for (const [k, o] of fresh) this.items.set(k, o);
        for (const o of fresh.values()) this.emit(o, 'MODIFIED');
        this.resolveSynced();
        lastError = '';
        let rv = list.metadata.resourceVersion;
        // Watch until the server ends it cleanly, then watch again from the last version seen.
        for (;;) {
          await watchOnce<T>(
            this.creds,
            this.path,
            rv,
            (ev) => {
              if (ev.type === 'BOOKMARK') {
                rv = ev.object.metadata.resourceVersion ?? rv;
                return;
              }
              rv = ev.object.metadata.resourceVersion ?? rv;
              const k = keyOf(ev.object);
              if (ev.type === 'DELETED') this.items.delete(k);
              else this.items.set(k, ev.object);
              this.emit(ev.object, ev.type === 'DELETED' ? 'DELETED' : ev.type === 'ADDED' ? 'ADDED' : 'MODIFIED');
            },
            this.abort.signal,
          );
          if (this.abort.signal.aborted) return;
        }
      } catch (e) {
        if (this.abort.signal.aborted) return;
        const why = e instanceof Error ? e.message : String(e);
        if (why !== lastError) this.log(`informer ${this.path}: ${why}; listing again`);
        lastError = why;
        await new Promise((r) => setTimeout(r, statusOf(e) === 410 ? 100 : 1000));
      }
    }
  }
}
