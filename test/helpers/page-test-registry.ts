/**
 * A tiny `describe`/`it`/`afterEach` for test cases that run in a browser page. The same registration runs twice:
 * in Node, only to learn the cases' names (one vitest test each, known when the file is collected), and in the page,
 * where `run(name)` runs one case and reports how it went. Browser-safe: no Node module, no vitest.
 */
import type { PageErrorReport } from './browser-page.js';

type Body = () => Promise<void> | void;

interface RegisteredCase {
  body: Body;
  /** The `afterEach` hooks in scope, innermost first (the order vitest runs them). */
  afterEach: Body[];
}

export type CaseOutcome = { ok: true } | ({ ok: false } & PageErrorReport);

export class PageTestRegistry {
  readonly #cases = new Map<string, RegisteredCase>();
  readonly #path: string[] = [];
  /** The hooks of each open `describe` scope, the top level first. */
  readonly #hooks: Body[][] = [[]];

  readonly describe = (name: string, body: () => void): void => {
    this.#path.push(name);
    this.#hooks.push([]);
    try {
      body();
    } finally {
      this.#path.pop();
      this.#hooks.pop();
    }
  };

  readonly it = (name: string, body: Body): void => {
    const fullName = [...this.#path, name].join(' > ');
    if (this.#cases.has(fullName)) throw new Error(`Two cases are named ${JSON.stringify(fullName)}`);
    this.#cases.set(fullName, { body, afterEach: this.#hooks.flat().reverse() });
  };

  readonly afterEach = (body: Body): void => {
    this.#hooks.at(-1)?.push(body);
  };

  /** Every case's full name (describe names and its own, joined by " > "), in registration order. */
  names(): string[] {
    return [...this.#cases.keys()];
  }

  /** Runs one case and its `afterEach` hooks (also after a failure); the first error is the outcome. */
  async run(name: string): Promise<CaseOutcome> {
    const registered = this.#cases.get(name);
    if (!registered) return { ok: false, message: `No case is named ${JSON.stringify(name)} in the page` };
    let failure: unknown;
    let failed = false;
    for (const step of [registered.body, ...registered.afterEach]) {
      try {
        await step();
      } catch (error) {
        if (!failed) {
          failed = true;
          failure = error;
        }
      }
    }
    return failed ? { ok: false, ...report(failure) } : { ok: true };
  }
}

/** An error as plain data that crosses `page.evaluate`: an assertion's values as JSON, for vitest's diff. */
function report(error: unknown): PageErrorReport {
  if (!(error instanceof Error)) return { message: String(error) };
  const { actual, expected } = error as Error & { actual?: unknown; expected?: unknown };
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    actual: toJson(actual),
    expected: toJson(expected),
  };
}

function toJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
