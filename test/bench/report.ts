// Renders the benchmark results as markdown: the full tables (test/bench/RESULTS.md) and the goals
// summary docs/PERFORMANCE.md carries.
import type { ApiserverResult, Mode } from './apiserverPath.ts';
import type { PhaseResult } from './populate.ts';
import type { SustainedResult } from './sustained.ts';
import type { InferenceResult } from './inference.ts';
import type { SlowApiResult, SlowApiSample } from './slowApiServer.ts';
import type { StormResult, StormRun } from './storm.ts';
import { int, median, medianOf, mib, ms, ratio, secs, summarizeValues, x } from './stats.ts';
import { FIXED_RATE, type Target, type TypeResult } from './webhook.ts';

export interface MachineInfo {
  nproc: number;
  model: string;
  memGiB: number;
  node: string;
  kernel: string;
  date: string;
  kube: string;
  etcd: string;
}

export interface MemoryRun {
  beforeCaches: number;
  afterSync: number;
  settled: number;
  afterGc: number;
  heapBeforeCaches: number;
  heapAfterSync: number;
  heapAfterGc: number;
  heapCommittedAfterGc: number;
  externalAfterGc: number;
  /** Resident bytes by mapping kind (heap = glibc main arena, anonymous = V8 pages and other mmaps, files = code). */
  mapsBefore: Record<string, number>;
  mapsAfterGc: Record<string, number>;
  syncMs: number;
}

export interface BenchReport {
  machine: MachineInfo;
  settings: { quick: boolean; scale: number; reps: number; durationS: number; connections: number; loadDurationS: number; only?: string; command: string };
  cluster?: { totals: Record<string, number>; phases: PhaseResult[]; totalMs: number };
  memory?: {
    runs: MemoryRun[];
    caches: Record<string, number>;
    modules?: { node: number; clientNode: number; guard: number };
    /** The same starts with extra Node options (a candidate setting). */
    variant?: { nodeOptions: string[]; runs: MemoryRun[] };
  };
  /** Node options the guard process ran with (the Deployment manifest's NODE_OPTIONS). */
  nodeOptions?: string[];
  webhook?: TypeResult[];
  sustained?: SustainedResult;
  apiserver?: ApiserverResult;
  slowApi?: SlowApiResult;
  inference?: InferenceResult;
  storm?: StormResult;
  notes: string[];
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

const P99_GOAL = 1.3;
const RSS_GOAL_MIB = 250;
/** Through kube-apiserver, the guard's p50 at most this times CEL's and the no-op webhook's (issue 24: every default check on). */
const P50_THROUGH_API_SERVER_GOAL = 1.5;
/** Issue 15: the guard at or below Kyverno, same API server, same run. */
const KYVERNO_GOAL = 1;
/** Issue 5, a bigger storm: its DELETE calls' wall time with the guard at most this times without. */
const STORM_WALL_GOAL = 1.2;

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function med(runs: TypeResult['fixed'][Target], pick: (r: TypeResult['fixed'][Target][number]) => number): number {
  return medianOf(runs, pick);
}

export function webhookRatios(t: TypeResult): { p50: number; p99: number; sat: number; cpu: number } {
  return {
    p50: ratio(
      med(t.fixed.guard, (r) => r.load.latency.p50),
      med(t.fixed.noop, (r) => r.load.latency.p50),
    ),
    p99: ratio(
      med(t.fixed.guard, (r) => r.load.latency.p99),
      med(t.fixed.noop, (r) => r.load.latency.p99),
    ),
    sat: ratio(
      med(t.saturation.noop, (r) => r.load.rps),
      med(t.saturation.guard, (r) => r.load.rps),
    ),
    cpu: ratio(
      med(t.saturation.guard, (r) => r.cpuUsPerReq),
      med(t.saturation.noop, (r) => r.cpuUsPerReq),
    ),
  };
}

export function goals(r: BenchReport): Goal[] {
  const out: Goal[] = [];
  for (const t of r.webhook ?? []) {
    if (!t.type.hot) continue;
    const q = webhookRatios(t);
    out.push({
      goal: `webhook p99 guard/no-op, ${t.type.title} (at ${t.rate} req/s)`,
      target: `<= ${P99_GOAL}`,
      measured: x(q.p99),
      met: Number.isFinite(q.p99) ? q.p99 <= P99_GOAL : undefined,
    });
    const satP99 = ratio(
      med(t.saturation.guard, (s) => s.load.latency.p99),
      med(t.saturation.noop, (s) => s.load.latency.p99),
    );
    out.push({
      goal: `webhook p99 guard/no-op at saturation, ${t.type.title}`,
      target: `<= ${P99_GOAL} (stricter reading)`,
      measured: x(satP99),
      met: Number.isFinite(satP99) ? satP99 <= P99_GOAL : undefined,
    });
  }
  if (r.memory) {
    const rss = medianOf(r.memory.runs, (m) => m.afterSync) / 1024 / 1024;
    const peak = Math.max(...r.memory.runs.map((m) => Math.max(m.afterSync, m.settled))) / 1024 / 1024;
    out.push({
      goal: `guard RSS after syncing the view${r.nodeOptions?.length ? ` (NODE_OPTIONS ${r.nodeOptions.join(' ')}, as the manifest)` : ''}`,
      target: `<= ${RSS_GOAL_MIB} MiB`,
      measured: `${rss.toFixed(0)} MiB (highest seen ${peak.toFixed(0)})`,
      met: peak <= RSS_GOAL_MIB,
    });
    const v = r.memory.variant;
    if (v) {
      const vr = medianOf(v.runs, (m) => m.afterSync) / 1024 / 1024;
      const vp = Math.max(...v.runs.map((m) => Math.max(m.afterSync, m.settled))) / 1024 / 1024;
      out.push({
        goal: `guard RSS after syncing the view, NODE_OPTIONS ${v.nodeOptions.join(' ') || '(none)'} (for comparison)`,
        target: `<= ${RSS_GOAL_MIB} MiB`,
        measured: `${vr.toFixed(0)} MiB (highest seen ${vp.toFixed(0)})`,
        met: vp <= RSS_GOAL_MIB,
      });
    }
  }
  if (r.apiserver) {
    const g = medianOf(r.apiserver.runs.guard, (s) => s.p50);
    for (const [name, baseline] of [
      ['CEL', r.apiserver.runs.cel],
      ['no-op webhook', r.apiserver.runs.noop],
    ] as const) {
      const q = ratio(
        g,
        medianOf(baseline, (s) => s.p50),
      );
      out.push({
        goal: `namespace DELETE p50 through the API server, guard/${name}`,
        target: `<= ${P50_THROUGH_API_SERVER_GOAL}`,
        measured: x(q),
        met: Number.isFinite(q) ? q <= P50_THROUGH_API_SERVER_GOAL : undefined,
      });
    }
  }
  for (const row of kyvernoRows(r.apiserver)) {
    if (row.key === 'kyverno') continue;
    for (const [what, q] of [
      ['p50', row.vsKyverno.p50],
      ['p99', row.vsKyverno.p99],
      ['RSS', row.vsKyverno.rss],
    ] as const) {
      out.push({
        goal: `namespace DELETE through the API server, ${row.name}/Kyverno, ${what}`,
        target: `<= ${KYVERNO_GOAL}`,
        measured: x(q),
        met: Number.isFinite(q) ? q <= KYVERNO_GOAL : undefined,
      });
    }
  }
  if (r.storm) out.push(...stormGoals(r.storm));
  if (r.sustained) {
    const last = r.sustained.attempts[r.sustained.attempts.length - 1];
    if (last) {
      const l = last.load;
      out.push({
        goal: `sustained ${last.targetRate} req/s for ${r.sustained.durationS}s, zero errors`,
        target: '0 errors, rate held',
        measured: `${l.rps.toFixed(0)} req/s, ${l.errors + l.timeouts + l.non2xx} errors`,
        met: last.held,
      });
      const growth = r.sustained.rssEnd - r.sustained.rssStart;
      out.push({
        goal: 'RSS flat under sustained load',
        target: 'end - start < 10 % of start',
        measured: `${mib(r.sustained.rssStart)} -> ${mib(r.sustained.rssEnd)} MiB`,
        met: growth < r.sustained.rssStart * 0.1,
      });
    }
  }
  return out;
}

const tick = (met: boolean | undefined): string => (met === undefined ? 'n/a' : met ? 'met' : '**missed**');

/** The summary docs/PERFORMANCE.md carries: the machine, the goals table and where the full tables are. */
export function renderReadmeSummary(r: BenchReport): string {
  const m = r.machine;
  const lines = [
    `Last full run: \`${r.settings.command}\`, ${m.date}, ${m.nproc} vCPU (${m.model}), ${m.memGiB} GiB RAM, Node ${m.node}, ` +
      `kube-apiserver ${m.kube} and etcd ${m.etcd} on 127.0.0.1. Medians over repetitions; every ratio is against a baseline measured in the same run.`,
    '',
    table(
      ['goal', 'target', 'measured', 'result'],
      goals(r).map((o) => [o.goal, o.target, o.measured, tick(o.met)]),
    ),
    '',
    'Every table behind these figures (cluster build-up, memory per process start, per-request latency and CPU, GC, the sustained run, the API-server path): [test/bench/RESULTS.md](../test/bench/RESULTS.md).',
  ];
  return lines.join('\n');
}

export function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const s = r.settings;
  const parts: string[] = [];
  parts.push('## Benchmarks');
  parts.push('');
  parts.push(
    `\`${s.command}\`, ${m.date}. Machine: ${m.nproc} vCPU (${m.model}), ${m.memGiB} GiB RAM, ${m.kernel}; Node ${m.node}; kube-apiserver ${m.kube}, etcd ${m.etcd} on 127.0.0.1. ` +
      `The machine is shared and noisy, so every figure is a median over repetitions (webhook: ${s.reps}, memory: 3 process starts, API server: 3) and every comparison is a ratio against a baseline measured in the same run, interleaved with it. Nothing here is a test assertion.` +
      (s.quick ? ' **Quick run** (short durations' + (s.scale !== 1 ? `, cluster at scale ${s.scale}` : '') + '): indicative only.' : ''),
  );
  parts.push('');

  parts.push('How to run it (the pinned control-plane binaries must be built once: `npm run build:binaries`):');
  parts.push('');
  parts.push('```sh');
  parts.push('npm run bench                 # everything at full scale (~70 min on 2 vCPU, the storm ~25 of them); rewrites test/bench/RESULTS.md');
  parts.push('npm run bench -- --quick      # 1/10-scale cluster, short measurements (~10 min); prints the tables only');
  parts.push(
    'npm run bench -- --only webhook   # or memory | load | apiserver (the cluster and the guard always start) | slow-api | inference | storm (each on its own cluster)',
  );
  parts.push('npm run bench -- --help       # every option (scale, repetitions, durations, CPU profile, Node options)');
  parts.push('```');
  parts.push('');
  parts.push(
    'Everything runs on 127.0.0.1: a real etcd, kube-apiserver and kube-controller-manager (test/cluster), the guard as its own process ' +
      '(test/bench/guardProcess.ts: the real serve wiring, bundled by build.ts like the image), autocannon as the load generator. Every loop is bounded; every process stops by itself.',
  );
  parts.push('');

  const g = goals(r);
  if (g.length > 0) {
    parts.push('### Goals');
    parts.push('');
    parts.push(
      table(
        ['goal', 'target', 'measured', 'result'],
        g.map((o) => [o.goal, o.target, o.measured, tick(o.met)]),
      ),
    );
    parts.push('');
  }

  if (r.cluster) {
    const t = r.cluster.totals;
    parts.push('### Cluster under test');
    parts.push('');
    parts.push(
      `${int(t['namespaces'] ?? NaN)} namespaces, ${int(t['csvs'] ?? NaN)} ClusterServiceVersions (${int(t['copiedCsvs'] ?? NaN)} copied, the rest carrying \`operators.coreos.com/csv-cleanup\`), ` +
        `${int(t['records'] ?? NaN)} Helm release records (Secrets, ~2 KiB gzip payload each), ${int(t['deployments'] ?? NaN)} olm-operator-like Deployments (Available through the real deployment controller). ` +
        `Created in ${secs(r.cluster.totalMs)} s by parallel requests:`,
    );
    parts.push('');
    parts.push(
      table(
        ['objects', 'count', 'seconds', 'per second'],
        r.cluster.phases.map((p) => [p.name, int(p.count), secs(p.ms), int(p.count / (p.ms / 1000))]),
      ),
    );
    parts.push('');
  }

  if (r.memory) {
    parts.push('### Memory and cache sync (guard process, view synced against that cluster)');
    parts.push('');
    parts.push(
      `The guard runs bundled by build.ts (as the image is built), NODE_ENV=production, NODE_OPTIONS \`${(r.nodeOptions ?? []).join(' ') || '(none)'}\` as manifests/base/deployment.yaml sets them. ` +
        'Each start is a fresh process syncing every cache; RSS is read from /proc.',
    );
    parts.push('');
    parts.push(memoryTable(r.memory.runs));
    parts.push('');
    const v = r.memory.variant;
    if (v) {
      parts.push(`The same with NODE_OPTIONS \`${v.nodeOptions.join(' ') || '(none)'}\` instead:`);
      parts.push('');
      parts.push(memoryTable(v.runs));
      parts.push('');
    }
    const mod = r.memory.modules;
    if (mod) {
      parts.push(
        `RSS of a fresh Node process with the same options after importing only (full GC, no data): bare Node ${mib(mod.node)} MiB; \`@kubernetes/client-node\` loaded file by file (unbundled) ${mib(mod.clientNode)} MiB; the guard's serve modules (src/server/services.ts and everything it imports, bundled by build.ts as the image) ${mib(mod.guard)} MiB.`,
      );
      parts.push('');
    }
    parts.push(
      `Cached objects: ${Object.entries(r.memory.caches)
        .map(([k, v1]) => `${k} ${int(v1)}`)
        .join(', ')}.`,
    );
    parts.push('');
  }

  if (r.webhook && r.webhook.length > 0) {
    parts.push(`### Webhook alone: POST /validate, HTTPS keep-alive, ${s.connections} connections (autocannon)`);
    parts.push('');
    parts.push(
      'Guard = the real server (`startServices`: watch caches over the cluster above, both policies, decision logging at info, metrics). ' +
        'No-op = a second HTTPS server in the same process on the same stack (`startServer`: express, TLS, JSON body parsing, metrics) whose handler answers allowed. ' +
        `Fixed rate = ${FIXED_RATE} requests per second evenly spaced (open loop: latency counted from each request's due time), or a quarter of the guard's own capacity for that request when lower (calibrated first), so latency is service time rather than queueing; saturation = autocannon, as fast as answers come. Latency is client-side, ms; ${s.durationS} s per measurement.`,
    );
    parts.push('');
    parts.push(
      table(
        ['request', 'guard does', 'rate/s', 'guard p50', 'p99', 'max', 'no-op p50', 'p99', 'max', 'p50 ratio', 'p99 ratio'],
        r.webhook.map((t) => {
          const q = webhookRatios(t);
          return [
            `${t.type.title}${t.type.hot ? ' (hot)' : ''}`,
            t.type.path,
            int(t.rate),
            ms(med(t.fixed.guard, (y) => y.load.latency.p50)),
            ms(med(t.fixed.guard, (y) => y.load.latency.p99)),
            ms(med(t.fixed.guard, (y) => y.load.latency.max)),
            ms(med(t.fixed.noop, (y) => y.load.latency.p50)),
            ms(med(t.fixed.noop, (y) => y.load.latency.p99)),
            ms(med(t.fixed.noop, (y) => y.load.latency.max)),
            x(q.p50),
            x(q.p99),
          ];
        }),
      ),
    );
    parts.push('');
    parts.push(
      table(
        [
          'request (saturation)',
          'guard req/s',
          'no-op req/s',
          'throughput cost',
          'guard p50',
          'p99',
          'no-op p50',
          'p99',
          'p99 ratio',
          'CPU/req guard',
          'no-op',
          'CPU ratio',
          'live reads/req',
        ],
        r.webhook.map((t) => {
          const q = webhookRatios(t);
          const gp99 = med(t.saturation.guard, (y) => y.load.latency.p99);
          const np99 = med(t.saturation.noop, (y) => y.load.latency.p99);
          return [
            t.type.title,
            int(med(t.saturation.guard, (y) => y.load.rps)),
            int(med(t.saturation.noop, (y) => y.load.rps)),
            x(q.sat),
            ms(med(t.saturation.guard, (y) => y.load.latency.p50)),
            ms(gp99),
            ms(med(t.saturation.noop, (y) => y.load.latency.p50)),
            ms(np99),
            x(ratio(gp99, np99)),
            `${int(med(t.saturation.guard, (y) => y.cpuUsPerReq))} us`,
            `${int(med(t.saturation.noop, (y) => y.cpuUsPerReq))} us`,
            x(q.cpu),
            med(t.saturation.guard, (y) => y.livePerReq).toFixed(2),
          ];
        }),
      ),
    );
    parts.push('');
    const hot = r.webhook.filter((t) => t.fixed.quiet.length > 0);
    if (hot.length > 0) {
      parts.push(
        'What the per-decision log lines cost on the hot paths: "quiet" is the same admission handler over the same view with the logger at warn, so allow decisions (one info line per policy that applies) are not written.',
      );
      parts.push('');
      parts.push(
        table(
          ['request', 'guard p50 / p99 ratio', 'quiet p50 / p99 ratio', 'CPU/req guard', 'quiet', 'no-op', 'guard req/s', 'quiet req/s', 'no-op req/s'],
          hot.map((t) => {
            const pr = (tg: Target, pick: 'p50' | 'p99'): number =>
              ratio(
                med(t.fixed[tg], (y) => y.load.latency[pick]),
                med(t.fixed.noop, (y) => y.load.latency[pick]),
              );
            return [
              t.type.title,
              `${x(pr('guard', 'p50'))} / ${x(pr('guard', 'p99'))}`,
              `${x(pr('quiet', 'p50'))} / ${x(pr('quiet', 'p99'))}`,
              `${int(med(t.saturation.guard, (y) => y.cpuUsPerReq))} us`,
              `${int(med(t.saturation.quiet, (y) => y.cpuUsPerReq))} us`,
              `${int(med(t.saturation.noop, (y) => y.cpuUsPerReq))} us`,
              int(med(t.saturation.guard, (y) => y.load.rps)),
              int(med(t.saturation.quiet, (y) => y.load.rps)),
              int(med(t.saturation.noop, (y) => y.load.rps)),
            ];
          }),
        ),
      );
      parts.push('');
    }
    const floor = r.webhook.find((t) => (t.fixed.bare ?? []).length > 0);
    if (floor) {
      const row = (tg: 'noop' | 'bare', name: string): string[] => [
        name,
        ms(med(floor.fixed[tg], (y) => y.load.latency.p50)),
        ms(med(floor.fixed[tg], (y) => y.load.latency.p99)),
        int(med(floor.saturation[tg], (y) => y.load.rps)),
        ms(med(floor.saturation[tg], (y) => y.load.latency.p99)),
        `${int(med(floor.saturation[tg], (y) => y.cpuUsPerReq))} us`,
      ];
      const share = ratio(
        med(floor.saturation.noop, (y) => y.cpuUsPerReq) - med(floor.saturation.bare, (y) => y.cpuUsPerReq),
        med(floor.saturation.guard, (y) => y.cpuUsPerReq),
      );
      parts.push(
        `The floor itself (${floor.type.title}): the no-op answer on Express (what the no-op target is) and on bare node:https with the same TLS settings and keep-alive, parsing the body as JSON. ` +
          `Express's share of the guard's CPU per review: ${Number.isFinite(share) ? `${(share * 100).toFixed(0)} %` : 'n/a'}.`,
      );
      parts.push('');
      parts.push(
        table(
          ['server', `p50 ms at ${floor.rate} req/s`, 'p99 ms', 'req/s saturated', 'p99 ms saturated', 'CPU/req'],
          [row('noop', 'no-op on Express'), row('bare', 'no-op on bare node:https')],
        ),
      );
      parts.push('');
    }
    if (hot.length > 0) {
      parts.push(`Garbage collection and event-loop delay in the guard process during the fixed-rate runs (${FIXED_RATE} req/s; medians):`);
      parts.push('');
      const targetNames: Record<Target, string> = { guard: 'guard', quiet: 'quiet', noop: 'no-op', bare: 'no-op, bare node:https' };
      parts.push(
        table(
          ['request', 'server', 'p99 ms', 'GC pauses per 1000 req', 'GC ms per 1000 req', 'longest GC pause ms', 'event-loop delay p99 ms'],
          hot.flatMap((t) =>
            (['guard', 'quiet', 'noop', 'bare'] as const)
              .filter((tg) => t.fixed[tg].length > 0)
              .map((tg) => [
                t.type.title,
                targetNames[tg],
                ms(med(t.fixed[tg], (y) => y.load.latency.p99)),
                med(t.fixed[tg], (y) => y.gcPer1000).toFixed(1),
                ms(med(t.fixed[tg], (y) => y.gcMsPer1000)),
                ms(med(t.fixed[tg], (y) => y.gcMaxMs)),
                ms(med(t.fixed[tg], (y) => y.loopP99)),
              ]),
          ),
        ),
      );
      parts.push('');
    }
    const errs = r.webhook
      .flatMap((t) => (['guard', 'noop', 'quiet', 'bare'] as const).flatMap((tg) => [...(t.fixed[tg] ?? []), ...(t.saturation[tg] ?? [])]))
      .reduce((a, y) => a + y.load.errors + y.load.non2xx + y.load.timeouts, 0);
    const liveFail = r.webhook.flatMap((t) => [...t.fixed.guard, ...t.saturation.guard]).reduce((a, y) => a + y.liveFailures, 0);
    parts.push(
      `Errors, timeouts and non-2xx answers over all webhook measurements: ${errs}; failed live reads: ${liveFail}. Every request type's answer was checked before measuring (allowed, no undecided warning; the cross-release one flagged).`,
    );
    parts.push('');
  }

  if (r.sustained) {
    const su = r.sustained;
    parts.push(`### Sustained load: ${su.durationS} s, mixed requests, ${su.connections} connections`);
    parts.push('');
    parts.push(
      `Mix per cycle: ${su.mix}. Capacity for the mix (saturation, calibration run): ${int(su.capacity)} req/s; sustained rate = half of it, lowered by 30 % if not held.`,
    );
    parts.push('');
    parts.push(
      table(
        ['target req/s', 'achieved req/s', 'requests', 'errors', 'timeouts', 'non-2xx', 'p50 ms', 'p99 ms', 'max ms', 'held'],
        su.attempts.map((a) => [
          int(a.targetRate),
          a.load.rps.toFixed(1),
          int(a.load.ok),
          String(a.load.errors),
          String(a.load.timeouts),
          String(a.load.non2xx),
          ms(a.load.latency.p50),
          ms(a.load.latency.p99),
          ms(a.load.latency.max),
          a.held ? 'yes' : 'no',
        ]),
      ),
    );
    parts.push('');
    parts.push(
      `Guard RSS: start ${mib(su.rssStart)} MiB, end ${mib(su.rssEnd)} MiB, highest sample ${mib(su.rssMax)} MiB (sampled every 5 s: ${su.rssSamples.map((v) => mib(v)).join(', ')}). ` +
        `V8 heap used: ${mib(su.heapStart)} -> ${mib(su.heapEnd)} MiB. Live reads during the run: ${int(su.liveReads)} (${su.liveFailures} failed) for ${int(su.reviews)} reviews.`,
    );
    if (su.mapsEnd) {
      const maps = (m: Record<string, number>) =>
        Object.entries(m)
          .map(([k, v]) => `${k} ${mib(v)}`)
          .join(', ');
      parts.push('');
      parts.push(
        `At the end, resident by mapping (MiB): ${maps(su.mapsEnd)}; V8 heap committed ${mib(su.heapCommittedEnd)} MiB. ` +
          `After a full GC: RSS ${mib(su.rssAfterGc)} MiB, heap committed ${mib(su.heapCommittedAfterGc)} MiB, ${maps(su.mapsAfterGc)}.`,
      );
    }
    parts.push('');
  }

  if (r.apiserver) {
    const a = r.apiserver;
    const medP = (mode: Mode, pick: 'p50' | 'p99'): number => medianOf(a.runs[mode], (y) => y[pick]);
    parts.push(`### Through the API server: namespace DELETE as a client sees it (${a.perMode} per mode x ${a.reps} repetitions, interleaved)`);
    parts.push('');
    parts.push(
      `none = no admission applies; CEL = a ValidatingAdmissionPolicy on namespaces DELETE inspecting the namespace (\`${a.celExpression}\`); guard = the guard's webhook (the process above) on namespaces DELETE; no-op webhook = the no-op handler of the same process registered the same way (the floor of any webhook on this stack). ` +
        'Each DELETE is timed alone (one at a time); the answer returns once the namespace is Terminating.',
    );
    parts.push('');
    const names: Record<Mode, string> = {
      none: 'no admission',
      cel: 'CEL (ValidatingAdmissionPolicy)',
      guard: 'guard webhook',
      noop: 'no-op webhook (same stack)',
    };
    parts.push(
      table(
        ['mode', 'p50 ms', 'p99 ms', 'max ms', 'p50 vs none', 'p99 vs none', 'p50 vs CEL'],
        (['none', 'cel', 'guard', 'noop'] as const).map((mode) => [
          names[mode],
          ms(medP(mode, 'p50')),
          ms(medP(mode, 'p99')),
          ms(a.pooled[mode].max),
          x(ratio(medP(mode, 'p50'), medP('none', 'p50'))),
          x(ratio(medP(mode, 'p99'), medP('none', 'p99'))),
          x(ratio(medP(mode, 'p50'), medP('cel', 'p50'))),
        ]),
      ),
    );
    parts.push('');
    parts.push(`Failed DELETEs: ${a.errors}.`);
    parts.push('');
    parts.push(...kyvernoSection(a));
  }

  if (r.slowApi) parts.push(...slowApiSection(r.slowApi));
  if (r.inference) parts.push(...inferenceSection(r.inference));
  if (r.storm) parts.push(...stormSection(r.storm));

  const f = findings(r);
  if (f.length > 0) {
    parts.push('### What the numbers say');
    parts.push('');
    for (const line of f) parts.push(`- ${line}`);
    parts.push('');
  }

  if (r.notes.length > 0) {
    parts.push('### Notes');
    parts.push('');
    for (const n of r.notes) parts.push(`- ${n}`);
    parts.push('');
  }
  return parts.join('\n');
}

interface KyvernoRow {
  key: 'guard' | 'guard-olm' | 'kyverno';
  name: string;
  p50: number;
  p99: number;
  rss: number;
  cpuUs: number;
  /** CPU per review with the process's idle background work over the same time subtracted. */
  cpuUsNet: number;
  vsKyverno: { p50: number; p99: number; rss: number };
}

/** The webhook arms of a run with Kyverno: the guard as configured, the guard with Kyverno's checks only, Kyverno. */
export function kyvernoRows(a: ApiserverResult | undefined): KyvernoRow[] {
  const k = a?.kyverno;
  if (!a || !k) return [];
  const p = (runs: ApiserverResult['runs']['guard'], pick: 'p50' | 'p99'): number => medianOf(runs, (y) => y[pick]);
  const kyverno = { p50: p(k.runs, 'p50'), p99: p(k.runs, 'p99'), rss: k.rssReady };
  const row = (key: KyvernoRow['key'], name: string, m: Omit<KyvernoRow, 'key' | 'name' | 'vsKyverno'>): KyvernoRow => ({
    key,
    name,
    ...m,
    vsKyverno: { p50: ratio(m.p50, kyverno.p50), p99: ratio(m.p99, kyverno.p99), rss: ratio(m.rss, kyverno.rss) },
  });
  const rows = [
    // The guard process also serves the no-op webhook in this window: its CPU is per call of either.
    row('guard', 'guard, defaults', {
      p50: p(a.runs.guard, 'p50'),
      p99: p(a.runs.guard, 'p99'),
      rss: k.guardRssReady,
      cpuUs: median(k.guardCpuUsPerCall),
      cpuUsNet: median(k.guardCpuUsPerCallNetOfIdle),
    }),
  ];
  const o = a.olmOnly;
  if (o)
    rows.push(
      row('guard-olm', "guard, Kyverno's checks only", {
        p50: p(o.runs, 'p50'),
        p99: p(o.runs, 'p99'),
        rss: o.rssReady,
        cpuUs: median(o.cpuUsPerReview),
        cpuUsNet: median(o.cpuUsPerReviewNetOfIdle),
      }),
    );
  rows.push(row('kyverno', `Kyverno ${k.version}`, { ...kyverno, cpuUs: median(k.cpuUsPerReview), cpuUsNet: median(k.cpuUsPerReviewNetOfIdle) }));
  return rows;
}

function kyvernoSection(a: ApiserverResult): string[] {
  const rows = kyvernoRows(a);
  const k = a.kyverno;
  if (!k || rows.length === 0) return [];
  return [
    '### Side by side with Kyverno (same API server, same run, interleaved with the modes above)',
    '',
    "Kyverno's admission controller runs out of cluster with test/cluster/kyverno/orphanedFinalizersPolicy.yaml (the closest ClusterPolicy to olm-orphaned-finalizers: one live list of the namespace's CSVs per review, the olm-operator Deployment from its cache), failurePolicy Fail. " +
      "guard, defaults = the guard as shipped (five policies; on a namespace DELETE three of them read RBAC, the namespace's finalized objects, APIServices and webhook configurations live); guard, Kyverno's checks only = a second guard process with those three `off`. " +
      "RSS once synced with the webhook in force; CPU per review over the DELETE phase, and net of the same process's CPU rate over the 5 s before the DELETEs, with nothing sent to it (background work: watch events; the first guard process also serves the no-op webhook, so its figures are per call of either).",
    '',
    table(
      ['webhook', 'p50 ms', 'p99 ms', 'RSS MiB', 'CPU us/review', 'net of idle', 'p50 vs Kyverno', 'p99 vs Kyverno', 'RSS vs Kyverno'],
      rows.map((r) => [r.name, ms(r.p50), ms(r.p99), mib(r.rss), int(r.cpuUs), int(r.cpuUsNet), x(r.vsKyverno.p50), x(r.vsKyverno.p99), x(r.vsKyverno.rss)]),
    ),
    '',
    `Kyverno: ${mib(k.rssPeak)} MiB peak, ${k.reviewsCounted} admission requests counted for ${k.deletesSent} Kyverno-mode DELETEs.`,
    '',
  ];
}

/** Findings computed from this run's numbers (so they stay true when the bench is re-run). */
export function findings(r: BenchReport): string[] {
  const out: string[] = [];
  if (r.memory) {
    const runs = r.memory.runs;
    const before = medianOf(runs, (m) => m.beforeCaches);
    const synced = medianOf(runs, (m) => m.afterSync);
    const heapData = medianOf(runs, (m) => m.heapAfterGc - m.heapBeforeCaches);
    const rest = synced - before - heapData;
    const mod = r.memory.modules;
    out.push(
      `Memory: the guard process holds ${mib(synced)} MiB once synced. ${mib(before)} MiB of it is there before any cache starts` +
        (mod
          ? ` (bare Node ${mib(mod.node)} MiB; importing @kubernetes/client-node file by file, as unbundled code would, adds ${mib(mod.clientNode - mod.node)} MiB on its own; the guard's serve modules, bundled as the image, ${mib(mod.guard)} MiB in all)`
          : '') +
        `. The caches' live data is ${mib(heapData)} MiB of V8 heap (heap used after a full GC, minus before). The remaining ${mib(rest)} MiB is not live data: ` +
        'V8 keeps the young-generation pages freed after the sync burst in its page pool (`node --trace-gc-verbose` reports it as "Pool buffering N chunks"), resident but outside every heap statistic, and a forced GC does not return it (glibc malloc tuning and smaller list pages made no difference in trials).',
    );
    const v = r.memory.variant;
    if (v) {
      const vs = medianOf(v.runs, (m) => m.afterSync);
      out.push(
        `With NODE_OPTIONS \`${v.nodeOptions.join(' ') || '(none)'}\` instead, the same start holds ${mib(vs)} MiB (${vs >= synced ? `${mib(vs - synced)} MiB more` : `${mib(synced - vs)} MiB less`}; cache sync ${secs(medianOf(v.runs, (m) => m.syncMs))} s vs ${secs(medianOf(runs, (m) => m.syncMs))} s).`,
      );
    }
  }
  const hot = (r.webhook ?? []).filter((t) => t.fixed.quiet.length > 0);
  for (const t of hot) {
    const g = medianOf(t.saturation.guard, (y) => y.cpuUsPerReq);
    const q = medianOf(t.saturation.quiet, (y) => y.cpuUsPerReq);
    const n = medianOf(t.saturation.noop, (y) => y.cpuUsPerReq);
    if ([g, q, n].every(Number.isFinite) && g > n) {
      out.push(
        `${t.type.title}: the guard costs ${int(g - n)} us of CPU per request over the HTTP floor (${int(n)} us); without its info decision lines (one per policy that applies) it costs ${int(Math.max(0, q - n))} us, so decision logging is ${Math.round(Math.min(100, Math.max(0, ((g - q) / (g - n)) * 100)))} % of the guard's own cost; the policies, parsing and metrics are the rest.`,
      );
    }
  }
  const rare = (r.webhook ?? []).filter((t) => !t.type.hot);
  if (rare.length > 0) {
    out.push(
      `Rare paths (${rare.map((t) => t.type.key).join(', ')}) make live reads through kube-apiserver (a GET also reaches etcd), so their latency is mostly the API server's round trips; ` +
        'they also cost the guard several times the CPU of a hot review (the extra HTTPS requests and their JSON; the record purge also decodes the release and parses its manifest). ' +
        rare
          .map(
            (t) =>
              `${t.type.key}: p50 ${ms(medianOf(t.fixed.guard, (y) => y.load.latency.p50))} ms at ${t.rate} req/s, ${int(medianOf(t.saturation.guard, (y) => y.cpuUsPerReq))} us CPU per review, ${medianOf(t.saturation.guard, (y) => y.livePerReq).toFixed(1)} live-read calls per review (${t.type.path})`,
          )
          .join('; ') +
        '.',
    );
  }
  if (r.apiserver) {
    const p = (m: Mode): number => medianOf(r.apiserver!.runs[m], (y) => y.p50);
    const g = p('guard') - p('none');
    const w = p('noop') - p('none');
    if (Number.isFinite(g) && Number.isFinite(w)) {
      out.push(
        `Through the API server, the guard webhook adds ${ms(g)} ms to a namespace DELETE at p50 (CEL adds ${ms(p('cel') - p('none'))} ms); a no-op webhook on the same HTTPS stack adds ${ms(w)} ms, so ${Math.round(Math.min(100, Math.max(0, (w / Math.max(g, 1e-9)) * 100)))} % of the guard's overhead is the webhook round trip itself (API server -> HTTPS -> Node), not the policies.`,
      );
    }
  }
  return out;
}

function memoryTable(runs: MemoryRun[]): string {
  const row = (label: string, pick: (m: MemoryRun) => number, fmt: (v: number) => string = mib): string[] => [
    label,
    ...runs.map((m) => fmt(pick(m))),
    fmt(medianOf(runs, pick)),
  ];
  const maps = (k: string, label: string): string[] => [
    `${label}, before caches -> after GC, MiB`,
    ...runs.map((m) => `${mib(m.mapsBefore[k] ?? NaN)} -> ${mib(m.mapsAfterGc[k] ?? NaN)}`),
    `${mib(medianOf(runs, (m) => m.mapsBefore[k] ?? NaN))} -> ${mib(medianOf(runs, (m) => m.mapsAfterGc[k] ?? NaN))}`,
  ];
  return table(
    ['', ...runs.map((_, i) => `start ${i + 1}`), 'median'],
    [
      row('RSS before caches (baseline), MiB', (m) => m.beforeCaches),
      row('**RSS when synced, MiB**', (m) => m.afterSync),
      row('RSS 20 s later, MiB', (m) => m.settled),
      row('RSS after a full GC, MiB', (m) => m.afterGc),
      row('V8 heap used before caches, MiB', (m) => m.heapBeforeCaches),
      row('V8 heap used when synced, MiB', (m) => m.heapAfterSync),
      [
        'V8 heap used / committed after full GC, MiB',
        ...runs.map((m) => `${mib(m.heapAfterGc)} / ${mib(m.heapCommittedAfterGc)}`),
        `${mib(medianOf(runs, (m) => m.heapAfterGc))} / ${mib(medianOf(runs, (m) => m.heapCommittedAfterGc))}`,
      ],
      row('external (Buffers, off-heap) after GC, MiB', (m) => m.externalAfterGc),
      maps('heap', 'resident in the glibc heap (brk)'),
      maps('anonymous', 'resident in anonymous mappings (V8 pages, mmap)'),
      maps('files', 'resident in file mappings (code)'),
      row('cache sync time, s', (m) => m.syncMs, secs),
    ],
  );
}

function slowApiSection(a: SlowApiResult): string[] {
  const row = (name: string, samples: SlowApiSample[]): string[] => {
    const api = samples.map((x) => x.apiserverMs);
    const policy = samples.map((x) => x.policyMs);
    const verdicts = [...new Set(samples.map((x) => x.verdict))].join(', ');
    return [
      name,
      ms(median(api)),
      ms(Math.max(...api)),
      ms(median(policy)),
      ms(Math.max(...policy)),
      verdicts,
      String(samples.filter((x) => x.failedOpen).length),
    ];
  };
  return [
    `### A slow API server: one deadline per review (${a.fast.length} repetitions)`,
    '',
    `A hand DELETE of a Helm-owned ConfigMap while a release of the same name elsewhere is uninstalling: its review reads live, in sequence, the owner's records, the uninstalling release's payload and that release's own copy. ` +
      `Slow = every chunk the API server sends held ${a.delayMs} ms by a proxy between the guard and kube-apiserver; liveLookup.timeoutMs = ${a.budgetMs} ms, so each read alone fits, the three do not. ` +
      "kube-apiserver ms = its audit event, RequestReceived to ResponseComplete; policy ms = the guard's decision line; failed open = kube-apiserver's failed-open annotation (the 5 s webhook timeout).",
    '',
    table(
      ['API server', 'kube-apiserver p50 ms', 'max ms', 'policy p50 ms', 'max ms', 'verdicts', 'failed open'],
      [row('fast', a.fast), row(`slow (+${a.delayMs} ms per chunk)`, a.slow)],
    ),
    '',
  ];
}

function inferenceSection(a: InferenceResult): string[] {
  const off = summarizeValues(a.off);
  const on = summarizeValues(a.warn);
  return [
    `### Inference of unknown finalizers' controllers (${int(a.namespaces)} namespaces, ${a.crds} CRDs)`,
    '',
    `A dry-run DELETE of a namespace holding objects with a finalizer no guard knows, its controller alive (so the review walks the whole inference and stays silent), ` +
      `through the admission engine in the bench process over a KubeClusterView of the cluster; inferred-finalizers, apiservice-backends and webhook-backends off vs warn (their default), alternating, ${a.off.length} reviews each. ` +
      `Live read calls per review with them on: ${a.liveCallsPerReview.toFixed(1)} (one sweep of every namespaced type, shared; RBAC of the namespace; workloads of the controller's namespace; APIServices; webhook configurations); inferred-finalizers verdicts: ${a.verdicts.join(', ') || 'none'}.`,
    '',
    table(
      ['namespace checks', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ['off', ms(off.p50), ms(off.p99), ms(off.max)],
        ['warn', ms(on.p50), ms(on.p99), ms(on.max)],
        ['ratio warn / off', x(ratio(on.p50, off.p50)), x(ratio(on.p99, off.p99)), ''],
      ],
    ),
    '',
  ];
}

/** Median of one figure over the storm's runs of one arm. */
function stormMedian(a: StormResult, arm: StormRun['arm'], pick: (run: StormRun) => number): number {
  return medianOf(
    a.runs.filter((run) => run.arm === arm),
    pick,
  );
}

interface StormRatios {
  wall: number;
  p50: number;
  p99: number;
  gone: number;
}

/** One arm over another, each a median over the rounds: the DELETE calls' wall, p50, p99, and the time until all deletable are gone. */
function stormRatio(a: StormResult, arm: StormRun['arm'], over: StormRun['arm']): StormRatios {
  const q = (pick: (run: StormRun) => number): number => ratio(stormMedian(a, arm, pick), stormMedian(a, over, pick));
  return { wall: q((y) => y.deleteWallMs), p50: q((y) => y.latency.p50), p99: q((y) => y.latency.p99), gone: q((y) => y.goneMs) };
}

/** Guard over baseline (the goal), and what any webhook costs: no-op over baseline, guard over no-op. */
export function stormRatios(a: StormResult): StormRatios & { noop: StormRatios; overNoop: StormRatios } {
  return { ...stormRatio(a, 'guard', 'baseline'), noop: stormRatio(a, 'noop', 'baseline'), overNoop: stormRatio(a, 'guard', 'noop') };
}

/** The guarded runs' counts summed: what must be zero, and whether the denials were exactly the planted namespaces. */
export function stormCounts(a: StormResult): { failOpen: number; undecided: number; liveTimeouts: number; errors: number; exactDenials: boolean } {
  const guarded = a.runs.filter((y) => y.arm === 'guard');
  const sum = (pick: (run: StormRun) => number): number => guarded.reduce((acc, y) => acc + pick(y), 0);
  return {
    failOpen: sum((y) => y.tally.failOpen),
    undecided: sum((y) => y.undecided ?? Number.NaN),
    liveTimeouts: sum((y) => y.liveReadTimeouts ?? Number.NaN),
    errors: sum((y) => y.tally.errors.length),
    exactDenials: guarded.every((y) => y.tally.deniedPlanted === y.tally.planted && y.tally.wrongDenials.length === 0),
  };
}

function stormGoals(a: StormResult): Goal[] {
  const q = stormRatios(a);
  const c = stormCounts(a);
  const size = `${int(a.namespaces)} namespaces deleted by ${a.clients} concurrent clients`;
  return [
    {
      goal: `storm: ${size}, wall of the DELETE calls guard/no guard`,
      target: `<= ${STORM_WALL_GOAL}`,
      measured: x(q.wall),
      met: Number.isFinite(q.wall) ? q.wall <= STORM_WALL_GOAL : undefined,
    },
    {
      goal: `storm: ${size}, wall guard/no-op webhook (the shipped configuration at a handler that allows everything: what the guard adds to any webhook)`,
      target: 'read beside the goal above',
      measured: `${x(q.overNoop.wall)} (no-op webhook/no guard ${x(q.noop.wall)})`,
      met: undefined,
    },
    {
      goal: `storm: ${size}, fail-open / undecided / live-read timeouts; denials`,
      target: '0 / 0 / 0; exactly the planted namespaces',
      measured: `${c.failOpen} / ${c.undecided} / ${c.liveTimeouts}; ${c.exactDenials ? 'exactly the planted' : '**not** exactly the planted'}`,
      met: c.failOpen === 0 && c.undecided === 0 && c.liveTimeouts === 0 && c.exactDenials,
    },
  ];
}

function stormSection(a: StormResult): string[] {
  const q = stormRatios(a);
  const c = stormCounts(a);
  const armNames: Record<StormRun['arm'], string> = { baseline: 'no guard', noop: 'no-op webhook', guard: 'guard' };
  const row = (y: StormRun): string[] => [
    armNames[y.arm],
    String(y.round + 1),
    secs(y.deleteWallMs),
    ms(y.latency.p50),
    ms(y.latency.p99),
    ms(y.latency.max),
    `${secs(y.goneMs)}${y.leftBehind ? ` (${y.leftBehind} left)` : ''}`,
    `${y.tally.denied} (${y.tally.deniedPlanted} planted)`,
    String(y.hungTerminating),
    String(y.tally.errors.length),
    y.arm === 'guard' ? String(y.tally.failOpen) : '',
    y.arm === 'guard' ? String(y.undecided) : '',
    y.arm === 'guard' ? String(y.liveReadTimeouts) : '',
    y.arm === 'guard' ? `${int(y.reviewsReceived ?? NaN)} / ${int(y.liveReads ?? NaN)}` : '',
    y.guardCpuMsPerReview === undefined ? '' : y.guardCpuMsPerReview.toFixed(2),
  ];
  return [
    `### A bigger storm: ${int(a.namespaces)} namespaces deleted by ${a.clients} concurrent clients (${a.rounds} round${a.rounds === 1 ? '' : 's'})`,
    '',
    `On a control plane of its own. Each run creates ${int(a.namespaces)} namespaces: most hold one or two ConfigMaps; ${a.planted} (every 20th) hold an OLM CSV carrying \`operators.coreos.com/csv-cleanup\` while no olm-operator exists, so deleting them would leave them Terminating. ` +
      `${a.clients} clients, each a loop over its share, DELETE them all at once through kube-apiserver. No guard = no guard process and no webhook configuration; guard = the guard process above (defaults) registered with the shipped webhook configuration (failurePolicy Ignore), started before the run's namespaces exist; no-op webhook = the same process and configuration, pointed at its no-op handler (same HTTPS stack, allows everything). ` +
      'The arm order flips every round (no guard first, then guard first). Wall = first DELETE sent to last answered; gone = first DELETE sent until every namespace but the planted ones has disappeared (the namespace controller included). ' +
      "Fail-open = an allowed DELETE with kube-apiserver's failed-open audit annotation for a guard webhook, or one the guard logged no decision for; undecided and live-read timeouts are deltas of the guard's /metrics.",
    '',
    table(
      [
        'arm',
        'round',
        'wall s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'gone s',
        'denied',
        'planted left Terminating',
        'errors',
        'fail-open',
        'undecided',
        'live-read timeouts',
        'reviews / live reads',
        'webhook process CPU ms/request',
      ],
      a.runs.map(row),
    ),
    '',
    `Guard / no guard (medians over rounds): wall ${x(q.wall)}, p50 ${x(q.p50)}, p99 ${x(q.p99)}, all deletable gone ${x(q.gone)}. ` +
      `No-op webhook / no guard: wall ${x(q.noop.wall)}, p50 ${x(q.noop.p50)}, p99 ${x(q.noop.p99)}; guard / no-op webhook: wall ${x(q.overNoop.wall)}, p50 ${x(q.overNoop.p50)}, p99 ${x(q.overNoop.p99)}. ` +
      `With the guard: ${c.failOpen} fail-open, ${c.undecided} undecided, ${c.liveTimeouts} live-read timeouts, ${c.errors} DELETEs neither allowed nor denied by the guard; denials ${c.exactDenials ? 'exactly the planted namespaces' : 'not exactly the planted namespaces'}. ` +
      `Section time ${secs(a.totalMs)} s.`,
    '',
  ];
}
