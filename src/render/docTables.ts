// The tables of the documentation that are generated, each between `<!-- NAME:start -->` and
// `<!-- NAME:end -->` lines of its file: the README's policy table (the policies' declarations),
// docs/CONFIGURATION.md's keys (the config schema), manifests/README.md's webhooks (the
// declarations again). `npm run docs:tables` writes them; test/unit/readme.test.ts fails when one
// differs.
import { configTable } from './configTable.ts';
import { policyTable } from './policyTable.ts';
import { webhookTable } from './webhookTable.ts';

export interface DocTable {
  /** Relative to the repository root. */
  file: string;
  marker: string;
  render: () => string;
}

export const DOC_TABLES: readonly DocTable[] = [
  { file: 'README.md', marker: 'policy-table', render: () => policyTable() },
  { file: 'docs/CONFIGURATION.md', marker: 'config-table', render: configTable },
  { file: 'manifests/README.md', marker: 'webhook-table', render: () => webhookTable() },
];

export class MissingMarkerError extends Error {
  override readonly name = 'MissingMarkerError';
}

/** The text between the marker lines, trimmed; throws when they are missing. */
export function markedBlock(text: string, marker: string, file: string): string {
  const start = text.indexOf(`<!-- ${marker}:start -->`);
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  if (start < 0 || end < start) throw new MissingMarkerError(`${file} needs a <!-- ${marker}:start --> ... <!-- ${marker}:end --> section`);
  return text.slice(start + `<!-- ${marker}:start -->`.length, end).trim();
}

/** `text` with the block between the marker lines replaced by `body`. */
export function replaceMarkedBlock(text: string, marker: string, body: string, file: string): string {
  markedBlock(text, marker, file);
  const start = text.indexOf(`<!-- ${marker}:start -->`) + `<!-- ${marker}:start -->`.length;
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  return `${text.slice(0, start)}\n${body}\n${text.slice(end)}`;
}
