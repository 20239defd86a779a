import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTypeScriptSamples, type ReadmeSample } from '../../scripts/readme-samples.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-readme-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Type-checks each sample as a module of an app that installed actorsync, under the strictest settings an app is
 * likely to use. `actorsync` maps to the sources, so the check needs no build.
 */
async function compileErrors(samples: readonly ReadmeSample[]): Promise<string[]> {
  const files = new Map<string, ReadmeSample>();
  for (const sample of samples) {
    const file = join(dir, `readme-line-${sample.line}.ts`);
    // The preamble goes on the lines above the sample's first, so reported lines stay README lines.
    const padding = '\n'.repeat(Math.max(0, sample.line - 1 - sample.preamble.split('\n').length));
    await writeFile(file, `${sample.preamble}\n${padding}${sample.code}\nexport {};\n`);
    files.set(file, sample);
  }
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      paths: {
        actorsync: [join(root, 'src', 'index.ts')],
        'actorsync/http': [join(root, 'src', 'http.ts')],
        'actorsync/lowdb': [join(root, 'src', 'lowdb.ts')],
        'actorsync/server': [join(root, 'src', 'server.ts')],
        'actorsync/server/postgres': [join(root, 'src', 'server-postgres.ts')],
        'actorsync/inspect': [join(root, 'src', 'inspect.ts')],
        'actorsync/machines': [join(root, 'machines', 'index.ts')],
      },
    },
    dir,
  );
  expect(errors).toEqual([]);
  const program = ts.createProgram([...files.keys()], options);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file && files.has(diagnostic.file.fileName))
    .map((diagnostic) => {
      const file = diagnostic.file as ts.SourceFile;
      const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      return `README.md line ${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
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
