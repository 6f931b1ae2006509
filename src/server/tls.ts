// Serving certificate: load, validate, and hot-reload without a restart.
//
// Kubernetes updates a Secret volume by writing a new timestamped directory and atomically
// swapping the `..data` symlink, so the watched file names never change; we therefore watch
// the *directories* (fs.watch) and back that up with a poll, debounce bursts, and compare
// content hashes. A new pair is validated (parses, key matches certificate, not expired,
// node:tls accepts it) before `server.setSecureContext()`; a bad pair is logged and the
// previous one keeps serving.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { watch, readFileSync, realpathSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.ts';

export const MIN_TLS_VERSION = 'TLSv1.2' as const;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates (mTLS on /audit). */
  clientCAFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  hash: string;
  fingerprint256: string;
  subject: string;
  notAfter: Date;
}

export class TlsMaterialError extends Error {
  override readonly name = 'TlsMaterialError';
}

function readAll(files: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer; hash: string } {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsMaterialError(`${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const cert = read('certificate', files.certFile);
  const key = read('private key', files.keyFile);
  const ca = files.clientCAFile !== undefined ? read('client CA bundle', files.clientCAFile) : undefined;
  const h = createHash('sha256').update(cert).update('\0').update(key);
  if (ca) h.update('\0').update(ca);
  return { cert, key, ...(ca ? { ca } : {}), hash: h.digest('hex') };
}

/** Reads and validates the files; throws TlsMaterialError saying what is wrong. */
export function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const raw = readAll(files);
  return validate(files, raw, now);
}

function validate(files: TlsFiles, raw: { cert: Buffer; key: Buffer; ca?: Buffer; hash: string }, now: Date): TlsMaterial {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(raw.cert);
  } catch (err) {
    throw new TlsMaterialError(`certificate ${files.certFile}: not a PEM X.509 certificate (${errText(err)})`);
  }
  try {
    const key = createPrivateKey(raw.key);
    if (!x509.checkPrivateKey(key)) throw new TlsMaterialError(`private key ${files.keyFile} does not match certificate ${files.certFile}`);
  } catch (err) {
    if (err instanceof TlsMaterialError) throw err;
    throw new TlsMaterialError(`private key ${files.keyFile}: not a PEM private key (${errText(err)})`);
  }
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new TlsMaterialError(`certificate ${files.certFile} expired at ${notAfter.toISOString()}`);
  }
  if (raw.ca) {
    try {
      new X509Certificate(raw.ca);
    } catch (err) {
      throw new TlsMaterialError(`client CA bundle ${files.clientCAFile ?? ''}: not a PEM certificate (${errText(err)})`);
    }
  }
  try {
    createSecureContext(secureContextOptions({ cert: raw.cert, key: raw.key, ...(raw.ca ? { ca: raw.ca } : {}) }));
  } catch (err) {
    throw new TlsMaterialError(`node:tls rejects ${files.certFile} + ${files.keyFile}: ${errText(err)}`);
  }
  return {
    cert: raw.cert,
    key: raw.key,
    ...(raw.ca ? { ca: raw.ca } : {}),
    hash: raw.hash,
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    notAfter,
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Options for https.createServer / setSecureContext. */
export function secureContextOptions(m: { cert: Buffer; key: Buffer; ca?: Buffer }): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: MIN_TLS_VERSION };
}

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface TlsReloaderOptions {
  files: TlsFiles;
  initial: TlsMaterial;
  target: SecureContextTarget;
  logger: Logger;
  /** Poll interval backing up fs.watch. */
  pollIntervalMs: number;
  debounceMs?: number;
  onResult?: (result: 'success' | 'failure', material?: TlsMaterial) => void;
}

export interface TlsReloader {
  current(): TlsMaterial;
  /** Checks the files now; returns what happened. */
  check(): 'unchanged' | 'reloaded' | 'rejected';
  stop(): void;
}

export function startTlsReloader(opts: TlsReloaderOptions): TlsReloader {
  const debounceMs = opts.debounceMs ?? 250;
  const log = opts.logger;
  let current = opts.initial;
  let lastRejected: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const watchers = new Map<string, FSWatcher>();

  const check = (): 'unchanged' | 'reloaded' | 'rejected' => {
    let raw: ReturnType<typeof readAll>;
    try {
      raw = readAll(opts.files);
    } catch (err) {
      // Files briefly missing while a Secret volume swaps its symlink: report once per state.
      const id = `read:${errText(err)}`;
      if (lastRejected !== id) {
        lastRejected = id;
        log.error({ err: errText(err) }, 'tls: cannot read certificate files; keeping the current certificate');
        opts.onResult?.('failure');
      }
      return 'rejected';
    }
    if (raw.hash === current.hash) {
      lastRejected = undefined;
      return 'unchanged';
    }
    if (raw.hash === lastRejected) return 'rejected';
    let next: TlsMaterial;
    try {
      next = validate(opts.files, raw, new Date());
      opts.target.setSecureContext(secureContextOptions(next));
    } catch (err) {
      lastRejected = raw.hash;
      log.error({ err: errText(err) }, 'tls: new certificate/key rejected; keeping the current certificate');
      opts.onResult?.('failure');
      return 'rejected';
    }
    const previous = current;
    current = next;
    lastRejected = undefined;
    log.info(
      { fingerprint256: next.fingerprint256, previousFingerprint256: previous.fingerprint256, subject: next.subject, notAfter: next.notAfter.toISOString() },
      'tls: serving certificate reloaded',
    );
    opts.onResult?.('success', next);
    return 'reloaded';
  };

  const schedule = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      check();
    }, debounceMs);
    timer.unref();
  };

  const directories = (): string[] => {
    const dirs = new Set<string>();
    for (const f of [opts.files.certFile, opts.files.keyFile, opts.files.clientCAFile]) {
      if (f === undefined) continue;
      dirs.add(dirname(f));
      try {
        dirs.add(dirname(realpathSync(f)));
      } catch {
        /* missing right now; the poll retries */
      }
    }
    return [...dirs];
  };

  const ensureWatches = (): void => {
    for (const dir of directories()) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => schedule());
        w.on('error', (err) => {
          log.warn({ dir, err: errText(err) }, 'tls: directory watch failed; relying on polling');
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch (err) {
        log.warn({ dir, err: errText(err) }, 'tls: cannot watch directory; relying on polling');
      }
    }
  };

  ensureWatches();
  const poll = setInterval(() => {
    ensureWatches();
    check();
  }, opts.pollIntervalMs);
  poll.unref();

  return {
    current: () => current,
    check,
    stop() {
      stopped = true;
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
