// Section slow-api: one deadline per review, timed. On its own small control plane
// (test/support/slowApiServer.ts): a DELETE whose review needs three live reads in sequence, with
// the API server fast and then slowed by a delaying proxy in front of it (each read alone fits in
// liveLookup.timeoutMs, the three together do not). Per repetition: how long the request took as
// kube-apiserver timed it (its audit event: RequestReceived to ResponseComplete) and the guard's
// own policy latency (its decision line), the verdict, and whether kube-apiserver failed open.
import { waitFor } from '../cluster/proc.ts';
import { auditEventsOf, decisionLines, FAILED_OPEN_PREFIX, SLOW, SLOW_NS, startSlowApiSetup } from '../support/slowApiServer.ts';
import { logSettled } from '../scenarios/guard.ts';

export interface SlowApiSample {
  apiserverMs: number;
  policyMs: number;
  verdict: string;
  failedOpen: boolean;
}

export interface SlowApiResult {
  budgetMs: number;
  delayMs: number;
  fast: SlowApiSample[];
  slow: SlowApiSample[];
}

export async function benchSlowApiServer(o: { reps: number; log: (line: string) => void }): Promise<SlowApiResult> {
  const setup = await startSlowApiSetup(o.log);
  const result: SlowApiResult = { budgetMs: SLOW.budgetMs, delayMs: SLOW.delayMs, fast: [], slow: [] };
  const sample = async (): Promise<SlowApiSample> => {
    const seen = auditEventsOf(setup.cp.auditLogPath, { verb: 'delete', resource: 'configmaps', name: 'web-config', namespace: SLOW_NS }).length;
    await setup.deleteNeedingThreeReads();
    const event = await waitFor(
      'the audit event of the DELETE',
      10_000,
      () => auditEventsOf(setup.cp.auditLogPath, { verb: 'delete', resource: 'configmaps', name: 'web-config', namespace: SLOW_NS })[seen],
    );
    await logSettled(setup.guard.logPath);
    const decision = decisionLines(setup.guard.logPath)
      .filter((d) => d.policy === 'helm-uninstall-namespace')
      .at(-1);
    return {
      apiserverMs: event.latencyMs,
      policyMs: decision?.latencyMs ?? NaN,
      verdict: decision?.verdict ?? 'none',
      failedOpen: Object.keys(event.annotations ?? {}).some((k) => k.startsWith(FAILED_OPEN_PREFIX)),
    };
  };
  try {
    for (let i = 0; i < o.reps; i++) {
      result.fast.push(await sample());
      setup.proxy.setDelayMs(SLOW.delayMs);
      try {
        result.slow.push(await sample());
      } finally {
        setup.proxy.setDelayMs(0);
      }
      o.log(
        `rep ${i + 1}/${o.reps}: fast ${result.fast.at(-1)?.apiserverMs} ms (${result.fast.at(-1)?.verdict}), slow ${result.slow.at(-1)?.apiserverMs} ms (${result.slow.at(-1)?.verdict})`,
      );
    }
  } finally {
    await setup.stop();
  }
  return result;
}
