// The express application: POST /validate, POST /audit, GET /healthz, /readyz, /metrics.
// Every error answer is JSON `{ "error": "..." }` saying what was wrong; nothing a client sends
// can crash the process (express 5 routes rejected promises to the error handler below).
import { performance } from 'node:perf_hooks';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { AdmissionResult, ReviewTransport } from '../admission/engine.ts';
import { AUDIT_API_VERSION } from '../audit/event.ts';
import { logDecision, type Logger } from '../log.ts';
import { slug, type CacheState, type Metrics } from '../metrics.ts';
import type { CallerAuthenticator } from './auth.ts';

export interface Readiness {
  synced: boolean;
  caches: CacheState[];
}

/** What the server needs of the audit reviewer (src/audit/ingest.ts). */
export interface AuditSink {
  accept(events: unknown[]): { accepted: number; dropped: number };
}

export interface AppDeps {
  /** Absent on the audit receiver (`serve --audit-only`): /validate answers 404. */
  admit?: (body: unknown, transport?: ReviewTransport) => Promise<AdmissionResult>;
  readiness: () => Readiness;
  metrics: Metrics;
  logger: Logger;
  maxBodyBytes: number;
  audit?: { sink: AuditSink; auth: CallerAuthenticator; maxBodyBytes: number };
}

export interface AppHandle {
  app: express.Express;
  /** Requests being served right now. */
  inFlight(): number;
  /** From now on /readyz fails and responses ask clients to close their connection. */
  beginShutdown(): void;
  isShuttingDown(): boolean;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function sendError(res: Response, status: number, message: string): void {
  if (res.headersSent) return;
  res.status(status).json({ error: message });
}

function hasBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** 415 unless the body is declared JSON; 400 when there is no body at all. */
function requireJsonBody(what: string): RequestHandler {
  return (req, _res, next) => {
    if (!hasBody(req)) return next(new HttpError(400, `request body is empty; expected ${what}`));
    if (!req.is('application/json')) {
      const got = req.headers['content-type'];
      return next(new HttpError(415, `Content-Type must be application/json, got ${got === undefined ? 'none' : JSON.stringify(got.slice(0, 100))}`));
    }
    next();
  };
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  statusCode?: number;
  limit?: number;
  length?: number;
  charset?: string;
  encoding?: string;
}

/** Maps body-parser failures to a message that never echoes body content (it may hold Secret data). */
function describeBodyError(err: BodyParserError, limitName: string): { status: number; message: string } | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return {
        status: 413,
        message: `request body${err.length !== undefined ? ` of ${err.length} bytes` : ''} is over the limit of ${err.limit ?? '?'} bytes (${limitName})`,
      };
    case 'entity.parse.failed':
      return { status: 400, message: `request body is not valid JSON: ${jsonProblem(err)}` };
    case 'entity.verify.failed':
      return { status: 400, message: 'request body failed verification' };
    case 'encoding.unsupported':
      return { status: 415, message: `Content-Encoding ${JSON.stringify(err.encoding ?? '')} is not supported (use identity, gzip, deflate or br)` };
    case 'charset.unsupported':
      return { status: 415, message: `charset ${JSON.stringify(err.charset ?? '')} is not supported (use utf-8)` };
    case 'request.aborted':
      return { status: 400, message: 'request aborted by the client' };
    case 'request.size.invalid':
      return { status: 400, message: 'request body length does not match Content-Length' };
    default:
      return undefined;
  }
}

/** Why JSON parsing failed, in words that never quote the body. */
function jsonProblem(err: BodyParserError & { body?: unknown }): string {
  const body = typeof err.body === 'string' ? err.body : '';
  const first = body.trimStart()[0];
  if (first !== undefined && first !== '{' && first !== '[') return 'the top level must be a JSON object';
  if (/Unexpected end of JSON input|Unterminated/i.test(err.message)) return 'it ends before the JSON value is complete (truncated?)';
  const pos = /at position (\d+)/.exec(err.message)?.[1];
  return pos !== undefined ? `syntax error at byte offset ${pos}` : 'syntax error';
}

/** What the routes share: requests in flight, and whether shutdown has begun. */
interface ServerState {
  inFlight: number;
  shuttingDown: boolean;
}

export function createApp(deps: AppDeps): AppHandle {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const state: ServerState = { inFlight: 0, shuttingDown: false };
  app.use(trackRequests(state, deps.logger));
  addValidateRoutes(app, deps);
  addAuditRoutes(app, deps);
  addProbeRoutes(app, deps, state);
  app.use((req, res) => {
    sendError(res, 404, `no route for ${req.method} ${req.path.slice(0, 200)}`);
  });
  app.use(errorHandler(deps));
  return {
    app,
    inFlight: () => state.inFlight,
    beginShutdown() {
      state.shuttingDown = true;
    },
    isShuttingDown: () => state.shuttingDown,
  };
}

/** Counts requests in flight, logs each at debug, and asks clients to close once shutdown began. */
function trackRequests(state: ServerState, logger: Logger): RequestHandler {
  return (req, res, next) => {
    state.inFlight++;
    const started = performance.now();
    let done = false;
    res.once('close', () => {
      if (done) return;
      done = true;
      state.inFlight--;
      logger.debug({ method: req.method, path: req.path.slice(0, 200), status: res.statusCode, ms: Math.round(performance.now() - started) }, 'http request');
    });
    if (state.shuttingDown) res.setHeader('Connection', 'close');
    next();
  };
}

function addValidateRoutes(app: express.Express, deps: AppDeps): void {
  const { metrics, logger, admit } = deps;
  if (!admit) {
    app.all('/validate', (_req, res) => {
      sendError(res, 404, 'this server receives audit events only (serve --audit-only); admission reviews go to the webhook Service');
    });
    return;
  }
  const validateJson = express.json({ limit: deps.maxBodyBytes, strict: true, type: 'application/json' });
  app.post('/validate', requireJsonBody('an admission.k8s.io/v1 AdmissionReview'), validateJson, async (req: Request, res: Response) => {
    const started = performance.now();
    // The API server gave up on this call (its timeoutSeconds, or it went away): stop the review's live reads.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const result = await admit(req.body as unknown, { gone: gone.signal });
    if (!result.ok) {
      metrics.admissionErrors.inc({ status: String(result.httpStatus) });
      logger.info({ status: result.httpStatus, error: result.error }, 'rejected admission request');
      sendError(res, result.httpStatus, result.error);
      return;
    }
    for (const d of result.decisions) logDecision(logger, d);
    metrics.recordReview(result.decisions, (performance.now() - started) / 1000);
    res.status(200).json(result.review);
  });
  app.all('/validate', (_req, res) => {
    res.setHeader('Allow', 'POST');
    sendError(res, 405, 'use POST /validate with an admission.k8s.io/v1 AdmissionReview');
  });
}

function addAuditRoutes(app: express.Express, deps: AppDeps): void {
  const { metrics, logger, audit } = deps;
  const auditJson = express.json({ limit: audit?.maxBodyBytes ?? 1, strict: true, type: 'application/json' });
  app.post('/audit', authenticateAuditCaller(deps), requireJsonBody('an audit.k8s.io/v1 EventList'), auditJson, (req: Request, res: Response) => {
    const body = req.body as unknown;
    const problem = eventListProblem(body);
    if (problem) {
      metrics.auditRejected.inc({ reason: 'bad-body' });
      sendError(res, 400, problem);
      return;
    }
    const items = (body as { items: unknown[] }).items;
    const { accepted, dropped } = audit!.sink.accept(items);
    metrics.auditAccepted.inc(accepted);
    if (dropped > 0) {
      metrics.auditDropped.inc(dropped);
      logger.warn({ dropped, accepted, principal: res.locals['principal'] }, 'audit: queue full, events dropped');
    }
    res.status(200).json({ accepted, dropped });
  });
  app.all('/audit', (_req, res) => {
    res.setHeader('Allow', 'POST');
    sendError(res, 405, 'use POST /audit with an audit.k8s.io/v1 EventList');
  });
}

/** 503 when audit ingestion is off, 401 for a caller that does not authenticate. */
function authenticateAuditCaller(deps: AppDeps): RequestHandler {
  const { metrics, logger, audit } = deps;
  return async (req, res, next) => {
    if (!audit) {
      sendError(res, 503, 'audit ingestion is not enabled on this server');
      return;
    }
    const result = await audit.auth.authenticate(req);
    if (!result.ok) {
      metrics.auditRejected.inc({ reason: 'unauthenticated' });
      logger.warn({ reason: result.reason, remote: req.socket.remoteAddress }, 'audit: unauthenticated request rejected');
      res.setHeader('WWW-Authenticate', 'Bearer realm="teardown-guard-audit"');
      sendError(res, 401, `unauthenticated: ${result.reason}`);
      return;
    }
    res.locals['principal'] = result.principal;
    next();
  };
}

function addProbeRoutes(app: express.Express, deps: AppDeps, state: ServerState): void {
  const { metrics } = deps;
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const { status, body } = readinessAnswer(deps, state);
    res.status(status).json(body);
  });
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.status(200).send(text);
  });
}

function readinessAnswer(deps: AppDeps, state: ServerState): { status: number; body: Record<string, unknown> } {
  if (state.shuttingDown) return { status: 503, body: { ready: false, reason: 'shutting down' } };
  let r: Readiness;
  try {
    r = deps.readiness();
  } catch (err) {
    return { status: 503, body: { ready: false, reason: `readiness check failed: ${err instanceof Error ? err.message : String(err)}` } };
  }
  if (r.synced) return { status: 200, body: { ready: true, caches: r.caches } };
  const notSynced = r.caches.filter((c) => !c.synced).map((c) => c.name);
  return {
    status: 503,
    body: {
      ready: false,
      reason: notSynced.length > 0 ? `watch caches not synced: ${notSynced.join(', ')}` : 'watch caches not synced',
      notSynced,
      caches: r.caches,
    },
  };
}

/** Every error answer is JSON; body problems never echo the body; anything else is a 500, logged. */
function errorHandler(deps: AppDeps): ErrorRequestHandler {
  const { metrics, logger } = deps;
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const isAudit = req.path === '/audit';
    if (err instanceof HttpError) {
      if (!isAudit) metrics.admissionErrors.inc({ status: String(err.status) });
      else metrics.auditRejected.inc({ reason: 'bad-body' });
      sendError(res, err.status, err.message);
      return;
    }
    const mapped =
      typeof err === 'object' && err !== null ? describeBodyError(err as BodyParserError, isAudit ? 'audit.maxBodyBytes' : 'maxBodyBytes') : undefined;
    if (mapped) {
      if (isAudit) metrics.auditRejected.inc({ reason: mapped.status === 413 ? 'too-large' : 'bad-body' });
      else metrics.admissionErrors.inc({ status: String(mapped.status) });
      logger.info({ status: mapped.status, error: mapped.message, path: req.path.slice(0, 200) }, 'rejected request');
      sendError(res, mapped.status, mapped.message);
      return;
    }
    if (!isAudit) metrics.admissionErrors.inc({ status: '500' });
    logger.error(
      { err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), path: req.path.slice(0, 200) },
      'internal error while serving request',
    );
    sendError(res, 500, 'internal error; see the teardown-guard log');
  };
}

function eventListProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object (an audit.k8s.io/v1 EventList)';
  const b = body as Record<string, unknown>;
  if (b['apiVersion'] !== AUDIT_API_VERSION) return `apiVersion must be "${AUDIT_API_VERSION}", got ${JSON.stringify(b['apiVersion'] ?? null)}`;
  if (b['kind'] !== 'EventList') return `kind must be "EventList", got ${JSON.stringify(b['kind'] ?? null)}`;
  if (!Array.isArray(b['items'])) return 'items must be a list of audit events';
  return undefined;
}

/** A bounded label for an audit finding (its code, kind or type). */
export function findingKind(finding: unknown): string {
  if (typeof finding !== 'object' || finding === null) return 'unknown';
  const f = finding as Record<string, unknown>;
  return slug(f['code'] ?? f['kind'] ?? f['type']);
}
