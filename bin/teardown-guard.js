#!/usr/bin/env node
// Node >= 22.18 / 24 runs the TypeScript sources directly (type stripping), so the CLI needs
// no build step; a compiled dist/ is used when present (container image).
import { existsSync } from 'node:fs';
import module from 'node:module';
// Each `check`/`diagnose` run is a fresh process that loads the Kubernetes client: V8's code cache
// (in the OS temp directory, keyed by Node version) halves its start-up CPU from the second run
// on. A read-only file system only leaves it off.
module.enableCompileCache?.();
const compiled = new URL('../dist/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : '../src/cli.ts');
process.exitCode = await main(process.argv);
