// The guard under benchmark, as its own process (forked by run.ts with an IPC channel), so its
// RSS and CPU are its own and the load generator does not share its event loop.
//
// It runs the real serve wiring (src/server/services.ts startServices: config, watch-cache
// ClusterView over the API server, admission engine with the built-in policies, HTTPS express
// app, logging at the configured level, metrics) and, once the caches have synced, a second
// HTTPS server on the same stack (startServer: same express app, TLS, body parsing, metrics and
// logger) whose admission handler is a no-op answering allowed: the HTTP floor. A third server,
// "quiet", runs the same admission handler over the same view with the logger at warn, so allow
// decisions are not logged: it isolates what per-decision logging costs.
//
//   node test/bench/guardProcess.ts CONFIG.yaml MAX_LIFETIME_S
//
// Messages: parent -> {type:'stats'|'gc'|'stop', id}; child -> {type:'ready'|'reply'|'failed', ...}.
// It exits on 'stop', when the parent goes away (IPC disconnect), or after MAX_LIFETIME_S.
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { ALLOC_PROF_ENV, startAllocationSampling } from './allocationProfile.ts';
import type { AdmissionResult } from '../../src/admission/engine.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { admissionHandler, serveLogger, startServices, type Services } from '../../src/server/services.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { loadTlsMaterial, secureContextOptions } from '../../src/server/tls.ts';
import { residentByMapping } from './procStats.ts';

export interface MemorySnapshot {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap spaces: name -> [used, committed] bytes. */
  spaces: Record<string, [number, number]>;
}

export interface GuardStats {
  at: number;
  mem: MemorySnapshot;
  /** process.cpuUsage(), microseconds. */
  cpuUser: number;
  cpuSystem: number;
  /** POST /validate requests received by the guard server, and by the no-op server. */
  reviews: number;
  noopRequests: number;
  quietRequests: number;
  /** TLS connections the guard server accepted (a caller without keep-alive pays a handshake per request). */
  guardTlsConnections: number;
  bareRequests: number;
  live: { calls: number; failures: number; timeouts: number };
  caches: Record<string, number>;
  watchEvents: number;
  relists: number;
  /** GC pauses since start (PerformanceObserver 'gc'): count, summed and longest pause, ms. */
  gc: { count: number; totalMs: number; maxMs: number; maxSinceLastStats: number };
  /** Event-loop delay since the previous stats call, ms (monitorEventLoopDelay). */
  loopDelay: { p50: number; p99: number; max: number };
}

export interface ReadyMessage {
  type: 'ready';
  guardPort: number;
  noopPort: number;
  quietPort: number;
  barePort: number;
  memBeforeCaches: MemorySnapshot;
  /** Resident bytes by mapping kind before the caches started (see procStats.ts). */
  mappingsBeforeCaches: Record<string, number>;
  memAfterSync: MemorySnapshot;
  syncMs: number;
  caches: Record<string, number>;
}

export type ParentMessage = { type: 'stats' | 'gc' | 'stop'; id: number };
export type ChildMessage = ReadyMessage | { type: 'reply'; id: number; stats?: GuardStats } | { type: 'failed'; error: string };

function mem(): MemorySnapshot {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((sp): [string, [number, number]] => [sp.space_name, [sp.space_used_size, sp.space_size]]));
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces };
}

function send(msg: ChildMessage): void {
  process.send?.(msg);
}

/** The HTTP floor: the uid back, allowed. No parsing beyond what express.json already did. */
async function noopAdmit(body: unknown): Promise<AdmissionResult> {
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return {
    ok: true,
    review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: typeof uid === 'string' ? uid : '', allowed: true } },
    decisions: [],
  };
}

/**
 * The floor under the floor: the same no-op answer on bare node:https with the guard's TLS settings
 * and keep-alive, parsing the body as JSON as express.json does, without Express's routing and
 * middleware. The difference to the no-op target is what the web framework costs.
 */
async function startBareNoop(host: string, tls: { certFile: string; keyFile: string }, count: () => void): Promise<Server> {
  const server = createHttpsServer({ ...secureContextOptions(loadTlsMaterial(tls)) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/validate')) count();
      let uid = '';
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: unknown } };
        if (typeof parsed.request?.uid === 'string') uid = parsed.request.uid;
      } catch {
        // a body that is not JSON gets an empty uid, as the no-op target would answer 400; never in the bench
      }
      const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 100_000;
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}

async function main(): Promise<void> {
  const [configFile, lifetimeArg] = process.argv.slice(2);
  if (!configFile || !process.send) {
    console.error('usage: node test/bench/guardProcess.ts CONFIG.yaml MAX_LIFETIME_S (forked with an IPC channel)');
    process.exit(2);
  }
  const lifetime = setTimeout(
    () => {
      console.error('guardProcess: maximum lifetime reached, exiting');
      process.exit(3);
    },
    Math.max(10, Number(lifetimeArg) || 3600) * 1000,
  );
  lifetime.unref();

  // GC pauses and event-loop delay, to tell GC and blocking apart from the request work itself.
  const gcStats = { count: 0, totalMs: 0, maxMs: 0, maxSinceLastStats: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcStats.count++;
      gcStats.totalMs += e.duration;
      gcStats.maxMs = Math.max(gcStats.maxMs, e.duration);
      gcStats.maxSinceLastStats = Math.max(gcStats.maxSinceLastStats, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();

  const trace = (stage: string): void => {
    process.stderr.write(`guardProcess: ${stage}: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB\n`);
  };
  trace('modules loaded');
  // The parent passes only the TG_ settings the run asked for (guardChild.ts), as a Deployment's env would.
  const { config } = loadConfig({ file: configFile, env: process.env });
  trace('config loaded');
  // The serve command's own logger (buffered stdout), so decision lines cost what they cost in a Pod.
  const { logger } = serveLogger(config.log.level);
  const metrics = createMetrics();
  // A full GC first, so "before caches" and "after sync + GC" compare live data with live data.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const memBeforeCaches = mem();
  const mappingsBeforeCaches = residentByMapping('self');
  trace('logger and metrics created (baseline)');

  const running: { services?: Services; noop?: RunningServer; quiet?: RunningServer; bare?: Server } = {};
  // run.ts --alloc-prof: what each request allocates, garbage included.
  const allocProfDir = process.env[ALLOC_PROF_ENV];
  const allocSampling = allocProfDir ? await startAllocationSampling() : undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => process.exit(code), 10_000);
    hard.unref();
    if (allocSampling && allocProfDir)
      await allocSampling.writeTo(allocProfDir).catch((err: unknown) => console.error(`guardProcess: allocation profile: ${String(err)}`));
    await running.noop?.shutdown('bench done').catch(() => undefined);
    await running.quiet?.shutdown('bench done').catch(() => undefined);
    running.bare?.closeAllConnections();
    running.bare?.close();
    await running.services?.stop('bench done').catch(() => undefined);
    process.exit(code);
  };
  process.on('disconnect', () => void stop(0));

  const t0 = performance.now();
  const services = await startServices(config, logger, metrics);
  running.services = services;
  const synced = await services.view.waitForSync(15 * 60_000);
  const syncMs = performance.now() - t0;
  if (!synced) throw new Error(`caches did not sync: ${JSON.stringify(services.view.readiness())}`);
  const memAfterSync = mem();
  const cacheCounts = (): Record<string, number> => Object.fromEntries(services.view.readiness().caches.map((c) => [c.name, c.count]));

  const noop = await startServer({
    host: config.listen.host,
    port: 0,
    tls: { certFile: config.tls.certFile, keyFile: config.tls.keyFile, pollIntervalMs: config.tls.pollIntervalMs },
    shutdown: config.shutdown,
    admit: noopAdmit,
    readiness: () => ({ synced: true, caches: [] }),
    metrics: createMetrics({ defaultMetrics: false }),
    logger,
    maxBodyBytes: config.maxBodyBytes,
  });
  running.noop = noop;
  const quietLogger = createLogger({ level: 'warn' });
  const quiet = await startServer({
    host: config.listen.host,
    port: 0,
    tls: { certFile: config.tls.certFile, keyFile: config.tls.keyFile, pollIntervalMs: config.tls.pollIntervalMs },
    shutdown: config.shutdown,
    // The serving handler itself (review budget, memory), only its logger differs.
    admit: admissionHandler(config, services.view, quietLogger),
    readiness: () => ({ synced: true, caches: [] }),
    metrics: createMetrics({ defaultMetrics: false }),
    logger: quietLogger,
    maxBodyBytes: config.maxBodyBytes,
  });
  running.quiet = quiet;

  // Requests that reached /validate, counted the same way on every server (symmetric cost).
  const counts = { guard: 0, noop: 0, quiet: 0, bare: 0, guardTls: 0 };
  const bare = await startBareNoop(config.listen.host, { certFile: config.tls.certFile, keyFile: config.tls.keyFile }, () => counts.bare++);
  running.bare = bare;
  services.server.server.on('secureConnection', () => counts.guardTls++);
  services.server.server.on('request', (req: { url?: string }) => {
    if (req.url?.startsWith('/validate')) counts.guard++;
  });
  noop.server.on('request', (req: { url?: string }) => {
    if (req.url?.startsWith('/validate')) counts.noop++;
  });
  quiet.server.on('request', (req: { url?: string }) => {
    if (req.url?.startsWith('/validate')) counts.quiet++;
  });

  process.on('message', (raw: unknown) => {
    const msg = raw as ParentMessage;
    if (msg.type === 'stop') {
      send({ type: 'reply', id: msg.id });
      void stop(0);
      return;
    }
    if (msg.type === 'gc') {
      if (gc) {
        gc();
        gc();
      }
      send({ type: 'reply', id: msg.id });
      return;
    }
    if (msg.type === 'stats') {
      {
        const cpu = process.cpuUsage();
        const counters = services.view.counters();
        const stats: GuardStats = {
          at: Date.now(),
          mem: mem(),
          cpuUser: cpu.user,
          cpuSystem: cpu.system,
          reviews: counts.guard,
          noopRequests: counts.noop,
          quietRequests: counts.quiet,
          bareRequests: counts.bare,
          guardTlsConnections: counts.guardTls,
          live: counters.live,
          caches: cacheCounts(),
          watchEvents: counters.events,
          relists: counters.relists,
          gc: { ...gcStats },
          loopDelay: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
        };
        gcStats.maxSinceLastStats = 0;
        loop.reset();
        send({ type: 'reply', id: msg.id, stats });
      }
    }
  });

  send({
    type: 'ready',
    guardPort: services.server.port,
    noopPort: noop.port,
    quietPort: quiet.port,
    barePort: (bare.address() as AddressInfo).port,
    memBeforeCaches,
    mappingsBeforeCaches,
    memAfterSync,
    syncMs,
    caches: cacheCounts(),
  });
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
  setTimeout(() => process.exit(1), 200).unref();
});
