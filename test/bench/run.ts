// `npm run bench`: the guard's scale and latency benchmarks against a real control plane on
// loopback (issue 5, parts 1 and 2). Prints a markdown table at the end and, for a full run,
// writes it to test/bench/RESULTS.md and the goals table into docs/PERFORMANCE.md.
//
//   npm run bench                          # everything, full scale (~70 min on 2 vCPU, the storm ~25 of them)
//   npm run bench -- --quick               # short measurements on a 1/10-scale cluster (~10 min)
//   npm run bench -- --only webhook        # webhook | memory | apiserver | load | slow-api | inference | storm (cluster + guard always)
//
// Options: --scale F (cluster size factor; default 1, quick 0.1), --reps N (repetitions; default 5,
// quick 3; memory and API-server sections use at least 3),
// --duration S (seconds per webhook measurement; default 5, quick 2), --load-duration S (default
// 60, quick 15), --connections N (default 8), --concurrency N (parallel creates; default 24),
// --per-mode N (namespace DELETEs per mode per repetition; default 250, quick 60),
// --storm-namespaces N (namespaces per storm; default 2000, quick 200), --storm-clients N (concurrent
// deleting clients; default 50, quick 16), --storm-rounds N (rounds of no guard, a no-op webhook and the guard; default 1),
// --types K1,K2 (webhook request types: ns-delete, ns-delete-csv, helm-owned, helm-cross,
// record-purge; default all), --cpu-prof (write a V8 CPU profile of each guard process, the
// storm's too, and summarize where its CPU went in the output), --alloc-prof (sample what the
// guard process allocates, garbage included, and summarize it: what drives its scavenges), --ts
// (run the guard from its TypeScript sources instead of bundling it as the image is built),
// --guard-env K=V,K2=V2 (extra environment for the guard process, over the manifest's MALLOC_ settings: malloc tuning, or its TG_
// settings, e.g. TG_POLICIES_INFERRED_FINALIZERS_MODE=off; the shell's own TG_ variables never reach it),
// --guard-node-options="FLAGS" (Node options of the guard; default: NODE_OPTIONS of
// manifests/base/deployment.yaml), --mem-variant "FLAGS" (other Node options the memory
// section also measures; default the manifest's without --max-semi-space-size; write
// option values that start with "--" as --opt="--flag"),
// --out FILE, --no-write, --keep
// (keep the cluster's temp dir), --deadline-min N (hard stop; default 90, quick 30),
// --kyverno (adds Kyverno's admission controller, built from its Go module by
// test/cluster/kyverno/build.sh on first use, as a fifth mode of the apiserver section, and a
// sixth: a second guard process with only the checks Kyverno's policy makes).
//
// Sections:
//   memory     the guard process's RSS before starting its caches and once synced; sync time
//   webhook    autocannon on /validate per request type, guard vs a no-op handler on the same stack
//   load       a sustained mixed load at a rate the machine holds, zero errors, RSS start/end
//   apiserver  namespace DELETE latency through kube-apiserver: no admission, CEL policy, guard webhook
//              (and with --kyverno, Kyverno with the closest ClusterPolicy and the guard like for like;
//              p50, p99, RSS and CPU per review side by side)
//   slow-api   a review needing three live reads with the API server fast, then slowed by a delaying
//              proxy: the answer within the review's budget (own small cluster, run first)
//   inference  policy inferred-finalizers on a namespace DELETE, off vs warn, over 10,000 namespaces
//              and 200 CRDs (own cluster, scaled by --scale; the engine in this process)
//   storm      2,000 namespaces (5 % planted to hang) deleted by 50 concurrent clients through
//              kube-apiserver, without a webhook, with a no-op one and with the guard registered: wall,
//              latency, time until gone, denials, fail-open, undecided, live-read timeouts (own cluster)
// Nothing here asserts on timing; goals are reported as met or missed.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { ensureKyvernoBuilt, startKyverno, type Kyverno } from '../cluster/kyverno/kyverno.ts';
import { missingComponents, repoRoot, versions } from '../cluster/paths.ts';
import { makeGuardCerts } from '../scenarios/guard.ts';
import { benchApiserverPath } from './apiserverPath.ts';
import { ALLOC_PROF_ENV, summarizeAllocations } from './allocationProfile.ts';
import { formatProfileSummary, summarizeCpuProfile } from './cpuProfile.ts';
import { postReview, requestTypes, verifyAnswers } from './bodies.ts';
import { bundleGuardProcess, manifestMallocEnv, manifestNodeOptions, startGuardChild, type GuardChild } from './guardChild.ts';
import { populate, totals } from './populate.ts';
import { rssAfterImport } from './procStats.ts';
import { replaceBenchSummary, SUMMARY_DOC } from '../support/readmeBlock.ts';
import { goals, renderMarkdown, renderReadmeSummary, type BenchReport, type MachineInfo, type MemoryRun } from './report.ts';
import { benchInference } from './inference.ts';
import { benchSlowApiServer } from './slowApiServer.ts';
import { benchStorm } from './storm.ts';
import { benchSustained } from './sustained.ts';
import { benchWebhook } from './webhook.ts';

const SECTIONS = ['memory', 'webhook', 'load', 'apiserver', 'slow-api', 'inference', 'storm'] as const;
type Section = (typeof SECTIONS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    types: { type: 'string' },
    scale: { type: 'string' },
    reps: { type: 'string' },
    duration: { type: 'string' },
    'load-duration': { type: 'string' },
    connections: { type: 'string' },
    concurrency: { type: 'string' },
    'per-mode': { type: 'string' },
    'storm-namespaces': { type: 'string' },
    'storm-clients': { type: 'string' },
    'storm-rounds': { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'alloc-prof': { type: 'boolean', default: false },
    ts: { type: 'boolean', default: false },
    'guard-env': { type: 'string' },
    'guard-node-options': { type: 'string' },
    'mem-variant': { type: 'string' },
    out: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'deadline-min': { type: 'string' },
    kyverno: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.help) {
  const header = readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('//'))
    .map((l) => l.slice(3))
    .join('\n');
  console.log(header);
  process.exit(0);
}

const quick = args.quick;
function num(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    console.error(`bench: --${name} must be a number >= ${min}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}
const only = args.only as Section | undefined;
if (only !== undefined && !SECTIONS.includes(only)) {
  console.error(`bench: --only must be one of ${SECTIONS.join(', ')}, got ${JSON.stringify(only)}`);
  process.exit(2);
}
const settings = {
  scale: num('scale', args.scale, quick ? 0.1 : 1, 0.001),
  reps: Math.round(num('reps', args.reps, quick ? 3 : 5, 1)),
  durationS: num('duration', args.duration, quick ? 2 : 5, 1),
  loadDurationS: num('load-duration', args['load-duration'], quick ? 15 : 60, 5),
  connections: Math.round(num('connections', args.connections, 8, 1)),
  concurrency: Math.round(num('concurrency', args.concurrency, 24, 1)),
  perMode: Math.round(num('per-mode', args['per-mode'], quick ? 60 : 250, 5)),
  stormNamespaces: Math.round(num('storm-namespaces', args['storm-namespaces'], quick ? 200 : 2000, 20)),
  stormClients: Math.round(num('storm-clients', args['storm-clients'], quick ? 16 : 50, 1)),
  stormRounds: Math.round(num('storm-rounds', args['storm-rounds'], 1, 1)),
  deadlineMin: num('deadline-min', args['deadline-min'], quick ? 30 : 90, 1),
};
const selected = (s: Section): boolean => only === undefined || only === s;

const log =
  (scope: string) =>
  (line: string): void => {
    process.stderr.write(`[${scope}] ${line}\n`);
  };
const say = log('bench');
const sleep = (msValue: number): Promise<void> => new Promise((r) => setTimeout(r, msValue));
/** How long after sync the "settled" RSS is read (V8's memory reducer acts after a few idle seconds). */
const SETTLE_MS = 20_000;
/** The guard with only the checks Kyverno's policy makes: the three that read live on a namespace DELETE off. */
const OLM_ONLY_ENV = {
  TG_POLICIES_INFERRED_FINALIZERS_MODE: 'off',
  TG_POLICIES_APISERVICE_BACKENDS_MODE: 'off',
  TG_POLICIES_WEBHOOK_BACKENDS_MODE: 'off',
};
/**
 * The Node options the memory section compares with by default: the manifest's without
 * --max-semi-space-size, to show what that flag buys. V8 pools the young-generation pages freed
 * after the cache sync burst (--trace-gc-verbose: "Pool buffering ... chunks"), ~100 MiB at full
 * scale, resident but in no heap statistic; a small semi-space keeps that pool small.
 */
function withoutSemiSpace(options: string[]): string[] {
  return options.filter((f) => !f.startsWith('--max-semi-space-size'));
}

function machineInfo(): MachineInfo {
  let model = 'unknown';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {
    /* not Linux */
  }
  const v = versions();
  return {
    nproc: availableParallelism(),
    model,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    kernel: `Linux ${release()}`,
    date: new Date().toISOString().slice(0, 10),
    kube: v.KUBE_VERSION,
    etcd: v.ETCD_VERSION,
  };
}

function commandLine(): string {
  const rest = process.argv.slice(2);
  return rest.length > 0 ? `npm run bench -- ${rest.join(' ')}` : 'npm run bench';
}

interface GuardProcessSetup {
  /** Bundled entry and serve modules; unset when the guard runs from its TypeScript sources. */
  entry: string | undefined;
  servicesModule: string | undefined;
  env: Record<string, string> | undefined;
  nodeOptions: string[];
}

let guardSetup: Promise<GuardProcessSetup> | undefined;

/** How every section runs the guard process (bundled once per run, its notes written once). */
function guardProcessSetup(report: BenchReport): Promise<GuardProcessSetup> {
  guardSetup ??= prepareGuardProcess(report);
  return guardSetup;
}

async function prepareGuardProcess(report: BenchReport): Promise<GuardProcessSetup> {
  // The guard runs bundled, as in the container image (unless --ts).
  let entry: string | undefined;
  let servicesModule: string | undefined;
  if (!args.ts) {
    try {
      ({ entry, services: servicesModule } = await bundleGuardProcess(say));
    } catch (err) {
      say(`${err instanceof Error ? err.message : String(err)}\nfalling back to the TypeScript sources`);
      report.notes.push("The guard ran from its TypeScript sources (bundling failed): its RSS includes Node's type stripper (~20 MiB).");
    }
  } else {
    report.notes.push(
      "The guard ran from its TypeScript sources (--ts): its RSS includes Node's type stripper (~20 MiB) that the image (bundled dist/) does not load.",
    );
  }

  // The manifest's malloc settings, as the container runs, unless --guard-env says otherwise.
  const env = {
    ...manifestMallocEnv(),
    ...(args['guard-env']
      ? Object.fromEntries(
          args['guard-env'].split(',').map((kv) => {
            const i = kv.indexOf('=');
            if (i <= 0) throw new Error(`--guard-env: expected KEY=VALUE, got ${JSON.stringify(kv)}`);
            return [kv.slice(0, i), kv.slice(i + 1)];
          }),
        )
      : {}),
  };
  const nodeOptions = args['guard-node-options'] !== undefined ? args['guard-node-options'].split(/\s+/).filter(Boolean) : manifestNodeOptions();
  report.nodeOptions = nodeOptions;
  if (Object.keys(env).length > 0)
    report.notes.push(
      `Guard process environment: ${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}.`,
    );
  return { entry, servicesModule, env, nodeOptions };
}

/** Each guard process's CPU profile in `profDir` (node --cpu-prof), summarized into the report's notes. */
function noteProfiles(report: BenchReport, profDir: string): void {
  report.notes.push(`CPU profile of each guard process written (node --cpu-prof) to ${profDir}; open them in Chrome DevTools.`);
  for (const file of readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'))) {
    try {
      report.notes.push(formatProfileSummary(file, summarizeCpuProfile(join(profDir, file))));
    } catch (err) {
      report.notes.push(`CPU profile ${file} could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Each guard process's allocation profile in `dir` (--alloc-prof), summarized into the report's notes. */
function noteAllocations(report: BenchReport, dir: string): void {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.heapprofile'))) {
    try {
      const s = summarizeAllocations((JSON.parse(readFileSync(join(dir, file), 'utf8')) as { head: Parameters<typeof summarizeAllocations>[0] }).head, 15);
      const list = (xs: Array<{ name: string; bytes: number }>): string => xs.map((x) => `${x.name} ${(x.bytes / 2 ** 20).toFixed(0)}`).join(', ');
      report.notes.push(
        `Allocations of ${join(dir, file)} (garbage included; open it in Chrome DevTools): ${(s.totalBytes / 2 ** 20).toFixed(0)} MiB sampled. ` +
          `Self MiB by function: ${list(s.self)}. With callees: ${list(s.inclusive)}.`,
      );
    } catch (err) {
      report.notes.push(`Allocation profile ${file} could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Every section but slow-api, inference and storm: one populated cluster, the guard as its own process. Returns the CPU profile dir, if any. */
async function benchOnPopulatedCluster(report: BenchReport): Promise<string | undefined> {
  const { entry, servicesModule, env: guardEnv, nodeOptions } = await guardProcessSetup(report);
  // A second set of guard starts in the memory section, with other Node options to compare.
  const memVariantOptions = args['mem-variant'] !== undefined ? args['mem-variant'].split(/\s+/).filter(Boolean) : withoutSemiSpace(nodeOptions);
  const memVariant = memVariantOptions.join(' ') === nodeOptions.join(' ') ? [] : memVariantOptions;

  let cp: ControlPlane | undefined;
  let guard: GuardChild | undefined;
  let kyverno: Kyverno | undefined;
  let olmOnly: GuardChild | undefined;
  const profDir = args['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'tg-bench-prof-')) : undefined;
  const allocDir = args['alloc-prof'] ? mkdtempSync(join(tmpdir(), 'tg-bench-alloc-')) : undefined;
  try {
    cp = await startControlPlane({ log: log('cluster'), keepDir: args.keep, timeoutMs: 120_000 });
    const pop = await populate(cp, { scale: settings.scale, concurrency: settings.concurrency, deadlineMs: 40 * 60_000, log: log('populate') });
    const expected = totals(pop.layout);
    report.cluster = { totals: expected, phases: pop.phases, totalMs: pop.totalMs };
    say(`cluster populated in ${(pop.totalMs / 1000).toFixed(1)}s: ${JSON.stringify(expected)}`);

    const certs = await makeGuardCerts(join(cp.dir, 'bench-guard', 'certs'));
    const childOptions = {
      ...(entry ? { entry } : {}),
      dir: join(cp.dir, 'bench-guard'),
      kubeconfig: cp.kubeconfigPath,
      certFile: certs.certFile,
      keyFile: certs.keyFile,
      maxLifetimeS: settings.deadlineMin * 60,
      syncTimeoutMs: 15 * 60_000,
      ...(profDir ? { cpuProfDir: profDir } : {}),
      ...(guardEnv || allocDir ? { env: { ...guardEnv, ...(allocDir ? { [ALLOC_PROF_ENV]: allocDir } : {}) } } : {}),
      nodeOptions,
    };

    // ---- memory (each start is also a sync-time measurement; the last process stays for the rest) ----
    const starts = selected('memory') ? 3 : 1;
    const fmtMaps = (m: Record<string, number>): string =>
      Object.entries(m)
        .map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)}`)
        .join(', ');
    const measureStart = async (g: GuardChild, label: string): Promise<MemoryRun> => {
      const r = g.ready;
      await sleep(SETTLE_MS);
      const settled = g.procRss().rss;
      await g.gc();
      const afterGc = g.procRss().rss;
      const gcStats = await g.stats();
      const maps = g.residentByMapping();
      say(
        `${label}: synced in ${(r.syncMs / 1000).toFixed(1)}s; RSS ${(r.memBeforeCaches.rss / 2 ** 20).toFixed(0)} MiB before caches, ` +
          `${(r.memAfterSync.rss / 2 ** 20).toFixed(0)} MiB synced (heap used ${(r.memAfterSync.heapUsed / 2 ** 20).toFixed(0)} of ${(r.memAfterSync.heapTotal / 2 ** 20).toFixed(0)}, external ${(r.memAfterSync.external / 2 ** 20).toFixed(0)}), ` +
          `${(settled / 2 ** 20).toFixed(0)} MiB ${SETTLE_MS / 1000} s later, ${(afterGc / 2 ** 20).toFixed(0)} MiB after GC; caches ${JSON.stringify(r.caches)}`,
      );
      say(`  resident by mapping (MiB): before caches ${fmtMaps(r.mappingsBeforeCaches)}; after sync + GC ${fmtMaps(maps)}`);
      say(
        `  after GC: heap spaces (used/committed MiB) ${Object.entries(gcStats.mem.spaces)
          .filter(([, [, c]]) => c > 0)
          .map(([k, [u, c]]) => `${k} ${(u / 2 ** 20).toFixed(0)}/${(c / 2 ** 20).toFixed(0)}`)
          .join(', ')}; external ${(gcStats.mem.external / 2 ** 20).toFixed(0)} MiB`,
      );
      return {
        mapsBefore: r.mappingsBeforeCaches,
        mapsAfterGc: maps,
        beforeCaches: r.memBeforeCaches.rss,
        afterSync: r.memAfterSync.rss,
        settled,
        afterGc,
        heapBeforeCaches: r.memBeforeCaches.heapUsed,
        heapAfterSync: r.memAfterSync.heapUsed,
        heapAfterGc: gcStats.mem.heapUsed,
        heapCommittedAfterGc: gcStats.mem.heapTotal,
        externalAfterGc: gcStats.mem.external,
        syncMs: r.syncMs,
      };
    };
    const variantRuns: MemoryRun[] = [];
    if (selected('memory') && memVariant.length > 0) {
      for (let i = 0; i < starts; i++) {
        const g = await startGuardChild({ ...childOptions, nodeOptions: memVariant });
        try {
          variantRuns.push(await measureStart(g, `guard start ${i + 1}/${starts} with NODE_OPTIONS ${memVariant.join(' ') || '(none)'}`));
        } finally {
          await g.stop();
        }
      }
    }
    const memRuns: MemoryRun[] = [];
    for (let i = 0; i < starts; i++) {
      guard = await startGuardChild(childOptions);
      memRuns.push(await measureStart(guard, `guard start ${i + 1}/${starts}${nodeOptions.length ? ` (${nodeOptions.join(' ')})` : ''}`));
      if (i < starts - 1) {
        await guard.stop();
        guard = undefined;
      }
    }
    if (!guard) throw new Error('no guard process');
    const caches = guard.ready.caches;
    if (selected('memory')) {
      const flags = nodeOptions;
      const modules = {
        node: await rssAfterImport(undefined, flags),
        clientNode: await rssAfterImport(import.meta.resolve('@kubernetes/client-node'), flags),
        guard: servicesModule ? await rssAfterImport(pathToFileURL(servicesModule).href, flags) : Number.NaN,
      };
      say(
        `module cost (RSS after import + GC): bare node ${(modules.node / 2 ** 20).toFixed(0)} MiB, @kubernetes/client-node ${(modules.clientNode / 2 ** 20).toFixed(0)} MiB, guard modules ${(modules.guard / 2 ** 20).toFixed(0)} MiB`,
      );
      report.memory = { runs: memRuns, caches, modules, ...(variantRuns.length > 0 ? { variant: { nodeOptions: memVariant, runs: variantRuns } } : {}) };
    }
    // The CSV cache holds the CSVs that carry csv-cleanup: not OLM's copies (label olm.copiedFrom).
    const csvCache = Object.entries(caches).find(([k]) => k.startsWith('clusterserviceversions'))?.[1] ?? 0;
    if (
      (caches['helm-secrets'] ?? 0) < expected.records ||
      csvCache < expected.csvs - expected.copiedCsvs ||
      (caches['namespaces'] ?? 0) < expected.namespaces
    ) {
      report.notes.push(`The guard's caches hold fewer objects than were created (${JSON.stringify(caches)} vs ${JSON.stringify(expected)}).`);
    }

    // ---- correctness of every benchmark request, on both servers ----
    const allTypes = requestTypes();
    const wanted = args.types
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = wanted?.filter((k) => !allTypes.some((t) => t.key === k)) ?? [];
    if (unknown.length > 0) throw new Error(`--types: unknown ${unknown.join(', ')} (known: ${allTypes.map((t) => t.key).join(', ')})`);
    const types = wanted ? allTypes.filter((t) => wanted.includes(t.key)) : allTypes;
    const answers = await verifyAnswers(guard.guardUrl, types);
    for (const t of types) {
      const r = await postReview(guard.noopUrl, t.body);
      if (r.status !== 200 || r.review?.response?.allowed !== true) throw new Error(`no-op server answered ${t.key} with ${r.status} ${r.text.slice(0, 200)}`);
    }
    say(
      `answers verified: ${Object.entries(answers)
        .map(([k, a]) => `${k} allowed=${a.allowed} warnings=${a.warnings?.length ?? 0}`)
        .join('; ')}`,
    );

    if (selected('webhook')) {
      report.webhook = await benchWebhook(guard, types, {
        reps: settings.reps,
        durationS: settings.durationS,
        warmupS: quick ? 1 : 2,
        calibrateS: quick ? 2 : 3,
        connections: settings.connections,
        log: log('webhook'),
      });
    }
    if (selected('load')) {
      report.sustained = await benchSustained(guard, types, {
        durationS: settings.loadDurationS,
        calibrateS: quick ? 3 : 5,
        connections: settings.connections,
        log: log('load'),
      });
    }
    if (selected('apiserver')) {
      // A guard that has served the sections before holds what minutes of saturation grew its
      // heap to; Kyverno and the Kyverno-like guard start for this section. So does the guard:
      // every arm's RSS, latency and CPU come from a process with the same history (synced, then
      // this section's DELETEs). The loaded guard's memory is the load section's figure.
      if (selected('webhook') || selected('load')) {
        await guard.stop();
        guard = undefined;
        guard = await startGuardChild(childOptions);
        say(`apiserver: a fresh guard process (pid ${guard.pid}) synced in ${(guard.ready.syncMs / 1000).toFixed(1)}s`);
      }
      // Started only for this section, after the cluster is populated: it caches namespaces and
      // RBAC like the guard does, and must not share the CPU with the sections before.
      kyverno = args.kyverno ? await startKyverno(cp, { log: log('kyverno'), timeoutMs: 180_000 }) : undefined;
      // Like for like with Kyverno's policy: a second guard with only the checks that policy makes.
      olmOnly = kyverno ? await startGuardChild({ ...childOptions, dir: join(cp.dir, 'bench-guard-olm'), env: { ...guardEnv, ...OLM_ONLY_ENV } }) : undefined;
      report.apiserver = await benchApiserverPath(cp, guard, certs.caPem, {
        perMode: settings.perMode,
        reps: 3,
        concurrency: 1,
        log: log('apiserver'),
        ...(kyverno ? { kyverno } : {}),
        ...(olmOnly ? { olmOnly } : {}),
      });
      if (kyverno)
        report.notes.push(
          `Kyverno ${kyverno.version} was ready ${(kyverno.readyInMs / 1000).toFixed(1)} s after its start (caches synced, webhooks registered).`,
        );
    }
  } finally {
    await kyverno?.stop().catch(() => undefined);
    await olmOnly?.stop().catch(() => undefined);
    await guard?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
  }
  if (profDir) {
    noteProfiles(report, profDir);
  }
  if (allocDir) noteAllocations(report, allocDir);
  return profDir;
}

async function main(): Promise<number> {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager']);
  if (missing.length > 0) {
    console.error(`bench: missing pinned components: ${missing.join(', ')}; run \`npm run build:binaries\` first`);
    return 2;
  }
  if (args.kyverno) {
    if (!selected('apiserver')) {
      console.error('bench: --kyverno adds a mode to the apiserver section, which this run does not select');
      return 2;
    }
    // Before any cluster starts, and off the deadline: the first build alone takes many minutes.
    clearTimeout(hardStop);
    await ensureKyvernoBuilt(log('kyverno'));
    hardStop = armDeadline();
  }
  const report: BenchReport = {
    machine: machineInfo(),
    settings: {
      quick,
      scale: settings.scale,
      reps: settings.reps,
      durationS: settings.durationS,
      connections: settings.connections,
      loadDurationS: settings.loadDurationS,
      ...(only ? { only } : {}),
      command: commandLine(),
    },
    notes: [],
  };
  say(
    `machine: ${report.machine.nproc} x ${report.machine.model}, Node ${report.machine.node}; settings ${JSON.stringify(settings)}${only ? ` only ${only}` : ''}`,
  );

  if (selected('slow-api')) report.slowApi = await benchSlowApiServer({ reps: settings.reps, log: log('slow-api') });
  if (selected('inference')) {
    report.inference = await benchInference({
      scale: settings.scale,
      reps: settings.reps,
      perMode: settings.perMode,
      concurrency: settings.concurrency,
      log: log('inference'),
    });
  }
  if (selected('storm')) {
    const g = await guardProcessSetup(report);
    const stormProfDir = args['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'tg-bench-storm-prof-')) : undefined;
    report.storm = await benchStorm({
      namespaces: settings.stormNamespaces,
      clients: settings.stormClients,
      rounds: settings.stormRounds,
      guard: {
        ...(g.entry ? { entry: g.entry } : {}),
        nodeOptions: g.nodeOptions,
        ...(g.env ? { env: g.env } : {}),
        ...(stormProfDir ? { cpuProfDir: stormProfDir } : {}),
      },
      goneTimeoutMs: 12 * 60_000,
      log: log('storm'),
    });
    if (stormProfDir) noteProfiles(report, stormProfDir);
  }
  const ownCluster: readonly Section[] = ['slow-api', 'inference', 'storm'];
  const profDir = SECTIONS.some((section) => !ownCluster.includes(section) && selected(section)) ? await benchOnPopulatedCluster(report) : undefined;

  const markdown = renderMarkdown(report);
  process.stdout.write(`\n${markdown}\n`);
  const rawPath = join(mkdtempSync(join(tmpdir(), 'tg-bench-')), 'results.json');
  writeFileSync(
    rawPath,
    JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2),
  );
  say(`raw results: ${rawPath}${profDir ? `; CPU profile(s): ${profDir}` : ''}`);
  const out = args.out ?? (!quick && only === undefined ? join(repoRoot, 'test', 'bench', 'RESULTS.md') : undefined);
  if (out && !args['no-write']) {
    writeFileSync(out, `${markdown}\n`);
    say(`wrote ${relative(process.cwd(), out) || out}`);
    if (args.out === undefined) {
      const docPath = join(repoRoot, SUMMARY_DOC);
      writeFileSync(docPath, replaceBenchSummary(readFileSync(docPath, 'utf8'), renderReadmeSummary(report)));
      say(`updated the benchmark summary in ${SUMMARY_DOC}`);
    }
  }
  const missed = goals(report).filter((g) => g.met === false);
  if (missed.length > 0) say(`goals missed: ${missed.map((g) => g.goal).join('; ')}`);
  return 0;
}

const armDeadline = (): NodeJS.Timeout => {
  const timer = setTimeout(() => {
    say(`deadline of ${settings.deadlineMin} min reached: stopping`);
    process.exit(1); // proc.ts's exit handler kills the control plane; the guard process exits on disconnect
  }, settings.deadlineMin * 60_000);
  timer.unref();
  return timer;
};
let hardStop = armDeadline();

main().then(
  (code) => {
    clearTimeout(hardStop);
    process.exitCode = code;
  },
  (err: unknown) => {
    clearTimeout(hardStop);
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
