import { ActorSyncError } from '../domain/errors.js';

/** An error the user can act on (a bad argument, a missing file): printed as one line, no stack. Code `CLI`. */
export class CliError extends ActorSyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('CLI', message, options);
  }
}

/**
 * The one line to print for an expected error, or `undefined` for a bug (which deserves its stack).
 * Expected: the CLI's own errors, actorsync's errors (a locked or corrupt store, bad options), file system errors.
 */
export function expectedErrorMessage(error: unknown): string | undefined {
  if (error instanceof CliError || error instanceof ActorSyncError) return oneLine(error.message);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (error instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code))
    return oneLine(error.message);
  return undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
