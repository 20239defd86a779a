import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/** `node --import tsx` by absolute URL, so the CLI runs from any working directory. */
export const tsxLoader = new URL('node_modules/tsx/dist/loader.mjs', new URL('../../', import.meta.url)).href;
export const cliMain = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with the whole output once the process has exited. */
  exited: Promise<CliRun>;
  /**
   * Resolves once stdout matches `pattern`; rejects if the process exits first, or after `timeoutMs` (default
   * 15 s, inside vitest's 20 s), with the output so far: the test's `finally` then stops the process and the failure
   * says what never came, where a vitest timeout would leave the process running and say nothing.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stdout(): string;
  /** Stdout and stderr together, in the order they arrived. */
  output(): string;
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kills the process (SIGKILL) after this long; `null`: never. Default 30 s. */
  killAfterMs?: number | null;
}

/** Starts the real CLI in a child process (pipes, so not a TTY), with ACTORSYNC_TOKEN unset unless given. */
export function startCli(args: readonly string[], options: ProcessOptions = {}): CliProcess {
  return startProcess(process.execPath, ['--import', tsxLoader, cliMain, ...args], options);
}

/** Starts any command as `startCli` starts the CLI: in the repository root unless `cwd`, ACTORSYNC_TOKEN unset. */
export function startProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): CliProcess {
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    env: { ...process.env, ACTORSYNC_TOKEN: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    output += chunk.toString('utf8');
    for (const watch of [...watchers]) watch();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    output += chunk.toString('utf8');
  });
  const killAfterMs = options.killAfterMs === undefined ? 30_000 : options.killAfterMs;
  const timer = killAfterMs === null ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const watch of [...watchers]) watch();
      resolve({ code, stdout, stderr });
    });
  });
  let closed = false;
  void exited.then(() => (closed = true));
  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (done: () => void) => {
        watchers.delete(check);
        clearTimeout(timer);
        done();
      };
      const check = () => {
        const match = pattern.exec(stdout);
        if (match) settle(() => resolve(match));
        else if (closed || child.exitCode !== null) {
          settle(() => reject(new Error(`CLI exited before printing ${pattern}:\n${stdout}\n${stderr}`)));
        }
      };
      timer = setTimeout(
        () =>
          settle(() =>
            reject(new Error(`CLI did not print ${pattern} within ${timeoutMs} ms:\n${stdout}\n${stderr}`)),
          ),
        timeoutMs,
      );
      watchers.add(check);
      check();
    });
  return { child, exited, waitFor, stdout: () => stdout, output: () => output };
}

/** Runs the CLI to the end. */
export function runCli(args: readonly string[], options: ProcessOptions = {}): Promise<CliRun> {
  return startCli(args, options).exited;
}
