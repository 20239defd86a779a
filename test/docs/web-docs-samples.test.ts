import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractTypeScriptSamples } from '../../scripts/readme-samples.js';
import { typeCheckSamples } from '../helpers/type-check-samples.js';

// Issue 15: a newcomer builds a web app from docs/browser.md and docs/inspector.md by copying their samples, so
// they compile as the README's do (test/docs/readme-samples.test.ts): strict, with the DOM's types, each sample
// with the declarations its `sample-preamble` comment holds.
const root = fileURLToPath(new URL('../..', import.meta.url));

async function compileErrors(doc: string): Promise<{ samples: number; errors: string[] }> {
  const samples = extractTypeScriptSamples(await readFile(join(root, 'docs', doc), 'utf8'));
  const errors = await typeCheckSamples(
    samples.map((sample) => {
      // The preamble goes on the lines above the sample's first, so reported lines are the doc's lines.
      const padding = '\n'.repeat(Math.max(0, sample.line - 1 - sample.preamble.split('\n').length));
      return {
        name: `line-${sample.line}.ts`,
        text: `${sample.preamble}\n${padding}${sample.code}\nexport {};\n`,
      };
    }),
    { dom: true },
  );
  return {
    samples: samples.length,
    errors: errors.map(({ line, message }) => `${doc} line ${line}: ${message}`),
  };
}

describe('the web docs TypeScript samples', () => {
  for (const doc of ['browser.md', 'inspector.md']) {
    it(`docs/${doc}: all compile under strict TypeScript with the DOM`, async () => {
      const result = await compileErrors(doc);
      expect(result.samples).toBeGreaterThanOrEqual(2);
      expect(result.errors).toEqual([]);
    }, 60_000);
  }
});
