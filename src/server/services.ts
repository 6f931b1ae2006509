// The serve wiring: load config, start the cluster view, the audit ingest and the HTTPS server;
// on SIGTERM/SIGINT drain and stop everything in order. Loaded only when `serve` runs, so the
// other commands start without express, client-node and the rest.
import { KubeConfig } from '../cluster/kubeConfig.ts';
import { createAdmissionHandler } from '../admission/engine.ts';
import { createAuditIngest } from '../audit/ingest.ts';
import { createKubeClusterView, type KubeClusterView } from '../cluster/kubeClusterView.ts';
import { finalizerGuardsOf, loadConfig, policyModes, policySettings, type Config } from '../config.ts';
import { bufferedStdout, createLogger, flushOnExit, type BufferedDestination, type Logger } from '../log.ts';

/** Log lines buffered before a write, and the longest they wait (what a SIGKILL can lose). */
const LOG_BUFFER_BYTES = 8 * 1024;
const LOG_FLUSH_INTERVAL_MS = 100;
import { createMetrics, type Metrics } from '../metrics.ts';
import { builtinPolicies } from '../policies/index.ts';
import { findingKind, type AppDeps, type Readiness } from './app.ts';
import { createCallerAuthenticator } from './auth.ts';
import { createInvalidAuditItemReporter } from './invalidAuditItems.ts';
import { startServer, type RunningServer } from './server.ts';

/** The flags of `teardown-guard serve` (server/command.ts); they override the config file and the environment. */
export interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  kubeconfig?: string;
  logLevel?: string;
  checkConfig?: boolean;
  /** Receive audit events only (the audit receiver Deployment): no cluster view, no API server credentials. */
  auditOnly?: boolean;
}

function flagValues(flags: ServeFlags): Record<string, string | undefined> {
  return {
    'listen.host': flags.host,
    'listen.port': flags.port,
    'tls.certFile': flags.tlsCertFile,
    'tls.keyFile': flags.tlsKeyFile,
    kubeconfig: flags.kubeconfig,
    'log.level': flags.logLevel,
  };
}

/** Loads the kubeconfig the config names, or client-node's default chain. */
export function loadKubeConfig(config: Config): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`config: kubeconfig: ${config.kubeconfig ?? '(default)'} cannot be loaded: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return kc;
}

function readinessOf(view: KubeClusterView): Readiness {
  const r = view.readiness();
  // Ready means synced *and* following the server: a cache whose watch keeps failing (API server
  // restarting, RBAC revoked) answers from what it has, but the pod should say it may be stale.
  return {
    synced: r.current,
    caches: [
      { name: 'discovery', synced: r.discovery.loaded, items: r.discovery.resources },
      ...r.caches.map((c) => ({ name: c.name, synced: c.synced && c.failingSinceMs === undefined, items: c.count })),
    ],
  };
}

export interface Services {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  view: KubeClusterView;
  server: RunningServer;
  stop(reason: string): Promise<void>;
}

/** Starts everything; resolves once the HTTPS server listens. Exposed for integration tests. */
export async function startServices(config: Config, logger: Logger, metrics: Metrics = createMetrics()): Promise<Services> {
  const kubeConfig = loadKubeConfig(config);
  const view = createKubeClusterView({
    kubeConfig,
    finalizerGuards: finalizerGuardsOf(config),
    liveTimeoutMs: config.liveLookup.timeoutMs,
    liveConcurrency: config.liveLookup.concurrency,
    logger: logger.child({ component: 'cluster' }),
    ...(config.finalizerMemory.enabled
      ? {
          memory: {
            namespace: config.guardNamespace,
            name: config.finalizerMemory.configMapName,
            limits: { forgetAfterMs: config.finalizerMemory.forgetAfterMs, maxEntries: config.finalizerMemory.maxEntries },
          },
        }
      : {}),
  });
  metrics.setCacheSource(() => readinessOf(view).caches);
  metrics.setClusterCountersSource(() => view.counters());

  const admit = admissionHandler(config, view, logger);
  view.start();
  const served = await serve(config, logger, metrics, { admit, readiness: () => readinessOf(view) }).catch(async (err: unknown) => {
    await view.stop();
    throw err;
  });
  return { config, logger, metrics, view, server: served.server, stop: served.stopWith(() => view.stop()) };
}

/** The serving admission handler: every built-in policy over `view`, under the configured modes and review budget. */
export function admissionHandler(config: Config, view: KubeClusterView, logger: Logger): ReturnType<typeof createAdmissionHandler> {
  return createAdmissionHandler({
    policies: builtinPolicies(),
    view,
    settings: policySettings(config),
    modes: policyModes(config),
    undecided: config.undecided,
    reviewBudgetMs: config.liveLookup.timeoutMs,
    ...(view.memory() ? { learn: (entry) => view.memory()?.learn(entry) } : {}),
    onInternalError: (err, policy) => {
      logger.error(
        { policy, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) },
        'policy failed with an internal error (answered as undecided)',
      );
    },
  });
}

/** What `serve --audit-only` runs: POST /audit, probes and metrics; nothing reads the API server. */
export type AuditReceiver = Omit<Services, 'view'>;

/**
 * Starts the audit receiver alone (`serve --audit-only`): no kubeconfig is loaded and no cluster
 * view is built, because the audit reviewer judges only the events pushed to it (src/audit/ never
 * reads the cluster). So its Pod runs without a ServiceAccount token; /validate answers 404 and
 * /readyz is ready as soon as the server listens.
 */
export async function startAuditReceiver(config: Config, logger: Logger, metrics: Metrics = createMetrics()): Promise<AuditReceiver> {
  const served = await serve(config, logger, metrics, { readiness: () => ({ synced: true, caches: [] }) });
  return { config, logger, metrics, server: served.server, stop: served.stopWith(() => Promise.resolve()) };
}

/** The audit ingest and the HTTPS server, shared by both modes; `stopWith(own)` stops the server, then `own`, then the ingest. */
async function serve(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  deps: { admit?: AppDeps['admit']; readiness: () => Readiness },
): Promise<{ server: RunningServer; stopWith(own: () => Promise<void>): (reason: string) => Promise<void> }> {
  const auditLog = logger.child({ component: 'audit' });
  const ingest = createAuditIngest({
    maxQueueEvents: config.audit.maxQueueEvents,
    windowMs: config.audit.windowMs,
    finalizerGuards: finalizerGuardsOf(config),
    onInvalid: createInvalidAuditItemReporter({ log: auditLog, counter: metrics.auditInvalid }),
    onFinding: (finding: unknown) => {
      metrics.auditFindings.inc({ kind: findingKind(finding) });
      auditLog.warn({ finding }, 'audit finding');
    },
  });
  const auth = createCallerAuthenticator({ mtls: config.tls.clientCAFile !== undefined, ...(config.audit.jwt ? { jwt: config.audit.jwt } : {}) });
  if (auth.methods.length === 0)
    logger.warn('POST /audit has no caller authentication configured (tls.clientCAFile, audit.jwt): every audit request will be refused');

  let server: RunningServer;
  try {
    server = await startServer({
      host: config.listen.host,
      port: config.listen.port,
      tls: {
        certFile: config.tls.certFile,
        keyFile: config.tls.keyFile,
        pollIntervalMs: config.tls.pollIntervalMs,
        ...(config.tls.clientCAFile !== undefined ? { clientCAFile: config.tls.clientCAFile } : {}),
      },
      shutdown: config.shutdown,
      ...(deps.admit ? { admit: deps.admit } : {}),
      readiness: deps.readiness,
      metrics,
      logger,
      maxBodyBytes: config.maxBodyBytes,
      audit: { sink: ingest, auth, maxBodyBytes: config.audit.maxBodyBytes },
    });
  } catch (err) {
    await ingest.stop();
    throw err;
  }

  return {
    server,
    stopWith(own) {
      let stopping: Promise<void> | undefined;
      return (reason) => {
        stopping ??= (async () => {
          await server.shutdown(reason);
          await own();
          await ingest.stop();
          logger.info({ reason }, 'teardown-guard stopped');
        })();
        return stopping;
      };
    },
  };
}

/**
 * The serving process's logger: stdout, buffered off the review's path. Every way the process ends
 * writes what is buffered: a clean stop (the caller's `destination.stop()`), an uncaught error, and
 * exit itself; only SIGKILL loses the lines of the last flush interval. `unflush` undoes the exit hooks.
 */
export function serveLogger(level: string): { logger: Logger; destination: BufferedDestination; unflush: () => void } {
  const destination = bufferedStdout({ flushIntervalMs: LOG_FLUSH_INTERVAL_MS, bufferBytes: LOG_BUFFER_BYTES });
  const logger = createLogger({ level, destination: destination.stream });
  return { logger, destination, unflush: flushOnExit(logger, destination) };
}

export async function runServe(flags: ServeFlags): Promise<void> {
  const { config, warnings } = loadConfig({
    ...(flags.config !== undefined ? { file: flags.config } : {}),
    env: process.env,
    flags: flagValues(flags),
  });
  if (flags.checkConfig) {
    for (const w of warnings) console.error(w);
    console.log(JSON.stringify(config, null, 2));
    return;
  }
  const { logger, destination, unflush } = serveLogger(config.log.level);
  for (const w of warnings) logger.warn(w);
  logger.info(
    {
      settings: {
        listen: config.listen,
        guardNamespace: config.guardNamespace,
        policies: config.policies,
        undecided: config.undecided,
        liveLookup: config.liveLookup,
        exemptNamespaces: config.exemptNamespaces,
        exemptUsers: config.exemptUsers,
        breakGlassAnnotation: config.breakGlassAnnotation,
        finalizerGuards: finalizerGuardsOf(config).map((g) => g.finalizer),
        maxBodyBytes: config.maxBodyBytes,
        mtls: config.tls.clientCAFile !== undefined,
        auditJwt: config.audit.jwt !== undefined,
        auditOnly: flags.auditOnly === true,
      },
    },
    'starting teardown-guard',
  );

  const onRejection = (reason: unknown): void => {
    logger.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'unhandled promise rejection');
  };
  process.on('unhandledRejection', onRejection);

  const services = flags.auditOnly ? await startAuditReceiver(config, logger) : await startServices(config, logger);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const handler = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
      resolve(sig);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
  // A second signal while draining stops at once.
  const hardStop = (): void => {
    logger.warn('second signal: exiting without draining');
    destination.flushSync();
    process.exit(1);
  };
  process.once('SIGTERM', hardStop);
  process.once('SIGINT', hardStop);
  await services.stop(signal);
  destination.stop();
  process.off('SIGTERM', hardStop);
  process.off('SIGINT', hardStop);
  process.off('unhandledRejection', onRejection);
  unflush();
  // Everything is closed; if a stray handle still holds the event loop, do not hang the pod.
  setTimeout(() => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0), 2000).unref();
}
