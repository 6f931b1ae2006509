// docs/CONFIGURATION.md's table of every config key, from the config schema (config.ts).
import { describeConfigKeys } from '../config.ts';

export function configTable(): string {
  const rows = describeConfigKeys().map(
    (k) => `| \`${k.key}\` | ${k.env ? `\`${k.env}\`` : ''} | ${k.flag ? `\`${k.flag}\`` : ''} | ${k.default} | ${k.doc} |`,
  );
  return ['| key | env | flag | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
