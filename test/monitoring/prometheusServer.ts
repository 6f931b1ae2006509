// The pinned Prometheus (prometheus.ts) as a host process next to a loopback control plane: its
// own config, data dir and rules in the cluster's dir, listening on a free 127.0.0.1 port, scraping
// and evaluating every second. It stops with the cluster (its process group is in the cluster's
// groups file for the watchdog, and stopWithCluster ends it when the cluster is gone).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { freePort, GiveUp, startDaemon, tail, waitFor, type Daemon } from '../cluster/proc.ts';
import { stopWithCluster } from '../cluster/stopWithCluster.ts';
import { prometheusBinary, RULES_FILE } from './prometheus.ts';

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

export interface RunningPrometheus {
  url: string;
  daemon: Daemon;
  /** An instant query through /api/v1/query; throws on an error answer (a query Prometheus cannot parse). */
  query(expr: string): Promise<PromSeries[]>;
  alerts(): Promise<PromAlert[]>;
  targets(): Promise<Array<{ labels: Record<string, string>; health: string; lastError: string }>>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** `scrape_configs` entries; the global intervals are 1 s. */
export type ScrapeConfig = Record<string, unknown>;

export async function startPrometheus(cp: ControlPlane, scrapeConfigs: ScrapeConfig[], log: (line: string) => void): Promise<RunningPrometheus> {
  const bin = prometheusBinary('prometheus');
  const dir = join(cp.dir, 'prometheus');
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync(RULES_FILE, join(dir, 'teardown-guard-rules.yaml'));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [join(dir, 'teardown-guard-rules.yaml')],
    scrape_configs: scrapeConfigs,
  };
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  const daemon = startDaemon({
    name: 'prometheus',
    cmd: bin,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    logDir: dir,
    groupsFile: join(cp.dir, 'pgids'),
  });
  const cancelOrphanStop = stopWithCluster(cp, daemon, 'prometheus', log);
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  await waitFor(
    'prometheus ready',
    30_000,
    async () => {
      if (!daemon.isRunning()) throw new GiveUp(`prometheus exited:\n${tail(daemon.logPath, 30)}`);
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    200,
  ).catch(async (e: unknown) => {
    cancelOrphanStop();
    await daemon.stop(2000);
    throw e;
  });
  log(`prometheus ${url} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return {
    url,
    daemon,
    query: async (expr) => (await api<{ resultType: string; result: PromSeries[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    alerts: async () => (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts,
    targets: async () =>
      (await api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>('/api/v1/targets')).activeTargets,
    logTail: (lines = 30) => tail(daemon.logPath, lines),
    stop: async () => {
      cancelOrphanStop();
      await daemon.stop(5000);
    },
  };
}
