// `teardown-guard render-manifests`: rewrites the generated files and blocks of a manifests directory
// from the policies' declarations and the finalizer registry (built-in guards plus the config file's
// finalizerGuards). A site adding a guard
// edits one config entry and runs this against its copy of manifests/base (docs/CONFIGURATION.md, finalizerGuards).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadRenderSettings } from '../config.ts';
import { FinalizerRegistry } from '../registry/finalizerRegistry.ts';
import { renderManifestFiles } from './manifestFiles.ts';

interface RenderFlags {
  config?: string;
  dir: string;
  check?: boolean;
}

export function registerRenderCommand(program: Command): void {
  program
    .command('render-manifests')
    .description(
      "rewrite the webhook configuration, policy modes and RBAC that follow from the policies and the finalizer registry (built-in guards + the config's finalizerGuards)",
    )
    .option('--config <file>', 'config file whose finalizerGuards join the built-in guards')
    .option('--dir <dir>', 'manifests directory holding validatingwebhookconfiguration.yaml, config.yaml and rbac.yaml', 'manifests/base')
    .option('--check', 'change nothing; exit 1 and name the files that differ from what the registry renders')
    .action((flags: RenderFlags) => {
      // The config's guards join the built-in ones; the modes it sets stay (a policy it does not
      // name is written at its default); its guardNamespace is the webhooks' Service namespace.
      const fromConfig = flags.config ? loadRenderSettings(flags.config) : undefined;
      const registry = new FinalizerRegistry(fromConfig?.finalizerGuards ?? []);
      const input = { registry, modes: fromConfig?.modes ?? {}, ...(fromConfig ? { guardNamespace: fromConfig.guardNamespace } : {}) };
      const rendered = renderManifestFiles(input, (file) => readFileSync(join(flags.dir, file), 'utf8'));
      const stale: string[] = [];
      for (const [file, text] of rendered) {
        const path = join(flags.dir, file);
        if (readFileSync(path, 'utf8') === text) continue;
        stale.push(path);
        if (!flags.check) writeFileSync(path, text);
      }
      if (flags.check && stale.length > 0) {
        console.error(
          `differs from the policies and the finalizer registry: ${stale.join(', ')} (run teardown-guard render-manifests${flags.config ? ` --config ${flags.config}` : ''} --dir ${flags.dir})`,
        );
        process.exitCode = 1;
        return;
      }
      console.log(stale.length === 0 ? 'manifests match the policies and the finalizer registry' : `rendered: ${stale.join(', ')}`);
    });
}
