import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { typeCheckSamples } from '../helpers/type-check-samples.js';

// docs/react.md's samples are TSX: compiled here as modules of an app that installed actorsync, react and
// @xstate/react, under strict settings, as test/docs/readme-samples.test.ts compiles the README's.
const root = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLE = /(?:<!-- sample-preamble\n([\s\S]*?)\n-->\n)?```tsx\n([\s\S]*?)^```[ \t]*$/gm;

async function compileErrors(markdown: string): Promise<{ samples: number; errors: string[] }> {
  const samples = [...markdown.matchAll(SAMPLE)].map(([, preamble = '', code = ''], index) => ({
    name: `sample-${index}.tsx`,
    text: `${preamble}\n${code}\nexport {};\n`,
  }));
  const errors = await typeCheckSamples(samples, { dom: true, installedPackages: true });
  return { samples: samples.length, errors: errors.map(({ file, message }) => `${file}: ${message}`) };
}

describe('docs/react.md samples', () => {
  it('compile as TSX under strict TypeScript against actorsync/react', async () => {
    const result = await compileErrors(await readFile(join(root, 'docs', 'react.md'), 'utf8'));
    expect(result.samples).toBeGreaterThanOrEqual(1);
    expect(result.errors).toEqual([]);
  }, 60_000);

  it('a sample that misuses a hook is reported', async () => {
    const result = await compileErrors(
      "```tsx\nimport { useSyncState } from 'actorsync/react';\nexport const state: number = useSyncState({} as never, 'notes');\n```\n",
    );
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/not assignable to type 'number'/);
  }, 60_000);
});
