// Part 4: sustained load, evenly paced (open loop, load.ts runPaced). A mix of every request type (each hot path weighted 10:1 over each
// rare path, which is still far more rare-path traffic than a real cluster sends) at a fixed overall rate for a fixed time, with zero errors required and the guard's RSS
// sampled from /proc throughout. The rate is found, not assumed: a short saturation run gives
// the guard's capacity for the mix, the run uses half of it, and if that rate is not held
// without errors the next attempt uses 30 % less (at most two retries).
import type { GuardChild } from './guardChild.ts';
import { runLoad, runPaced, type LoadResult } from './load.ts';
import type { RequestType } from './bodies.ts';

export interface SustainedAttempt {
  targetRate: number;
  load: LoadResult;
  held: boolean;
}

export interface SustainedResult {
  capacity: number;
  mix: string;
  attempts: SustainedAttempt[];
  durationS: number;
  connections: number;
  rssStart: number;
  rssEnd: number;
  rssMax: number;
  rssSamples: number[];
  heapStart: number;
  heapEnd: number;
  /** At the end: V8 heap committed, and resident bytes by kind of mapping (brk, anonymous, files), before and after a full GC. */
  heapCommittedEnd: number;
  mapsEnd: Record<string, number>;
  rssAfterGc: number;
  heapCommittedAfterGc: number;
  mapsAfterGc: Record<string, number>;
  liveReads: number;
  liveFailures: number;
  reviews: number;
}

export interface SustainedOptions {
  durationS: number;
  calibrateS: number;
  connections: number;
  log: (line: string) => void;
}

const HOT_WEIGHT = 10;

function mixOf(types: RequestType[]): { bodies: string[]; description: string } {
  const bodies: string[] = [];
  const parts: string[] = [];
  const hot = types.filter((t) => t.hot);
  const rare = types.filter((t) => !t.hot);
  for (let i = 0; i < HOT_WEIGHT; i++) for (const t of hot) bodies.push(t.body);
  for (const t of rare) bodies.push(t.body);
  for (const t of hot) parts.push(`${HOT_WEIGHT} ${t.key}`);
  for (const t of rare) parts.push(`1 ${t.key}`);
  return { bodies, description: parts.join(' : ') };
}

const roundRate = (v: number): number => (v >= 200 ? Math.floor(v / 50) * 50 : Math.max(10, Math.floor(v / 10) * 10));

export async function benchSustained(guard: GuardChild, types: RequestType[], o: SustainedOptions): Promise<SustainedResult> {
  const { bodies, description } = mixOf(types);
  await runLoad({ url: guard.guardUrl, bodies, connections: o.connections, durationS: 2 });
  const calib = await runLoad({ url: guard.guardUrl, bodies, connections: o.connections, durationS: o.calibrateS });
  const capacity = calib.rps;
  let rate = roundRate(capacity * 0.5);
  o.log(`mix capacity ~${capacity.toFixed(0)} req/s; sustained run at ${rate} req/s for ${o.durationS}s`);
  const attempts: SustainedAttempt[] = [];
  await guard.gc();
  await new Promise((r) => setTimeout(r, 1000));
  const startStats = await guard.stats();
  const rssStart = guard.procRss().rss;
  const rssSamples: number[] = [rssStart];
  let last: SustainedAttempt | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const sampler = setInterval(() => {
      const { rss } = guard.procRss();
      rssSamples.push(rss);
    }, 5000);
    let load: LoadResult;
    try {
      load = await runPaced({ url: guard.guardUrl, bodies, connections: o.connections, durationS: o.durationS, rate });
    } finally {
      clearInterval(sampler);
    }
    const held = load.errors === 0 && load.timeouts === 0 && load.non2xx === 0 && load.rps >= rate * 0.97;
    last = { targetRate: rate, load, held };
    attempts.push(last);
    o.log(
      `sustained ${rate} req/s: achieved ${load.rps.toFixed(1)} req/s, ${load.ok} ok, errors ${load.errors}, timeouts ${load.timeouts}, non2xx ${load.non2xx}, ` +
        `p50 ${load.latency.p50.toFixed(2)} p99 ${load.latency.p99.toFixed(2)} max ${load.latency.max.toFixed(1)} ms -> ${held ? 'held' : 'NOT held'}`,
    );
    if (held) break;
    rate = roundRate(rate * 0.7);
  }
  const rssEnd = guard.procRss().rss;
  rssSamples.push(rssEnd);
  const endStats = await guard.stats();
  const mapsEnd = guard.residentByMapping();
  // What of the load's memory is garbage not yet collected, and what stays after a full GC.
  await guard.gc();
  const afterGc = await guard.stats();
  const rssAfterGc = guard.procRss().rss;
  const mapsAfterGc = guard.residentByMapping();
  return {
    capacity,
    mix: description,
    attempts,
    durationS: o.durationS,
    connections: o.connections,
    rssStart,
    rssEnd,
    rssMax: Math.max(...rssSamples.filter((v) => Number.isFinite(v))),
    rssSamples,
    heapStart: startStats.mem.heapUsed,
    heapEnd: endStats.mem.heapUsed,
    heapCommittedEnd: endStats.mem.heapTotal,
    mapsEnd,
    rssAfterGc,
    heapCommittedAfterGc: afterGc.mem.heapTotal,
    mapsAfterGc,
    liveReads: endStats.live.calls - startStats.live.calls,
    liveFailures: endStats.live.failures - startStats.live.failures,
    reviews: endStats.reviews - startStats.reviews,
  };
}
