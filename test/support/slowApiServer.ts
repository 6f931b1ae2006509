// What the slow-API-server test (test/integration/slowApiServer.test.ts) and its bench figures read:
// kube-apiserver's audit events of one object, the guard's decision log lines, the guard's metrics.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { Guard } from '../scenarios/guard.ts';
import { readAuditEvents } from '../scenarios/harness.ts';

/**
 * The review's budget and the API server's delay per chunk: each live read alone (one delayed
 * answer on a warm connection) fits in the budget, two in sequence do not.
 */
export const SLOW = { budgetMs: 1000, delayMs: 700 } as const;

/** kube-apiserver's audit annotation when a validating webhook failed open (k8s.io/apiserver, validating/dispatcher.go). */
export const FAILED_OPEN_PREFIX = 'failed-open.validating.webhook.admission.k8s.io/';

export interface ObjectAuditEvent {
  annotations?: Record<string, string>;
  /** ResponseComplete minus RequestReceived, as kube-apiserver timed the request. */
  latencyMs: number;
}

/** The ResponseComplete events of one object's requests, oldest first. */
export function auditEventsOf(path: string, o: { verb: string; resource: string; name: string; namespace: string }): ObjectAuditEvent[] {
  return readAuditEvents(path)
    .filter((e) => e.stage === 'ResponseComplete' && e.verb === o.verb && e.objectRef?.resource === o.resource && e.objectRef.name === o.name && e.objectRef.namespace === o.namespace)
    .map((e) => ({
      ...(e.annotations ? { annotations: e.annotations } : {}),
      latencyMs: Date.parse(e.stageTimestamp ?? '') - Date.parse(e.requestReceivedTimestamp ?? ''),
    }));
}

export interface DecisionLine { policy?: string; verdict?: string; reason?: string; latencyMs?: number }

/** The guard's "decision" log lines (one per policy per review). */
export function decisionLines(logPath: string): DecisionLine[] {
  return readFileSync(logPath, 'utf8').split('\n').flatMap((line) => {
    if (!line.includes('"msg":"decision"')) return [];
    try { return [JSON.parse(line) as DecisionLine]; } catch { return []; }
  });
}

/** The sum of the guard's /metrics samples of `name` that carry `labels` (0 when absent). */
export async function guardMetric(guard: Guard, name: string, labels: Record<string, string>): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(`${guard.url}/metrics`, { ca: guard.certs.caPem, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics: no answer')));
    req.on('error', reject);
    req.end();
  });
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (!match) continue;
    const labelText = (match[1] ?? '').split(',');
    if (want.every((w) => labelText.includes(w))) sum += Number(match[2]);
  }
  return sum;
}
