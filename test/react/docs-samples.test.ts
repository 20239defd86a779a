import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// docs/react.md's samples are TSX: compiled here as modules of an app that installed actorsync, react and
// @xstate/react, under strict settings, the way test/docs/readme-samples.test.ts compiles the README's.
const root = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLE = /(?:<!-- sample-preamble\n([\s\S]*?)\n-->\n)?```tsx\n([\s\S]*?)^```[ \t]*$/gm;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-react-docs-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  // The app's own react, react-dom and their types, as an app that installed them has.
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function compileErrors(markdown: string): Promise<{ samples: number; errors: string[] }> {
  const files: string[] = [];
  for (const [index, match] of [...markdown.matchAll(SAMPLE)].entries()) {
    const [, preamble = '', code = ''] = match;
    const file = join(dir, `sample-${index}.tsx`);
    await writeFile(file, `${preamble}\n${code}\nexport {};\n`);
    files.push(file);
  }
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023', 'DOM', 'DOM.Iterable'],
      jsx: 'react-jsx',
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      paths: {
        actorsync: [join(root, 'src', 'index.ts')],
        'actorsync/http': [join(root, 'src', 'http.ts')],
        'actorsync/react': [join(root, 'src', 'react.ts')],
        'actorsync/machines': [join(root, 'machines', 'index.ts')],
      },
    },
    dir,
  );
  expect(errors).toEqual([]);
  const program = ts.createProgram(files, options);
  return {
    samples: files.length,
    errors: ts
      .getPreEmitDiagnostics(program)
      .filter((diagnostic) => diagnostic.file && files.includes(diagnostic.file.fileName))
      .map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`),
  };
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
