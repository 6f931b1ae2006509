// Writes the synthetic audit log of the review benchmark (test/support/auditLogGenerator.ts) to a
// file, for a look at it or a run of `teardown-guard review` by hand.
//
//   node test/bench/generate-audit-log.ts --out FILE [--size-mb 1024] [--seed 42]
import { parseArgs } from 'node:util';
import { generateAuditLog } from '../support/auditLogGenerator.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, 'size-mb': { type: 'string', default: '1024' }, seed: { type: 'string', default: '42' } },
});
if (!values.out) {
  console.error('usage: generate-audit-log.ts --out FILE [--size-mb N] [--seed N]');
  process.exit(2);
}
const r = await generateAuditLog({ out: values.out, sizeMb: Number(values['size-mb']), seed: Number(values.seed) });
console.log(JSON.stringify(r));
