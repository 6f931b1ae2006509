// pino, configured so that nothing that could carry Secret data reaches a log line.
//
// Two layers: pino's path redaction for the well-known places (request bodies, headers), and a
// deep scrub of the log object that censors any key that can hold object payloads or
// credentials at any depth (`data`, `stringData`, `object`, `oldObject`, `manifest`, ...). The
// scrub is bounded (depth and breadth) so a pathological object cannot stall the process.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Decision } from './admission/engine.ts';
import { bufferedOutput, type BufferedDestination } from './bufferedLogOutput.ts';

export type { Logger } from 'pino';
export type { BufferedDestination } from './bufferedLogOutput.ts';

export const CENSOR = '[REDACTED]';

/**
 * Keys whose values are never logged, at any depth, whatever their type: Secret/ConfigMap
 * payloads, rendered Helm manifests, patches, and credentials.
 */
export const SENSITIVE_KEYS: ReadonlySet<string> = new Set([
  'data',
  'stringData',
  'binaryData',
  'manifest',
  'patch',
  'authorization',
  'Authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'password',
  'passwd',
  'token',
  'accessToken',
  'idToken',
  'refreshToken',
  'bearer',
  'jwt',
  'privateKey',
  'private_key',
  'clientKey',
  'apiKey',
]);

/**
 * Keys censored when they hold a structure (object or list): whole Kubernetes objects in
 * AdmissionRequests and audit events, and decoded Helm releases (values, chart, hooks). As plain
 * strings they are names (a decision's `object` is "Kind ns/name") and are kept.
 */
export const SENSITIVE_STRUCTURE_KEYS: ReadonlySet<string> = new Set([
  'object',
  'oldObject',
  'requestObject',
  'responseObject',
  'options',
  'values',
  'config',
  'hooks',
  'chart',
  'secret',
]);

/** pino redact paths (the fast, documented layer; the scrub below catches everything else). */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'request.object',
  'request.oldObject',
  'request.options',
  'review.request.object',
  'review.request.oldObject',
  'data',
  'stringData',
  'binaryData',
  '*.data',
  '*.stringData',
  '*.binaryData',
];

const MAX_DEPTH = 8;
const MAX_KEYS = 200;
const MAX_ITEMS = 100;

/** A copy of `value` with sensitive keys censored; plain objects and arrays only are descended. */
export function scrub(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    // Only name, message, stack and code: other enumerable properties can carry payloads (body-parser
    // attaches the raw request body to its errors as `body`).
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: e.message, stack: e.stack, ...(typeof e.code === 'string' ? { code: e.code } : {}) };
  }
  if (depth >= MAX_DEPTH) return '[depth limit]';
  if (Array.isArray(value)) {
    const out = value.slice(0, MAX_ITEMS).map((v) => scrub(v, depth + 1));
    if (value.length > MAX_ITEMS) out.push(`[${value.length - MAX_ITEMS} more]`);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (n++ >= MAX_KEYS) {
      out['…'] = '[key limit]';
      break;
    }
    if (v === undefined || v === null) out[k] = v;
    else if (SENSITIVE_KEYS.has(k) || (SENSITIVE_STRUCTURE_KEYS.has(k) && typeof v === 'object')) out[k] = CENSOR;
    else out[k] = scrub(v, depth + 1);
  }
  return out;
}

export interface LoggerSetup {
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a collecting stream. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/**
 * The serving process's destination: stdout, buffered and written off the review's path
 * (bufferedLogOutput.ts; one synchronous write per decision line was about half the CPU of a
 * cache-only review at saturation: docs/PERFORMANCE.md).
 */
export function bufferedStdout(o: { flushIntervalMs: number; bufferBytes: number; fd?: number }): BufferedDestination {
  return bufferedOutput({ fd: o.fd ?? 1, bufferBytes: o.bufferBytes, flushIntervalMs: o.flushIntervalMs });
}

/**
 * Makes every way the process ends write what `destination` buffered: exit itself, and an uncaught
 * error (logged as fatal, then exit 1). Returns what undoes it.
 */
export function flushOnExit(logger: Logger, destination: BufferedDestination): () => void {
  const onUncaught = (err: Error): void => {
    logger.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception; exiting');
    destination.flushSync();
    process.exit(1);
  };
  process.on('exit', destination.flushSync);
  process.on('uncaughtException', onUncaught);
  return () => {
    process.off('exit', destination.flushSync);
    process.off('uncaughtException', onUncaught);
  };
}

/**
 * pino's isoTime, formatted once per millisecond: a review writes one line per policy within the
 * same millisecond, and Date#toISOString was a third of a decision line's CPU in a profile.
 */
function isoTimeOncePerMs(): () => string {
  let lastMs = Number.NaN;
  let last = '';
  return () => {
    const nowMs = Date.now();
    if (nowMs !== lastMs) {
      lastMs = nowMs;
      last = `,"time":"${new Date(nowMs).toISOString()}"`;
    }
    return last;
  };
}

export function createLogger(setup: LoggerSetup = {}): Logger {
  const options: LoggerOptions = {
    level: setup.level ?? 'info',
    base: setup.base ?? { service: 'teardown-guard' },
    timestamp: isoTimeOncePerMs(),
    redact: { paths: [...REDACT_PATHS], censor: CENSOR },
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => scrub(object) as Record<string, unknown>,
    },
  };
  return setup.destination ? pino(options, setup.destination) : pino(options);
}

/** The fields of one decision line (the shape operators grep for). */
export interface DecisionLine {
  uid: string;
  policy: string;
  verdict: string;
  mode: string;
  object: string;
  operation?: string;
  user: string;
  latencyMs: number;
  dryRun: boolean;
  reason?: string;
  /** When undecided: why (cache-unsynced, timeout, forbidden, lookup-failed, decode, internal), the metric's label. */
  undecidedKind?: string;
}

export function decisionLine(d: Decision): DecisionLine {
  const line: DecisionLine = {
    uid: d.uid,
    policy: d.policy,
    verdict: d.verdict,
    mode: d.mode,
    object: d.object,
    operation: d.operation,
    user: d.user,
    latencyMs: d.latencyMs,
    dryRun: d.dryRun,
  };
  if (d.reason !== undefined) line.reason = d.reason;
  if (d.undecidedKind !== undefined) line.undecidedKind = d.undecidedKind;
  return line;
}

/**
 * The logger decision lines go through: the same destination, level and bindings, without the
 * path redaction and the deep scrub. Those two layers cost about two thirds of a line (16 -> 6 us
 * measured) and guard nothing here: a DecisionLine holds only scalars the guard itself derived
 * (names, verdicts, our own reason text), never an object or payload. Built once per logger.
 */
const decisionLoggers = new WeakMap<Logger, Logger>();
function decisionLogger(logger: Logger): Logger {
  let child = decisionLoggers.get(logger);
  if (!child) {
    child = logger.child({}, { redact: [], formatters: { log: (object: object) => object } });
    decisionLoggers.set(logger, child);
  }
  return child;
}

/** One JSON line per decision: `msg: "decision"` plus uid, policy, verdict, mode, object, user, latencyMs. */
export function logDecision(logger: Logger, d: Decision): void {
  const line = decisionLine(d);
  const out = decisionLogger(logger);
  if (d.verdict === 'deny' || d.verdict === 'break-glass' || d.verdict === 'undecided') out.warn(line, 'decision');
  else out.info(line, 'decision');
}
