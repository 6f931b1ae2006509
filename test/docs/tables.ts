// `npm run docs:tables`: writes the generated tables of the documentation (src/render/docTables.ts)
// and src/ARCHITECTURE.md's import table (eslint/rooms.js) into their files.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { roomsTable } from '../../eslint/rooms.js';
import { DOC_TABLES, replaceMarkedBlock } from '../../src/render/docTables.ts';
import { repoRoot } from '../cluster/paths.ts';

const tables = [...DOC_TABLES, { file: 'src/ARCHITECTURE.md', marker: 'rooms-table', render: roomsTable }];
for (const { file, marker, render } of tables) {
  const path = join(repoRoot, file);
  const before = readFileSync(path, 'utf8');
  const after = replaceMarkedBlock(before, marker, render(), file);
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${after === before ? 'unchanged' : 'wrote'} ${file} (${marker})\n`);
}
