/**
 * Rewrites the generated charts region of docs/architecture.md from the machine definitions.
 *
 *   npx tsx scripts/generate-charts.ts           # update the doc
 *   npx tsx scripts/generate-charts.ts --check   # exit 1 if the doc is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { applyCharts, renderArchitectureCharts } from './chart.js';

const docPath = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));
const check = process.argv.slice(2).includes('--check');

function main(): number {
  const doc = readFileSync(docPath, 'utf8');
  let updated: string;
  try {
    updated = applyCharts(doc, renderArchitectureCharts());
  } catch (error) {
    console.error(`${docPath}: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (updated === doc) {
    console.log(`${docPath}: charts are up to date`);
    return 0;
  }
  if (check) {
    console.error(
      `${docPath}: charts are out of date with the machine definitions; run \`npm run docs:charts\``,
    );
    return 1;
  }
  writeFileSync(docPath, updated);
  console.log(`${docPath}: charts updated`);
  return 0;
}

process.exitCode = main();
