// Part 1: the webhook alone. For each request type, in the same run and on the same process:
// the guard's /validate and the no-op /validate (same express + HTTPS stack, body parsing,
// answering allowed), alternating which goes first on each repetition so drift on a shared
// machine hits both alike. Two load shapes per repetition:
//   - fixed rate: 200 req/s evenly spaced (open loop, load.ts runPaced), or a quarter of the
//     guard's own capacity for that request type when that is lower (calibrated at the start), so
//     latency is service time rather than queueing: what the API server sees (real namespace and
//     Helm-object DELETE rates are far lower);
//   - saturation: as fast as the server answers, for req/s and CPU per request.
// On the namespace DELETE a fourth, "bare": the no-op answer on node:https without Express, so the
// no-op's cost splits into what TLS and HTTP take and what the web framework adds.
// For the hot paths a third target, "quiet" (the same handler and view, logger at warn so allow
// decisions are not logged), shows what the per-decision log lines cost.
import type { GuardChild } from './guardChild.ts';
import type { GuardStats } from './guardProcess.ts';
import { runLoad, runPaced, type LoadResult } from './load.ts';
import type { RequestType } from './bodies.ts';

export type Target = 'guard' | 'noop' | 'quiet' | 'bare';

/** Requests per second of the fixed-rate measurement (unless a quarter of capacity is lower). */
export const FIXED_RATE = 200;
/** Floor of the fixed rate, so a slow rare path still gets samples (5 s x 5 req/s = 25). */
const MIN_RATE = 5;

export interface TargetRun {
  load: LoadResult;
  /** Guard-process CPU (user + system) per request, microseconds. */
  cpuUsPerReq: number;
  /** Live reads per request (guard only). */
  livePerReq: number;
  liveFailures: number;
  /** Guard-process GC during the run: pauses per 1000 requests, paused ms per 1000 requests, longest pause. */
  gcPer1000: number;
  gcMsPer1000: number;
  gcMaxMs: number;
  /** Event-loop delay of the guard process during the run (ms). */
  loopP99: number;
}

export interface TypeResult {
  type: RequestType;
  rate: number;
  fixed: Record<Target, TargetRun[]>;
  saturation: Record<Target, TargetRun[]>;
}

export interface WebhookOptions {
  reps: number;
  durationS: number;
  warmupS: number;
  calibrateS: number;
  connections: number;
  log: (line: string) => void;
}

/** One measurement: at an even `rate` (open loop), or saturated (autocannon) without one. */
async function measured(guard: GuardChild, target: Target, body: string, o: { durationS: number; connections: number; rate?: number }): Promise<TargetRun> {
  const before: GuardStats = await guard.stats();
  const url = { guard: guard.guardUrl, noop: guard.noopUrl, quiet: guard.quietUrl, bare: guard.bareUrl }[target];
  const load = o.rate
    ? await runPaced({ url, bodies: [body], rate: o.rate, durationS: o.durationS, connections: o.connections })
    : await runLoad({ url, body, connections: o.connections, durationS: o.durationS });
  const after: GuardStats = await guard.stats();
  const requests = {
    guard: after.reviews - before.reviews,
    noop: after.noopRequests - before.noopRequests,
    quiet: after.quietRequests - before.quietRequests,
    bare: after.bareRequests - before.bareRequests,
  }[target];
  const cpu = after.cpuUser + after.cpuSystem - (before.cpuUser + before.cpuSystem);
  return {
    load,
    cpuUsPerReq: requests > 0 ? cpu / requests : Number.NaN,
    livePerReq: requests > 0 ? (after.live.calls - before.live.calls) / requests : Number.NaN,
    liveFailures: after.live.failures - before.live.failures,
    gcPer1000: requests > 0 ? ((after.gc.count - before.gc.count) * 1000) / requests : Number.NaN,
    gcMsPer1000: requests > 0 ? ((after.gc.totalMs - before.gc.totalMs) * 1000) / requests : Number.NaN,
    gcMaxMs: after.gc.maxSinceLastStats,
    loopP99: after.loopDelay.p99,
  };
}

function describe(r: TargetRun): string {
  const l = r.load.latency;
  return (
    `${r.load.rps.toFixed(0)} req/s p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(1)} ms, cpu ${r.cpuUsPerReq.toFixed(0)} us/req, ` +
    `gc ${r.gcPer1000.toFixed(1)}/1000 req (${r.gcMsPer1000.toFixed(1)} ms, max ${r.gcMaxMs.toFixed(1)}), loop p99 ${r.loopP99.toFixed(1)} ms` +
    `${r.load.errors || r.load.non2xx ? `, ERRORS ${r.load.errors} non2xx ${r.load.non2xx}` : ''}`
  );
}

export async function benchWebhook(guard: GuardChild, types: RequestType[], o: WebhookOptions): Promise<TypeResult[]> {
  const results: TypeResult[] = [];
  for (const type of types) {
    // Warm both paths (JIT, connection pools to the API server), then calibrate the fixed rate.
    await runLoad({ url: guard.noopUrl, body: type.body, connections: o.connections, durationS: o.warmupS });
    await runLoad({ url: guard.guardUrl, body: type.body, connections: o.connections, durationS: o.warmupS });
    const calib = await runLoad({ url: guard.guardUrl, body: type.body, connections: o.connections, durationS: o.calibrateS });
    const rate = Math.max(MIN_RATE, Math.min(FIXED_RATE, Math.floor((calib.rps * 0.25) / 10) * 10));
    o.log(`${type.key}: guard capacity ~${calib.rps.toFixed(0)} req/s -> fixed rate ${rate} req/s`);
    const result: TypeResult = { type, rate, fixed: { guard: [], noop: [], quiet: [], bare: [] }, saturation: { guard: [], noop: [], quiet: [], bare: [] } };
    // The bare floor does not depend on the request: measured once, on the namespace DELETE.
    const targets: Target[] = type.hot ? ['noop', 'guard', 'quiet', ...(type.key === 'ns-delete' ? (['bare'] as const) : [])] : ['noop', 'guard'];
    for (let rep = 0; rep < o.reps; rep++) {
      // Rotate the order each repetition so no target always runs first (or last).
      const order = targets.map((_, i) => targets[(i + rep) % targets.length] as Target);
      for (const target of order) {
        const r = await measured(guard, target, type.body, { durationS: o.durationS, connections: o.connections, rate });
        result.fixed[target].push(r);
        o.log(`${type.key} rep ${rep + 1}/${o.reps} fixed ${rate}/s ${target.padEnd(5)}: ${describe(r)}`);
      }
      for (const target of order) {
        const r = await measured(guard, target, type.body, { durationS: o.durationS, connections: o.connections });
        result.saturation[target].push(r);
        o.log(`${type.key} rep ${rep + 1}/${o.reps} saturated    ${target.padEnd(5)}: ${describe(r)}`);
      }
    }
    results.push(result);
  }
  return results;
}
