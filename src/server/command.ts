// `teardown-guard serve`: the command line. The wiring (src/server/services.ts) is imported when
// the command runs, so `review`, `check` and `--help` do not load the server's dependencies.
import type { Command } from 'commander';
import { describeConfigKeys } from '../config.ts';
import type { ServeFlags } from './services.ts';

function configHelp(): string {
  const rows = describeConfigKeys().map((k) => `  ${k.key.padEnd(40)} ${(k.env ?? '(file only)').padEnd(42)} ${k.default}`);
  return [
    '',
    'Configuration (precedence: flags > environment > --config file > defaults):',
    `  ${'key'.padEnd(40)} ${'environment'.padEnd(42)} default`,
    ...rows,
    '',
    'Example: teardown-guard serve --config config.yaml --port 9443',
  ].join('\n');
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the validating admission webhook (POST /validate) and audit receiver (POST /audit) over HTTPS')
    .option('-c, --config <file>', 'YAML config file')
    .option('--host <address>', 'listen address (listen.host)')
    .option('-p, --port <port>', 'HTTPS port (listen.port)')
    .option('--tls-cert-file <file>', 'PEM serving certificate (tls.certFile)')
    .option('--tls-key-file <file>', 'PEM private key (tls.keyFile)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster)')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent (log.level)')
    .option('--audit-only', 'receive audit events only (POST /audit): no admission, no cluster view, no API server credentials needed')
    .option('--check-config', 'validate the configuration, print the effective settings as JSON and exit')
    .addHelpText('after', configHelp())
    .action(async (flags: ServeFlags) => {
      const { runServe } = await import('./services.ts');
      await runServe(flags);
    });
}
