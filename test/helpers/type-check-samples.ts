import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** One code sample as a module of an app: `name` ends in `.ts`, or `.tsx` for JSX. */
export interface SampleFile {
  name: string;
  text: string;
}

export interface SampleTypeError {
  /** The sample's `name`. */
  file: string;
  /** 1-based, in the sample's text. */
  line: number;
  message: string;
}

export interface SampleCheckOptions {
  /** Samples that run in a browser: the DOM's types too. */
  dom?: boolean;
  /**
   * The app installed the packages its samples import beside actorsync (react, @xstate/react): the repository's
   * node_modules. Without it a sample resolves actorsync's sub-paths and Node's types only.
   */
  installedPackages?: boolean;
}

/** `actorsync/<sub-path>` to its source, for every sub-path package.json exports, so the check needs no build. */
async function actorsyncPaths(): Promise<Record<string, string[]>> {
  const { exports } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { types?: string }>;
  };
  const paths: Record<string, string[]> = {};
  for (const [subPath, target] of Object.entries(exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    if (!types) continue;
    // ./dist/src/http.d.ts is built from src/http.ts.
    const source = join(root, types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts'));
    paths[subPath === '.' ? 'actorsync' : `actorsync/${subPath.slice(2)}`] = [source];
  }
  return paths;
}

/**
 * Type-checks each sample as a module of an app that installed actorsync (an ES module package), under the strictest
 * settings an app is likely to use, and returns the errors found in the samples themselves.
 */
export async function typeCheckSamples(
  samples: readonly SampleFile[],
  options: SampleCheckOptions = {},
): Promise<SampleTypeError[]> {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-samples-'));
  try {
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    if (options.installedPackages)
      await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const names = new Map<string, string>();
    for (const sample of samples) {
      const file = join(dir, sample.name);
      await writeFile(file, sample.text);
      names.set(file, sample.name);
    }
    const { options: compilerOptions, errors } = ts.convertCompilerOptionsFromJson(
      {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: options.dom ? ['ES2023', 'DOM', 'DOM.Iterable'] : ['ES2023'],
        jsx: 'react-jsx',
        strict: true,
        noUncheckedIndexedAccess: true,
        noImplicitOverride: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        paths: await actorsyncPaths(),
      },
      dir,
    );
    if (errors.length > 0) {
      throw new Error(
        errors.map((error) => ts.flattenDiagnosticMessageText(error.messageText, '\n')).join('\n'),
      );
    }
    const program = ts.createProgram([...names.keys()], compilerOptions);
    return ts.getPreEmitDiagnostics(program).flatMap((diagnostic) => {
      const name = diagnostic.file && names.get(diagnostic.file.fileName);
      if (!diagnostic.file || name === undefined) return [];
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      return [
        {
          file: name,
          line: line + 1,
          message: ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
        },
      ];
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
