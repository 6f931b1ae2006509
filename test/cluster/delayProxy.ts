// A TCP proxy on 127.0.0.1 in the test process that makes a real API server slow: every chunk the
// server sends is held for `delayMs` before the client gets it (order kept; TLS passes through
// untouched, so the client still verifies the API server's own certificate, which names
// 127.0.0.1). The delay can change at any time; it applies to chunks arriving after the change.
// Used by test/integration/slowApiServer.test.ts and `npm run bench` (slow API server figures).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface DelayProxy {
  /** https://127.0.0.1:<port> */
  url: string;
  setDelayMs(ms: number): void;
  close(): Promise<void>;
}

export async function startDelayProxy(target: string): Promise<DelayProxy> {
  const { hostname, port } = new URL(target);
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) });
    sockets.add(client).add(upstream);
    // Each chunk leaves no earlier than delayMs after it arrived, and never before the one ahead of it.
    let lastDueAt = 0;
    upstream.on('data', (chunk: Buffer) => {
      const dueAt = Math.max(Date.now() + delayMs, lastDueAt);
      lastDueAt = dueAt;
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
      }, dueAt - Date.now());
    });
    upstream.on('end', () => setTimeout(() => client.end(), Math.max(0, lastDueAt - Date.now())));
    client.pipe(upstream);
    const drop = (s: Socket) => (): void => {
      sockets.delete(s);
    };
    client.on('close', () => {
      drop(client)();
      upstream.destroy();
    });
    upstream.on('close', () => {
      drop(upstream)();
      setTimeout(() => client.destroy(), Math.max(0, lastDueAt - Date.now()));
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the delay proxy has no TCP address');
  return {
    url: `https://127.0.0.1:${address.port}`,
    setDelayMs(ms) {
      delayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A copy of a kubeconfig whose clusters point at `server` (same CA, same credentials). */
export function kubeconfigVia(kubeconfigPath: string, server: string, outPath: string): string {
  const doc = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as { clusters?: Array<{ cluster?: { server?: string } }> };
  for (const c of doc.clusters ?? []) if (c.cluster) c.cluster.server = server;
  writeFileSync(outPath, stringifyYaml(doc), { mode: 0o600 });
  return outPath;
}
