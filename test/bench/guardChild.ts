// Parent side of test/bench/guardProcess.ts: fork it with a config for the loopback cluster, wait
// until its caches have synced, ask it for stats, read its RSS from /proc, stop it.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { bundle } from '../../build.ts';
import { repoRoot } from '../cluster/paths.ts';
import type { ChildMessage, GuardStats, ParentMessage, ReadyMessage } from './guardProcess.ts';
import { residentByMapping } from './procStats.ts';

const TS_ENTRY = fileURLToPath(new URL('./guardProcess.ts', import.meta.url));

/**
 * Bundles guardProcess.ts and src/server/services.ts with build.ts, exactly as the container image
 * is built (one bundle, no type stripping: Node's TypeScript stripper alone adds ~20 MiB of RSS,
 * and loading the dependencies file by file another ~45 MiB). Output under node_modules/.cache.
 * Returns the bundled entry and the bundled serve modules (for their import cost), or throws.
 */
export async function bundleGuardProcess(log: (line: string) => void): Promise<{ entry: string; services: string }> {
  const outDir = join(repoRoot, 'node_modules', '.cache', 'tg-bench-guard');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // ESM scope for the emitted .js (a package.json inside node_modules is not looked up past it).
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const t0 = Date.now();
  await bundle({ guardProcess: TS_ENTRY, services: join(repoRoot, 'src', 'server', 'services.ts') }, outDir);
  const entry = join(outDir, 'guardProcess.js');
  const services = join(outDir, 'services.js');
  if (!existsSync(entry) || !existsSync(services)) throw new Error(`bundling the guard for the benchmark left no ${entry}`);
  log(`guard bundled (build.ts, as the image) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return { entry, services };
}

export interface GuardChildOptions {
  /** Bundled entry from bundleGuardProcess(); unset runs guardProcess.ts through type stripping. */
  entry?: string;
  dir: string;
  kubeconfig: string;
  certFile: string;
  keyFile: string;
  logLevel?: string;
  /** Write a V8 CPU profile (node --cpu-prof) into this directory when the process exits. */
  cpuProfDir?: string;
  /** Node options of the guard process (default: what manifests/base/deployment.yaml sets). */
  nodeOptions?: string[];
  /** Extra environment for the guard process (e.g. glibc malloc tuning). */
  env?: Record<string, string>;
  /** The child exits by itself after this long, whatever happens to the parent. */
  maxLifetimeS: number;
  syncTimeoutMs: number;
}

export interface GuardChild {
  pid: number;
  ready: ReadyMessage;
  guardUrl: string;
  noopUrl: string;
  quietUrl: string;
  /** The no-op answer on bare node:https (no Express). */
  bareUrl: string;
  logPath: string;
  stats(): Promise<GuardStats>;
  gc(): Promise<void>;
  /** VmRSS and VmHWM (peak) in bytes, read by the parent from /proc. */
  procRss(): { rss: number; hwm: number };
  /** Resident bytes by kind of mapping (/proc/PID/smaps): brk heap, anonymous mmaps, files. */
  residentByMapping(): Record<string, number>;
  stop(): Promise<void>;
}

/** The guard container's environment in manifests/base/deployment.yaml (empty without the file). */
function manifestContainerEnv(): Map<string, string> {
  try {
    const text = readFileSync(join(repoRoot, 'manifests', 'base', 'deployment.yaml'), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const d = doc.toJS() as {
        kind?: string;
        spec?: { template?: { spec?: { containers?: Array<{ name?: string; env?: Array<{ name?: string; value?: string }> }> } } };
      } | null;
      if (d?.kind !== 'Deployment') continue;
      const container = d.spec?.template?.spec?.containers?.find((c) => c.name === 'teardown-guard');
      return new Map((container?.env ?? []).flatMap((e) => (e.name && e.value !== undefined ? [[e.name, e.value] as const] : [])));
    }
  } catch {
    /* no manifest: plain Node defaults */
  }
  return new Map();
}

/** NODE_OPTIONS of the guard container in manifests/base/deployment.yaml, split into flags. */
export function manifestNodeOptions(): string[] {
  return (manifestContainerEnv().get('NODE_OPTIONS') ?? '').split(/\s+/).filter(Boolean);
}

/** The glibc malloc settings (MALLOC_*) of the guard container in manifests/base/deployment.yaml. */
export function manifestMallocEnv(): Record<string, string> {
  return Object.fromEntries([...manifestContainerEnv()].filter(([name]) => name.startsWith('MALLOC_')));
}

export function guardConfig(o: Pick<GuardChildOptions, 'kubeconfig' | 'certFile' | 'keyFile' | 'logLevel'>): string {
  return [
    'listen:',
    '  host: 127.0.0.1',
    '  port: 0',
    'tls:',
    `  certFile: ${JSON.stringify(o.certFile)}`,
    `  keyFile: ${JSON.stringify(o.keyFile)}`,
    `kubeconfig: ${JSON.stringify(o.kubeconfig)}`,
    'log:',
    `  level: ${o.logLevel ?? 'info'}`,
    'shutdown:',
    '  delayMs: 0',
    '  drainTimeoutMs: 1000',
    '',
  ].join('\n');
}

function readProcStatus(pid: number): { rss: number; hwm: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

export async function startGuardChild(o: GuardChildOptions): Promise<GuardChild> {
  mkdirSync(o.dir, { recursive: true });
  const configPath = join(o.dir, 'config.yaml');
  writeFileSync(configPath, guardConfig(o));
  const logPath = join(o.dir, `guard-${Date.now()}.log`);
  const fd = openSync(logPath, 'a');
  // As manifests/base/deployment.yaml runs it: NODE_ENV=production and its NODE_OPTIONS.
  const execArgv = ['--expose-gc', ...(o.nodeOptions ?? manifestNodeOptions())];
  if (o.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`);
  const child: ChildProcess = fork(o.entry ?? TS_ENTRY, [configPath, String(o.maxLifetimeS)], {
    execArgv,
    stdio: ['ignore', fd, fd, 'ipc'],
    // The guard reads TG_ settings from its environment: only those of o.env, never the caller's shell's.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TG_'))), NODE_ENV: 'production', ...o.env },
  });
  closeSync(fd);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));

  let nextId = 1;
  const pending = new Map<number, (m: Extract<ChildMessage, { type: 'reply' }>) => void>();
  let readyResolve: (m: ReadyMessage) => void = () => {};
  let readyReject: (e: Error) => void = () => {};
  const readyP = new Promise<ReadyMessage>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  child.on('message', (raw: unknown) => {
    const msg = raw as ChildMessage;
    if (msg.type === 'ready') readyResolve(msg);
    else if (msg.type === 'failed') readyReject(new Error(`guard process failed: ${msg.error}`));
    else if (msg.type === 'reply') {
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    }
  });
  void exited.then((code) => readyReject(new Error(`guard process exited (${code}) before it was ready; log: ${logPath}\n${tailOf(logPath)}`)));
  const timer = setTimeout(() => readyReject(new Error(`guard process not ready after ${o.syncTimeoutMs} ms; log: ${logPath}`)), o.syncTimeoutMs);

  const ask = (type: ParentMessage['type'], timeoutMs = 10_000): Promise<Extract<ChildMessage, { type: 'reply' }>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`guard process did not answer '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      child.send({ type, id } satisfies ParentMessage);
    });

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      await ask('stop', 5000);
    } catch {
      /* fall through to signals */
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 12_000);
    await exited;
    clearTimeout(kill);
  };

  let ready: ReadyMessage;
  try {
    ready = await readyP;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const pid = child.pid as number;
  return {
    pid,
    ready,
    guardUrl: `https://127.0.0.1:${ready.guardPort}`,
    noopUrl: `https://127.0.0.1:${ready.noopPort}`,
    quietUrl: `https://127.0.0.1:${ready.quietPort}`,
    bareUrl: `https://127.0.0.1:${ready.barePort}`,
    logPath,
    async stats() {
      const r = await ask('stats');
      if (!r.stats) throw new Error('guard process sent no stats');
      return r.stats;
    },
    async gc() {
      await ask('gc', 30_000);
    },
    procRss: () => readProcStatus(pid),
    residentByMapping: () => residentByMapping(pid),
    stop,
  };
}

function tailOf(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
