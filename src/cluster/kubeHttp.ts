// A minimal HTTP client for the API server, authenticated from a client-node KubeConfig.
// We do not use client-node's generated API classes because they cannot ask for
// PartialObjectMetadata (the Accept header is fixed per operation) and they buffer watch bodies;
// the informer needs both metadata-only negotiation and a streamed watch.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { VERSION } from '../version.ts';

export { ACCEPT_JSON, ACCEPT_METADATA, ACCEPT_METADATA_LIST } from '../k8s/mediaTypes.ts';

/** Largest body we buffer (a page of a list, a discovery document). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Largest error body we read to build a message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** A non-2xx answer from the API server, carrying its Status (reason, code) when it sent one. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly statusCode: number;
  /** Status.reason, e.g. NotFound, Expired, Gone, Forbidden. */
  readonly reason: string | undefined;
  /** Status.details.causes[].reason, e.g. ResourceVersionTooLarge. */
  readonly causes: readonly string[];
  constructor(statusCode: number, message: string, reason?: string, causes: readonly string[] = []) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
    this.causes = causes;
  }
}

export type QueryValue = string | number | boolean | undefined;

export interface KubeRequest {
  /** Absolute API path, e.g. /api/v1/secrets. */
  path: string;
  query?: Record<string, QueryValue>;
  accept: string;
  signal?: AbortSignal;
  /** Socket inactivity limit; the request fails when no byte arrives for this long. */
  idleTimeoutMs?: number;
}

/** A write: the object as JSON, to create (POST to the collection) or replace (PUT to the object). */
export interface KubeWrite extends KubeRequest {
  method: 'POST' | 'PUT';
  body: unknown;
}

export interface KubeHttpClient {
  /** GET and parse a JSON body; non-2xx rejects with KubeApiError. */
  getJson<T = unknown>(request: KubeRequest): Promise<T>;
  /** GET and hand back the streaming response (status 200 only); non-2xx rejects with KubeApiError. */
  openStream(request: KubeRequest): Promise<http.IncomingMessage>;
  /** POST or PUT a JSON body and parse the JSON answer; non-2xx rejects with KubeApiError (409 on a conflict). */
  sendJson<T = unknown>(request: KubeWrite): Promise<T>;
  /** Destroys the connection pools this client created (kept-alive sockets would hold the process). */
  close(): void;
}

type TlsFields = Pick<https.RequestOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'>;

/** Where requests go. Default: pooled sockets to the kubeconfig's server; tests pass an in-memory stream per request. */
export interface KubeTransport {
  connect(url: URL): Duplex;
}

export function createKubeHttpClient(kubeConfig: KubeConfig, transport?: KubeTransport): KubeHttpClient {
  const agents = new Map<string, http.Agent>();

  // KubeConfig re-reads cert files and refreshes exec/OIDC tokens inside applyToHTTPSOptions, so it
  // is called per request. Its own agent cache is keyed by cluster/user only and is never destroyed,
  // so we keep our own pool keyed by the TLS material actually in use, and destroy it on close().
  async function requestOptions(request: KubeRequest | KubeWrite): Promise<{ url: URL; options: https.RequestOptions; isHttp: boolean }> {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const write = 'method' in request;
    const options: https.RequestOptions = {
      method: write ? request.method : 'GET',
      headers: { Accept: request.accept, 'User-Agent': `teardown-guard/${VERSION}`, ...(write ? { 'Content-Type': 'application/json' } : {}) },
    };
    await kubeConfig.applyToHTTPSOptions(options);
    const isHttp = url.protocol === 'http:';
    if (transport) {
      // node:http uses createConnection only without an agent, and applyToHTTPSOptions may set one.
      delete options.agent;
      options.createConnection = () => transport.connect(url);
    } else if (!cluster.proxyUrl) options.agent = agentFor(options, isHttp);
    if (request.signal) options.signal = request.signal;
    return { url, options, isHttp };
  }

  function agentFor(tls: TlsFields, isHttp: boolean): http.Agent {
    const hash = createHash('sha256');
    const feed = (part: unknown): void => {
      if (Array.isArray(part)) part.forEach(feed);
      else if (typeof part === 'string' || Buffer.isBuffer(part)) hash.update(part);
      else hash.update(part === undefined ? '-' : JSON.stringify(part));
      hash.update('|');
    };
    [tls.ca, tls.cert, tls.key, tls.pfx].forEach(feed);
    hash.update(`${String(tls.rejectUnauthorized)}|${tls.servername ?? ''}|${isHttp}`);
    const key = hash.digest('hex');
    let agent = agents.get(key);
    if (!agent) {
      agent = isHttp
        ? new http.Agent({ keepAlive: true })
        : new https.Agent({
            keepAlive: true,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            pfx: tls.pfx,
            passphrase: tls.passphrase,
            servername: tls.servername,
            ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
          });
      agents.set(key, agent);
    }
    return agent;
  }

  async function openStream(request: KubeRequest | KubeWrite): Promise<http.IncomingMessage> {
    const { url, options, isHttp } = await requestOptions(request);
    const what = `${options.method ?? 'GET'} ${url.pathname}`;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (isHttp ? http : https).request(url, options, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(res);
          return;
        }
        readBody(res, MAX_ERROR_BODY_BYTES, true).then(
          (body) => reject(apiErrorFrom(status, body, what)),
          () => reject(new KubeApiError(status, `${what}: HTTP ${status}`)),
        );
      });
      if (request.idleTimeoutMs !== undefined) {
        req.setTimeout(request.idleTimeoutMs, () => {
          req.destroy(new Error(`${what}: no data for ${request.idleTimeoutMs} ms`));
        });
      }
      req.on('error', reject);
      req.end('method' in request ? JSON.stringify(request.body) : undefined);
    });
  }

  async function getJson<T>(request: KubeRequest | KubeWrite): Promise<T> {
    const res = await openStream(request);
    const body = await readBody(res, MAX_BODY_BYTES, false);
    return JSON.parse(body.toString('utf8')) as T;
  }

  function close(): void {
    for (const agent of agents.values()) agent.destroy();
    agents.clear();
  }

  return { getJson, openStream, sendJson: getJson, close };
}

/**
 * Reads a response body up to `maxBytes`; beyond it, truncates (error bodies) or fails (data).
 * Its listeners leave the response once it settles: a kept-alive connection keeps its last
 * response reachable, and with it every listener's closure, which would hold the whole body (a
 * list page, up to a megabyte) until the connection's next request.
 */
function readBody(res: http.IncomingMessage, maxBytes: number, truncate: boolean): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void): void => {
      res.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      // An 'error' after this (a destroyed socket) must still have a listener.
      res.on('error', () => {});
      outcome();
      chunks = [];
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > maxBytes) {
        if (truncate) {
          chunks.push(chunk.subarray(0, maxBytes - size));
          size = maxBytes;
          const body = Buffer.concat(chunks);
          settle(() => resolve(body));
          res.destroy();
        } else {
          settle(() => reject(new Error(`response body exceeds ${maxBytes} bytes`)));
          res.destroy();
        }
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    const onEnd = (): void => {
      const body = Buffer.concat(chunks);
      settle(() => resolve(body));
    };
    const onError = (err: Error): void => settle(() => reject(err));
    const onAborted = (): void => settle(() => reject(new Error('response aborted')));
    res.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}

function apiErrorFrom(status: number, body: Buffer, what: string): KubeApiError {
  let message = `${what}: HTTP ${status}`;
  let reason: string | undefined;
  let causes: string[] = [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as KubeStatus;
    if (parsed.kind === 'Status') {
      if (parsed.message) message = `${message}: ${parsed.message}`;
      reason = parsed.reason;
      causes = statusCauses(parsed);
    }
  } catch {
    // Not a Status (e.g. a proxy's HTML page): the status code alone has to do.
  }
  return new KubeApiError(status, message, reason, causes);
}

/** The parts of a meta/v1 Status we read. */
export interface KubeStatus {
  kind?: string;
  code?: number;
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ reason?: string }> };
}

export function statusCauses(status: KubeStatus): string[] {
  return (status.details?.causes ?? []).flatMap((c) => (typeof c.reason === 'string' ? [c.reason] : []));
}

/**
 * Whether a Status says the client's resourceVersion (or continue token) cannot be served and only a
 * fresh list helps: 410 Gone/Expired (history compacted), or "too large resource version" (504 with
 * cause ResourceVersionTooLarge: the server is behind the version we hold, e.g. after an etcd restore).
 */
export function statusNeedsRelist(status: Pick<KubeStatus, 'code' | 'reason'> & { causes: readonly string[] }): boolean {
  return status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone' || status.causes.includes('ResourceVersionTooLarge');
}

export function isExpiredError(err: unknown): boolean {
  return err instanceof KubeApiError && statusNeedsRelist({ code: err.statusCode, reason: err.reason, causes: err.causes });
}
