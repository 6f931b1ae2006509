// Fast path of the review: decides from a line's raw bytes whether it can matter to the
// correlator, so that most lines of a large audit log (lease renewals, gets, watches, status
// patches) are never decoded or JSON-parsed. It must be conservative: a line it skips is one the
// correlator would have ignored (src/audit/prefilter.test.ts checks fast and strict reviews agree).
//
// It only trusts lines in kube-apiserver's own encoding: compact Go JSON, Event fields in the
// order of the audit.k8s.io/v1 Go struct (kind, apiVersion, level, auditID, stage, requestURI,
// verb, user, impersonatedUser, sourceIPs, userAgent, objectRef, ...). Any other line (another
// producer, pretty-printed, an EventList, garbage) is handed to the full parser.

import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';

/** What the correlator currently wants to see besides its static interests. */
export interface Interest {
  /** Namespaces whose deletion is pending: any request in them is evidence. */
  pendingNamespaces: Lookup;
  /** User agents of open uninstall sessions: their creates may be hooks. */
  sessionUserAgents: Lookup;
}

/** A live view of a set the correlator maintains (a Set or the keys of a Map). */
export interface Lookup {
  has(key: string): boolean;
  readonly size: number;
}

const b = (s: string) => Buffer.from(s, 'latin1');
const PREFIX = b('{"kind":"Event","apiVersion":"audit.k8s.io/v1",');
const STAGE = b('"stage":"');
const VERB = b('"verb":"');
const USER_AGENT = b('"userAgent":"');
const OBJECT_REF = b('"objectRef":{');
const RESOURCE = b('"resource":"');
const NAMESPACE = b('"namespace":"');
const NAME = b('"name":"');
const OWNER_SELECTOR = b('owner');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;

/**
 * Interesting anywhere in a line: the guard's annotations, fail-open marks, and Helm ownership
 * annotations (`meta.helm.sh/release-*`) in logged bodies.
 */
export function chunkNeedles(guardName: string): Buffer[] {
  return [b(guardName), b('failed-open.'), b('meta.helm.sh/')];
}

/** Reads the JSON string value starting at `p` (just after its opening quote); undefined if escaped. */
function stringAt(buf: Buffer, p: number, end: number): string | undefined {
  const q = buf.indexOf(QUOTE, p);
  if (q < 0 || q >= end) return undefined;
  for (let k = p; k < q; k++) if (buf[k] === BACKSLASH) return undefined;
  return buf.toString('latin1', p, q);
}

/** For needles present in almost every line: when absent here, the scan stops in the next line. */
function find(buf: Buffer, needle: Buffer, from: number, end: number): number {
  const p = buf.indexOf(needle, from);
  return p >= 0 && p < end ? p : -1;
}

/** For needles often absent: never scans past `end`. */
function findWithin(buf: Buffer, needle: Buffer, from: number, end: number): number {
  if (end <= from) return -1;
  const p = buf.subarray(from, end).indexOf(needle);
  return p < 0 ? -1 : from + p;
}

const ALWAYS_VERBS = new Set(['delete', 'deletecollection']);
// Namespaces, and every resource type a built-in guard watches (the finalizer registry).
const ALWAYS_RESOURCES = new Set(['namespaces', ...BUILTIN_FINALIZER_GUARDS.map((g) => g.resource.resource)]);
const RECORD_RESOURCES = new Set(['secrets', 'configmaps']);
const HELMRELEASE_WRITE_VERBS = new Set(['create', 'update', 'patch']);

export type LineVerdict = 'parse' | 'skip' | 'not-final';

/**
 * Decides for the line buf[start, end) (no newline). `parse` for lines that need the full
 * parser, `not-final` for RequestReceived/ResponseStarted events (the correlator ignores them),
 * `skip` for lines the correlator would ignore.
 */
export function classifyLine(buf: Buffer, start: number, end: number, interest: Interest): LineVerdict {
  if (end - start < PREFIX.length || buf.compare(PREFIX, 0, PREFIX.length, start, start + PREFIX.length) !== 0) return 'parse';
  const st = find(buf, STAGE, start + PREFIX.length, end);
  if (st < 0) return 'parse';
  const stage = stringAt(buf, st + STAGE.length, end);
  if (stage === 'RequestReceived' || stage === 'ResponseStarted') return 'not-final';
  // Any other stage than the final ones is left to the full parser, which decides the same way.
  if (stage !== 'ResponseComplete' && stage !== 'Panic') return 'parse';
  const v = find(buf, VERB, st, end);
  if (v < 0) return 'parse';
  const verb = stringAt(buf, v + VERB.length, end);
  if (verb === undefined || ALWAYS_VERBS.has(verb)) return 'parse';
  const o = find(buf, OBJECT_REF, v, end);
  if (o < 0) return 'skip';
  const close = buf.indexOf(CLOSE_BRACE, o);
  if (close < 0 || close >= end) return 'parse';
  const r = find(buf, RESOURCE, o, close);
  const resource = r < 0 ? undefined : stringAt(buf, r + RESOURCE.length, close);
  if (resource !== undefined && ALWAYS_RESOURCES.has(resource)) return 'parse';
  const n = find(buf, NAME, o, close);
  const name = n < 0 ? undefined : stringAt(buf, n + NAME.length, close);
  if (name !== undefined && name.startsWith('sh.helm.release.v1.')) return 'parse';
  if (resource === 'deployments' && name === 'olm-operator') return 'parse';
  // Writes to Flux HelmReleases mark helm-controller's uninstalls (helmReleaseWriters.ts).
  if (resource === 'helmreleases' && HELMRELEASE_WRITE_VERBS.has(verb)) return 'parse';
  if (resource !== undefined && RECORD_RESOURCES.has(resource) && (verb === 'list' || verb === 'watch') && findWithin(buf, OWNER_SELECTOR, start, v) >= 0)
    return 'parse';
  if (interest.pendingNamespaces.size > 0) {
    const ns = find(buf, NAMESPACE, o, close);
    const namespace = ns < 0 ? undefined : stringAt(buf, ns + NAMESPACE.length, close);
    if (namespace !== undefined && interest.pendingNamespaces.has(namespace)) return 'parse';
  }
  if (verb === 'create' && interest.sessionUserAgents.size > 0) {
    const u = find(buf, USER_AGENT, v, o);
    if (u < 0) return 'parse';
    const ua = stringAt(buf, u + USER_AGENT.length, o);
    if (ua === undefined || interest.sessionUserAgents.has(ua)) return 'parse';
  }
  return 'skip';
}
