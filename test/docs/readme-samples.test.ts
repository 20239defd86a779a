import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractTypeScriptSamples, type ReadmeSample } from '../../scripts/readme-samples.js';
import { typeCheckSamples } from '../helpers/type-check-samples.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Type-checks each sample as a module importing actorsync and its sub-paths; errors name their README line. */
async function compileErrors(samples: readonly ReadmeSample[]): Promise<string[]> {
  const errors = await typeCheckSamples(
    samples.map((sample) => {
      // The preamble goes on the lines above the sample's first, so reported lines are README lines.
      const padding = '\n'.repeat(Math.max(0, sample.line - 1 - sample.preamble.split('\n').length));
      return {
        name: `readme-line-${sample.line}.ts`,
        text: `${sample.preamble}\n${padding}${sample.code}\nexport {};\n`,
      };
    }),
  );
  return errors.map(({ line, message }) => `README.md line ${line}: ${message}`);
}

describe('extractTypeScriptSamples', () => {
  it('finds ts and typescript blocks with their README lines and preambles, and nothing else', () => {
    const markdown = [
      '# T', // 1
      '```sh', // 2
      'npm test', // 3
      '```', // 4
      '<!-- sample-preamble', // 5
      'declare const x: number;', // 6
      '-->', // 7
      '```ts', // 8
      'const y = x;', // 9
      '```', // 10
      '```typescript', // 11
      'const z = 1;', // 12
      '```', // 13
    ].join('\n');
    expect(extractTypeScriptSamples(markdown)).toEqual([
      { line: 9, preamble: 'declare const x: number;', code: 'const y = x;\n' },
      { line: 12, preamble: '', code: 'const z = 1;\n' },
    ]);
  });

  it('refuses an unterminated block rather than skip the rest of the README', () => {
    expect(() => extractTypeScriptSamples('```ts\nconst a = 1;\n```\n\n```ts\nconst b = 2;\n')).toThrow(
      /unterminated TypeScript block/,
    );
  });
});

describe('README.md TypeScript samples', () => {
  it('all compile under strict TypeScript, each as a module importing actorsync and its sub-paths', async () => {
    const samples = extractTypeScriptSamples(await readFile(join(root, 'README.md'), 'utf8'));
    expect(samples.length).toBeGreaterThanOrEqual(3);
    // The reference server is how a newcomer tries the HTTP side: the README must show its real API.
    expect(samples.some((sample) => sample.code.includes('await createSyncServer('))).toBe(true);
    expect(await compileErrors(samples)).toEqual([]);
  }, 60_000);

  it('a sample that misuses the API is reported with its README line', async () => {
    const errors = await compileErrors([
      {
        line: 40,
        preamble: '',
        code: "import { createSyncServer } from 'actorsync/server';\n\nconst server = await createSyncServer();\nserver.listen();\n",
      },
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^README\.md line 43: Property 'listen' does not exist/);
  }, 60_000);
});
