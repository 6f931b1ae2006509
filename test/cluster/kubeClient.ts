// A deliberately small REST client for the loopback apiserver (client-certificate auth or a
// bearer token). The harness needs a handful of verbs with hard timeouts, nothing more.
import { Agent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
  warnings: string[];
}

export interface KubeCredentials {
  server: string;
  caPem: string;
  certFile?: string;
  keyFile?: string;
  token?: string;
  /**
   * User-Agent of every request. kube-apiserver names the field manager of an update, patch or
   * create without ?fieldManager after it, up to the first '/' (k8s.io/apiserver
   * pkg/endpoints/handlers/create.go managerOrUserAgent), as it does for client-go programs.
   */
  userAgent?: string;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  /** Accept header (default application/json), e.g. a metadata-only list (`;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`). */
  accept?: string;
  timeoutMs?: number;
}

export class HttpError extends Error {
  status: number;
  body: unknown;
  constructor(message: string, status: number, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export interface KubeClient {
  server: string;
  request<T = unknown>(method: string, path: string, o?: RequestOptions): Promise<KubeResponse<T>>;
  /** GET; undefined when 404. */
  get<T = Record<string, unknown>>(path: string): Promise<T | undefined>;
  /** Throws HttpError unless 2xx. */
  must<T = Record<string, unknown>>(method: string, path: string, o?: RequestOptions): Promise<T>;
  close(): void;
}

export function kubeClient(creds: KubeCredentials): KubeClient {
  const url = new URL(creds.server);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 8,
    ca: creds.caPem,
    ...(creds.certFile ? { cert: readFileSync(creds.certFile) } : {}),
    ...(creds.keyFile ? { key: readFileSync(creds.keyFile) } : {}),
  });
  function request<T>(method: string, path: string, o: RequestOptions = {}): Promise<KubeResponse<T>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: o.accept ?? 'application/json', 'User-Agent': creds.userAgent ?? 'teardown-guard-test-harness' };
      let payload: Buffer | undefined;
      if (o.body !== undefined) {
        payload = Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
        headers['Content-Type'] = o.contentType ?? 'application/json';
        headers['Content-Length'] = String(payload.length);
      }
      if (creds.token) headers.Authorization = `Bearer ${creds.token}`;
      const req = httpsRequest({ host: url.hostname, port: url.port, method, path, headers, agent, timeout: o.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          const w = res.headers.warning;
          const warnings = (Array.isArray(w) ? w : w ? [w] : []).flatMap((s) => s.split(/,(?=\s*\d{3} )/)).map((s) => s.trim());
          resolve({ status: res.statusCode ?? 0, body: body as T, text, warnings });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
  return {
    server: creds.server,
    request,
    async get<T>(path: string) {
      const r = await request<T>('GET', path);
      if (r.status === 404) return undefined;
      if (r.status >= 300) throw new HttpError(`GET ${path}: ${r.status} ${r.text.slice(0, 500)}`, r.status, r.body);
      return r.body;
    },
    async must<T>(method: string, path: string, o?: RequestOptions) {
      const r = await request<T>(method, path, o);
      if (r.status < 200 || r.status >= 300) throw new HttpError(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`, r.status, r.body);
      return r.body;
    },
    close: () => agent.destroy(),
  };
}

/** REST path of an object or collection. group '' = core. */
export function apiPath(p: { group?: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = p.group ? `/apis/${p.group}/${p.version}` : `/api/${p.version}`;
  const ns = p.namespace ? `/namespaces/${p.namespace}` : '';
  const name = p.name ? `/${p.name}` : '';
  const sub = p.subresource ? `/${p.subresource}` : '';
  return `${base}${ns}/${p.resource}${name}${sub}`;
}

/** A self-contained kubeconfig (embedded CA and client cert/key, or a bearer token). */
export function kubeconfigYaml(o: {
  server: string;
  caPem: string;
  user: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
  namespace?: string;
}): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const userLines = o.token
    ? [`    token: ${o.token}`]
    : [`    client-certificate-data: ${b64(o.certPem ?? '')}`, `    client-key-data: ${b64(o.keyPem ?? '')}`];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: loopback',
    '  cluster:',
    `    server: ${o.server}`,
    `    certificate-authority-data: ${b64(o.caPem)}`,
    'users:',
    `- name: ${o.user}`,
    '  user:',
    ...userLines,
    'contexts:',
    `- name: ${o.user}@loopback`,
    '  context:',
    '    cluster: loopback',
    `    user: ${o.user}`,
    `    namespace: ${o.namespace ?? 'default'}`,
    `current-context: ${o.user}@loopback`,
    '',
  ].join('\n');
}

/** A TokenRequest token of ServiceAccount ns/sa: how the harness runs a controller or a hook as that account. */
export async function serviceAccountToken(client: KubeClient, ns: string, sa: string, expirationSeconds: number): Promise<string> {
  const r = await client.request<{ status?: { token?: string }; message?: string }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
  });
  const token = r.body?.status?.token;
  if (r.status !== 201 || !token) throw new Error(`TokenRequest ${ns}/${sa}: ${r.status} ${r.body?.message ?? r.text.slice(0, 200)}`);
  return token;
}
