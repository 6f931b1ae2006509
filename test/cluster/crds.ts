// CRDs from a pinned module's data directory, applied the same way for every component.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from './controlPlane.ts';
import { waitFor } from './proc.ts';

type Crd = { spec: { group: string; names: { plural: string } }; status?: { conditions?: Array<{ type: string; status: string }> } };

/**
 * Server-side applies every `<group>_<plural>.yaml` of `crdDir` (as the build scripts lay them
 * out; several CRDs exceed the last-applied annotation's size limit of client-side apply) and
 * waits until each is Established. Returns their names, `<plural>.<group>`.
 */
export async function applyCrdDir(cp: ControlPlane, component: string, crdDir: string, timeoutMs: number): Promise<string[]> {
  const files = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=teardown-guard-test'];
  for (const f of files) args.push('-f', join(crdDir, f));
  const r = await cp.kubectl(args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`applying ${component} CRDs failed:\n${r.stdout}\n${r.stderr}`);
  const names = files.map((f) => {
    const [group, plural] = f.replace(/\.yaml$/, '').split('_');
    return `${plural}.${group}`;
  });
  await waitFor(
    `${component} CRDs established`,
    timeoutMs,
    async () => {
      const list = await cp.client.get<{ items: Crd[] }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
      const established = new Set(
        (list?.items ?? [])
          .filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))
          .map((c) => `${c.spec.names.plural}.${c.spec.group}`),
      );
      return names.every((n) => established.has(n)) ? true : undefined;
    },
    200,
  );
  return names;
}
