import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One JSON line a child fixture printed. */
export interface ChildLine {
  type: string;
  [field: string]: unknown;
}

/**
 * A fixture script (`node --import tsx script ...args`) running in its own process, for kill tests: its JSON lines
 * as they arrive, a way to wait for one, and SIGKILL. `onStart` is told of it, so a harness can kill it at the end.
 */
export class JsonLinesChild<Line extends ChildLine = ChildLine> {
  readonly process: ChildProcess;
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #waiters: { matches: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];

  constructor(script: string, args: readonly string[], env: Record<string, string>) {
    this.process = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let buffered = '';
    this.process.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const complete = buffered.split('\n');
      buffered = complete.pop() ?? '';
      for (const text of complete) this.#take(JSON.parse(text) as Line);
    });
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) =>
      this.process.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The first line (already seen or still to come) that matches; rejects if the child exits first. */
  waitFor(matches: (line: Line) => boolean, what: string): Promise<Line> {
    const seen = this.lines.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ matches, resolve });
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`child exited (${code ?? signal}) before ${what}; stderr: ${this.#stderr}`)),
      );
    });
  }

  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.exited;
  }

  #take(line: Line): void {
    this.lines.push(line);
    for (const waiter of this.#waiters.filter((w) => w.matches(line))) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  }
}
