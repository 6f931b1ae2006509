#!/usr/bin/env node
// Node >= 22.18 / 24 runs the TypeScript sources directly (type stripping), so the CLI needs
// no build step; a compiled dist/ is used when present (container image).
import { existsSync } from 'node:fs';
const compiled = new URL('../dist/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : '../src/cli.ts');
process.exitCode = await main(process.argv);
