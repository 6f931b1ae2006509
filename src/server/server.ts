// HTTPS server lifecycle: listen with TLS 1.2+, hot-reload the certificate, drain on shutdown.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createApp, type AppDeps, type AppHandle } from './app.ts';
import { loadTlsMaterial, secureContextOptions, startTlsReloader, type TlsFiles, type TlsReloader } from './tls.ts';

export interface ServerOptions extends AppDeps {
  host: string;
  port: number;
  tls: TlsFiles & { pollIntervalMs: number; debounceMs?: number };
  shutdown: { delayMs: number; drainTimeoutMs: number };
  logger: Logger;
  metrics: Metrics;
}

export interface RunningServer {
  server: Server;
  handle: AppHandle;
  reloader: TlsReloader;
  /** The bound port (useful with port 0). */
  port: number;
  /**
   * Graceful stop: /readyz fails at once, keep serving for shutdown.delayMs (endpoints drop the
   * pod), stop accepting, wait up to drainTimeoutMs for in-flight requests, then close every
   * connection. Idempotent.
   */
  shutdown(reason?: string): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { logger, metrics } = opts;
  const initial = loadTlsMaterial(opts.tls); // throws TlsMaterialError naming the bad file
  const handle = createApp(opts);
  const mtls = opts.tls.clientCAFile !== undefined;
  const server = createServer(
    {
      ...secureContextOptions(initial),
      // Client certificates are requested (for /audit) but never required at the TLS layer: the
      // API server calling /validate presents none. /audit checks socket.authorized itself.
      requestCert: mtls,
      rejectUnauthorized: false,
    },
    handle.app,
  );
  // The API server keeps webhook connections alive (its idle timeout is 90 s); closing idle
  // sockets later than the client does avoids racing a POST against our close.
  server.keepAliveTimeout = 100_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('tlsClientError', (err) => {
    logger.debug({ err: err.message }, 'tls handshake failed');
  });
  server.on('clientError', (err, socket) => {
    logger.debug({ err: err.message }, 'http client error');
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n{"error":"malformed HTTP request"}');
    else socket.destroy();
  });

  server.listen(opts.port, opts.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  metrics.tlsNotAfter.set(initial.notAfter.getTime() / 1000);
  logger.info(
    { host: opts.host, port, fingerprint256: initial.fingerprint256, notAfter: initial.notAfter.toISOString(), mtls },
    'listening (HTTPS, TLS >= 1.2)',
  );

  const reloader = startTlsReloader({
    files: opts.tls,
    initial,
    target: server,
    logger,
    pollIntervalMs: opts.tls.pollIntervalMs,
    ...(opts.tls.debounceMs !== undefined ? { debounceMs: opts.tls.debounceMs } : {}),
    onResult: (result, material) => {
      metrics.tlsReloads.inc({ result });
      if (material) metrics.tlsNotAfter.set(material.notAfter.getTime() / 1000);
    },
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown'): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason, delayMs: opts.shutdown.delayMs, drainTimeoutMs: opts.shutdown.drainTimeoutMs }, 'shutting down: readiness now fails');
      handle.beginShutdown();
      if (opts.shutdown.delayMs > 0) await sleep(opts.shutdown.delayMs);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + opts.shutdown.drainTimeoutMs;
      while (handle.inFlight() > 0 && Date.now() < deadline) {
        await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
        server.closeIdleConnections();
      }
      const abandoned = handle.inFlight();
      if (abandoned > 0) logger.warn({ abandoned }, 'drain timeout: closing connections with requests in flight');
      server.closeAllConnections();
      reloader.stop();
      await closed;
      logger.info({ abandoned }, 'HTTPS server stopped');
    })();
    return stopping;
  };

  return { server, handle, reloader, port, shutdown };
}
