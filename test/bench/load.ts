// One autocannon run (HTTPS, keep-alive connections) against POST /validate. Latencies are taken
// from autocannon's per-response event as float milliseconds (its own histogram has 1 ms
// resolution, too coarse for sub-millisecond answers) and summarised exactly.
import autocannon, { type AutocannonRequest } from 'autocannon';
import { Samples, type LatencySummary } from './stats.ts';

export interface LoadOptions {
  url: string;
  /** One body for every request, or a cycle of bodies (each connection walks the list in order). */
  body?: string;
  bodies?: string[];
  connections: number;
  durationS: number;
  /** Requests per second over all connections; unset = as fast as the server answers. */
  overallRate?: number;
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
    const instance = autocannon({
      url: `${o.url}/validate`,
      method: 'POST',
      headers: HEADERS,
      ...(requests ? { requests } : { body: o.body ?? '' }),
      connections: o.connections,
      pipelining: 1,
      duration: o.durationS,
      timeout: o.timeoutS ?? 10,
      ...(o.overallRate ? { overallRate: o.overallRate } : {}),
    }, (err, result) => {
      if (err) { reject(err); return; }
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
    });
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        samples.add(responseTime);
      }
    });
  });
}
