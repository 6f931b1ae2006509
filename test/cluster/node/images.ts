// The node mode's images (test/cluster/README.md, "Node mode"): the cached archives
// build-images.sh makes (pause, and the two bases made from the cached Node 24), and the guard's
// own image, built here from the project's unmodified Dockerfile with buildah, the bases passed
// as the Dockerfile's build arguments (BUILD_IMAGE, RUNTIME_IMAGE) so the same Dockerfile still
// builds with public bases elsewhere.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { binPath, cacheDir, clusterDir, repoRoot, versions } from '../paths.ts';
import { run, runOk } from '../proc.ts';

export interface ImageArchive {
  path: string;
  ref: string;
}

const imagesDir = () => join(cacheDir(), 'images');
const nodeVersion = () => process.versions.node;

function need(a: ImageArchive): ImageArchive {
  if (!existsSync(a.path)) throw new Error(`missing ${a.path}; run \`npm run build:binaries\` first (builds the node images)`);
  return a;
}

/** Same key build-images.sh uses: sha256(go.mod + main.go of test/cluster/go/pause)[0:12]. */
export function pauseImageArchive(): ImageArchive {
  const h = createHash('sha256');
  for (const f of ['go.mod', 'main.go']) h.update(readFileSync(join(clusterDir, 'go', 'pause', f)));
  const hash = h.digest('hex').slice(0, 12);
  return need({ path: join(imagesDir(), `pause-${hash}.tar`), ref: `localhost/teardown-guard-test/pause:${hash}` });
}

export function buildBaseArchive(): ImageArchive {
  const v = nodeVersion();
  return need({ path: join(imagesDir(), `node-build-${v}-npm-${versions().NPM_VERSION}.tar`), ref: `localhost/teardown-guard-test/node-build:${v}` });
}

export function runtimeBaseArchive(): ImageArchive {
  const v = nodeVersion();
  return need({ path: join(imagesDir(), `node-runtime-${v}.tar`), ref: `localhost/teardown-guard-test/node-runtime:${v}` });
}

export interface GuardImageOptions {
  /** Where the archive goes (a temp dir of the caller). */
  outDir: string;
  /**
   * 'worktree' (default): the files as they are; 'head': the last commit (`git archive`), for a
   * tree that others are editing while the image builds.
   */
  source?: 'worktree' | 'head';
  log?: (line: string) => void;
  timeoutMs?: number;
}

/**
 * Dirs buildah creates at fixed host paths even with its own --root/--runroot (its CNI config dir
 * and the blob-info cache); removed again when they did not exist before, as build-images.sh does.
 */
const BUILDAH_HOST_DIRS = ['/etc/cni', '/var/lib/containers'];

export interface GuardImage extends ImageArchive {
  buildMs: number;
}

/**
 * `buildah bud` of the Dockerfile in a throwaway vfs store (no daemon, no registry, chroot
 * isolation: no user namespaces here), pushed to an OCI archive named `ref`.
 */
export async function buildGuardImage(o: GuardImageOptions): Promise<GuardImage> {
  const t0 = Date.now();
  const work = mkdtempSync(join(o.outDir, 'image-build-'));
  const store = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
  // buildah keeps RUN --mount=type=cache dirs and its temp files under TMPDIR.
  const env = { ...process.env, TMPDIR: work };
  const createdByUs = BUILDAH_HOST_DIRS.filter((d) => !existsSync(d));
  try {
    let context = repoRoot;
    if (o.source === 'head') {
      context = join(work, 'context');
      mkdirSync(context);
      const archive = join(work, 'head.tar');
      await runOk('git', ['-C', repoRoot, 'archive', '--format=tar', '-o', archive, 'HEAD']);
      await runOk('tar', ['-xf', archive, '-C', context]);
    }
    const tag = `dev-${Date.now().toString(36)}`;
    const ref = `localhost/teardown-guard:${tag}`;
    const bud = await run(
      'buildah',
      [
        ...store,
        'bud',
        '--isolation',
        'chroot',
        '--pull-never',
        '--layers=false',
        '--build-arg',
        `BUILD_IMAGE=oci-archive:${buildBaseArchive().path}`,
        '--build-arg',
        `RUNTIME_IMAGE=oci-archive:${runtimeBaseArchive().path}`,
        '-t',
        ref,
        '-f',
        join(context, 'Dockerfile'),
        context,
      ],
      { env, timeoutMs: o.timeoutMs ?? 600_000 },
    );
    if (bud.code !== 0) throw new Error(`buildah bud failed (${bud.code}):\n${bud.stdout.slice(-4000)}\n${bud.stderr.slice(-4000)}`);
    const path = join(o.outDir, `teardown-guard-${tag}.tar`);
    await runOk('buildah', [...store, 'push', '--quiet', ref, `oci-archive:${path}:${ref}`], { env, timeoutMs: 300_000 });
    const buildMs = Date.now() - t0;
    o.log?.(`guard image ${ref} built in ${(buildMs / 1000).toFixed(1)}s`);
    return { path, ref, buildMs };
  } finally {
    await run('buildah', [...store, 'rm', '--all'], { env, timeoutMs: 60_000 });
    rmSync(work, { recursive: true, force: true });
    for (const d of createdByUs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * Pinned static binaries that run as Pods on the node in an image of their own: kubectl (Helm hook
 * Jobs) and olm-operator (charts that ship OLM, like the Pixie-shaped one, and OLM's quickstart).
 */
export type BinaryImageName = 'kubectl' | 'olm';

/** The reference and cached archive of a binary's image (the same for every run of one version). */
export function binaryImage(name: BinaryImageName): ImageArchive {
  const binary = binPath(name);
  const version = basename(binary).slice(name.length + 1);
  return { path: join(imagesDir(), `${name}-${version}.tar`), ref: `localhost/teardown-guard-test/${name}:${version}` };
}

/**
 * An image holding only one pinned, statically linked binary at /bin/NAME (its entrypoint), uid
 * 65532: `buildah from scratch` in a throwaway vfs store, no base image and no registry. Charts
 * take it as their image value (the Pixie-shaped chart's kubectlImage and olmImage). Cached by
 * version next to the other node images.
 */
export async function buildBinaryImage(name: BinaryImageName, log?: (line: string) => void): Promise<ImageArchive> {
  const binary = binPath(name);
  if (!existsSync(binary)) throw new Error(`missing ${binary}; run \`npm run build:binaries\` first`);
  const { path, ref } = binaryImage(name);
  if (existsSync(path)) return { path, ref };
  const t0 = Date.now();
  mkdirSync(imagesDir(), { recursive: true });
  const work = mkdtempSync(join(imagesDir(), `${name}-build-`));
  const store = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
  const env = { ...process.env, TMPDIR: work };
  const createdByUs = BUILDAH_HOST_DIRS.filter((d) => !existsSync(d));
  try {
    const container = (await runOk('buildah', [...store, 'from', '--quiet', 'scratch'], { env })).stdout.trim();
    await runOk('buildah', [...store, 'copy', '--chmod', '0755', container, binary, `/bin/${name}`], { env, timeoutMs: 120_000 });
    await runOk('buildah', [...store, 'config', '--entrypoint', JSON.stringify([`/bin/${name}`]), '--user', '65532:65532', container], { env });
    await runOk('buildah', [...store, 'commit', '--quiet', container, ref], { env, timeoutMs: 120_000 });
    // Written under a temp name first: a half-written archive is never taken for a cached one.
    await runOk('buildah', [...store, 'push', '--quiet', ref, `oci-archive:${path}.tmp:${ref}`], { env, timeoutMs: 120_000 });
    renameSync(`${path}.tmp`, path);
    log?.(`${name} image ${ref} built in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return { path, ref };
  } finally {
    await run('buildah', [...store, 'rm', '--all'], { env, timeoutMs: 60_000 });
    rmSync(work, { recursive: true, force: true });
    for (const d of createdByUs) rmSync(d, { recursive: true, force: true });
  }
}
