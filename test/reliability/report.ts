import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPORT_DIR = join('test-artifacts', 'reliability');

/** Records a suite's figures for `npm run reliability`, which gathers them into docs/reliability.md. */
export function recordFigures(suite: string, figures: Record<string, number | string>): void {
  mkdirSync(REPORT_DIR, { recursive: true });
  writeFileSync(join(REPORT_DIR, `${suite}.json`), `${JSON.stringify({ suite, ...figures }, null, 2)}\n`);
}
