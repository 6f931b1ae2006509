// Entry point: `teardown-guard serve | review | check | diagnose | render-manifests | version`. Each command lives with the
// room it belongs to and registers itself here.
import { Command, CommanderError } from 'commander';
import { registerServeCommand } from './server/command.ts';
import { registerReviewCommand } from './audit/command.ts';
import { registerCheckCommands } from './check/command.ts';
import { registerRenderCommand } from './render/command.ts';
import { VERSION } from './version.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('teardown-guard')
    .description(
      'Keeps cluster teardowns safe: stops namespace deletions that would strand OLM finalizers, flags Helm uninstalls aimed at the wrong namespace.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  program
    .command('version')
    .description('print the version')
    .action(() => {
      console.log(VERSION);
    });
  registerServeCommand(program);
  registerReviewCommand(program);
  registerCheckCommands(program);
  registerRenderCommand(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors with 1, which we map to 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    console.error(`teardown-guard: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
}
