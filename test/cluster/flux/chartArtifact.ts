// A chart packaged with the pinned helm and served from a loopback HTTP server at the path
// source-controller's storage would give it (helmchart/<namespace>/<name>/<chart>-<version>.tgz),
// so helm-controller downloads and verifies it as it would from source-controller
// (test/cluster/README.md, "Flux's helm-controller").
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ControlPlane } from '../controlPlane.ts';

export interface ChartArtifact {
  /** Fields of a source.toolkit.fluxcd.io Artifact (status.artifact). */
  url: string;
  path: string;
  revision: string;
  digest: string;
  size: number;
  chartName: string;
  /** GET requests answered with the tarball. */
  downloads(): number;
  close(): Promise<void>;
}

/** `helm package` output names the tarball it wrote. */
function packagedPath(stdout: string): string | undefined {
  return /saved it to: (\S+\.tgz)/.exec(stdout)?.[1];
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Packages `chartDir` and serves it for the HelmChart `namespace/name`. Only the artifact's exact
 * path answers 200; anything else is a 404, as source-controller's file server answers.
 */
export async function serveChartArtifact(cp: ControlPlane, chartDir: string, source: { namespace: string; name: string }): Promise<ChartArtifact> {
  const out = mkdtempSync(join(cp.dir, 'chart-artifact-'));
  const r = await cp.helm(3, ['package', chartDir, '-d', out]);
  const file = packagedPath(r.stdout);
  if (r.code !== 0 || !file) throw new Error(`helm package ${chartDir} failed:\n${r.stdout}${r.stderr}`);
  const bytes = readFileSync(file);
  const base = file.split('/').pop()!;
  const m = /^(.+)-(\d+\.\d+\.\d+[^/]*)\.tgz$/.exec(base);
  if (!m) throw new Error(`unexpected chart tarball name ${base}`);
  const path = `helmchart/${source.namespace}/${source.name}/${base}`;
  let downloads = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === `/${path}`) {
      downloads++;
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    res.writeHead(404).end();
  });
  const port = await listen(server);
  server.unref();
  return {
    url: `http://127.0.0.1:${port}/${path}`,
    path,
    revision: m[2]!,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    size: bytes.length,
    chartName: m[1]!,
    downloads: () => downloads,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
