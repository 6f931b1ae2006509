// Helpers for the server's unit tests (src/server/*.test.ts): development certificates from
// certs/generate.sh, a tiny in-memory ClusterView, a log collector and an HTTPS client.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TLSSocket } from 'node:tls';
import type { ClusterView, NamespaceState } from '../../src/cluster/view.ts';
import { scratchDir } from './scratchDir.ts';
import { createLogger, type Logger } from '../../src/log.ts';

const GENERATE = fileURLToPath(new URL('../../certs/generate.sh', import.meta.url));

export interface CertSet {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

/** Runs certs/generate.sh into `dir` (a new CA the first time, a new serving cert every time). */
export function generateCerts(dir: string, opts: { client?: string; forceCa?: boolean } = {}): CertSet {
  const args = [GENERATE, '--out', dir, '--no-kustomize', '--days', '2'];
  if (opts.client) args.push('--client', opts.client);
  if (opts.forceCa) args.push('--force-ca');
  execFileSync('bash', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** A scratch directory (gone after the file's tests) the test may also remove earlier. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = scratchDir(prefix);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A ClusterView over nothing: only readiness matters to the server tests. */
export function tinyView(state: { synced: boolean; namespaces?: NamespaceState[] }): ClusterView {
  const ns = new Map((state.namespaces ?? []).map((n) => [n.name, n]));
  return {
    isSynced: () => state.synced,
    getNamespace: (name) => ns.get(name),
    listObjectMeta: () => [],
    listDeployments: () => [],
    clusterRoleBindingsFor: () => [],
    clusterRoleExists: () => false,
    releaseRecords: () => [],
    uninstallingRecords: () => [],
    liveReleaseRecords: async () => [],
    liveDeployment: async () => undefined,
    liveObjectsState: async (refs) => refs.map(() => 'gone' as const),
    liveObjects: async (refs) => refs.map(() => ({ state: 'gone' as const })),
    liveReleaseRecord: async () => undefined,
    isNamespaced: () => undefined,
    forReview() {
      return this;
    },
  };
}

export interface CollectedLogs {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  text(): string;
}

export function collectLogs(level = 'debug'): CollectedLogs {
  const raw: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write: (s: string) => {
        raw.push(s);
      },
    },
  });
  return {
    logger,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): unknown;
  fingerprint256: string | undefined;
}

/** One HTTPS request on a fresh connection (a full handshake every time unless an agent is given). */
export function httpsRequest(port: number, opts: RequestOptions & { path: string; body?: string | Buffer; ca: Buffer | string }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = opts;
    const req = request({ host: '127.0.0.1', port, method: 'GET', agent: false, servername: 'localhost', ...rest }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint256 = socket.getPeerCertificate?.()?.fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) as unknown, fingerprint256 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** A DELETE Namespace AdmissionReview, admission.k8s.io/v1 field for field. */
export function namespaceDeleteReview(uid: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Namespace' },
      resource: { group: '', version: 'v1', resource: 'namespaces' },
      requestKind: { group: '', version: 'v1', kind: 'Namespace' },
      requestResource: { group: '', version: 'v1', resource: 'namespaces' },
      name,
      operation: 'DELETE',
      userInfo: { username: 'alice', uid: 'u-1', groups: ['system:authenticated'] },
      object: null,
      oldObject: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: 'ns-uid' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } },
      dryRun: false,
      options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background' },
      ...extra,
    },
  };
}
