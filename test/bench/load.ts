// Load against POST /validate over HTTPS keep-alive connections, two ways:
//   runLoad   autocannon, closed loop (each connection sends its next request when the answer
//             comes): throughput at saturation. Latencies come from autocannon's per-response
//             event as float milliseconds (its own histogram has 1 ms resolution).
//   runPaced  open loop at an even rate (see below): latency as the API server would see it.
import autocannon, { type AutocannonRequest } from 'autocannon';
import { Samples, type LatencySummary } from './stats.ts';

export interface LoadOptions {
  url: string;
  /** One body for every request, or a cycle of bodies (each connection walks the list in order). */
  body?: string;
  bodies?: string[];
  connections: number;
  durationS: number;
  timeoutS?: number;
}

export interface LoadResult {
  latency: LatencySummary;
  /** Completed 2xx responses. */
  ok: number;
  rps: number;
  durationS: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Samples beyond the buffer (not in the percentiles); should be 0. */
  overflow: number;
}

const HEADERS = { 'content-type': 'application/json' };

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const samples = new Samples(2_000_000);
  const statusCodes: Record<string, number> = {};
  let ok = 0;
  const requests: AutocannonRequest[] | undefined = o.bodies?.map((body) => ({ method: 'POST', path: '/validate', headers: HEADERS, body }));
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: `${o.url}/validate`,
        method: 'POST',
        headers: HEADERS,
        ...(requests ? { requests } : { body: o.body ?? '' }),
        connections: o.connections,
        pipelining: 1,
        duration: o.durationS,
        timeout: o.timeoutS ?? 10,
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
        const durationS = Math.min(elapsedS, result.duration > 0 ? result.duration : elapsedS);
        resolve({
          latency: samples.summary(),
          ok,
          rps: ok / durationS,
          durationS,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          statusCodes,
          overflow: samples.overflow,
        });
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        samples.add(responseTime);
      }
    });
  });
}

export interface PacedOptions {
  url: string;
  /** Bodies sent in turn (one body: every request the same). */
  bodies: string[];
  /** Requests per second, evenly spaced (open loop). */
  rate: number;
  durationS: number;
  /** Keep-alive connections available (a request waits for a free one; that wait counts). */
  connections: number;
  timeoutMs?: number;
}

/**
 * Open-loop load at an even pace: request i is due at start + i/rate, whatever happened to the
 * ones before, and its latency runs from that due time to the end of the response, so a stall
 * shows up in the numbers instead of pausing the sender (no coordinated omission). autocannon's
 * own rate limit is not used for this: it sends each connection's per-second quota back to back
 * at the start of every second, i.e. bursts of saturation.
 */
export async function runPaced(o: PacedOptions): Promise<LoadResult> {
  const { Agent, request } = await import('node:https');
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections, rejectUnauthorized: false });
  const target = new URL(`${o.url}/validate`);
  const timeoutMs = o.timeoutMs ?? 10_000;
  const samples = new Samples(2_000_000);
  const statusCodes: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let timeouts = 0;
  let non2xx = 0;
  const send = (body: string, due: number, record: boolean): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            const took = performance.now() - due;
            const code = res.statusCode ?? 0;
            if (record) {
              statusCodes[code] = (statusCodes[code] ?? 0) + 1;
              if (code >= 200 && code < 300) {
                ok++;
                samples.add(took);
              } else non2xx++;
            }
            resolve();
          });
          res.on('error', () => {
            if (record) errors++;
            resolve();
          });
        },
      );
      req.setTimeout(timeoutMs, () => {
        if (record) timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        if (record) errors++;
        resolve();
      });
      req.end(body);
    });
  try {
    // Open every connection first (TLS handshakes are not what is measured).
    await Promise.all(Array.from({ length: o.connections }, (_, i) => send(o.bodies[i % o.bodies.length] as string, performance.now(), false)));
    const total = Math.max(1, Math.round(o.rate * o.durationS));
    const interval = 1000 / o.rate;
    const inflight = new Set<Promise<void>>();
    const start = performance.now();
    let sent = 0;
    while (sent < total) {
      const now = performance.now();
      // Fire everything due by now (catches up after a late timer), then sleep until the next one.
      while (sent < total && start + sent * interval <= now) {
        const p = send(o.bodies[sent % o.bodies.length] as string, start + sent * interval, true);
        inflight.add(p);
        void p.then(() => inflight.delete(p));
        sent++;
      }
      const next = start + sent * interval - performance.now();
      if (next > 0) await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(next))));
      else await new Promise((r) => setImmediate(r));
    }
    await Promise.all([...inflight]);
    const durationS = (performance.now() - start) / 1000;
    return { latency: samples.summary(), ok, rps: ok / durationS, durationS, errors, timeouts, non2xx, statusCodes, overflow: samples.overflow };
  } finally {
    agent.destroy();
  }
}
