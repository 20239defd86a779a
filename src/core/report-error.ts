/**
 * Reports an error that no caller awaits (a listener's, a background task's) as a browser reports an uncaught
 * one: `reportError` where there is one, else thrown on a later turn (Node's uncaught exception). Never throws here.
 */
export function reportError(error: unknown): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else
    setTimeout(() => {
      throw error;
    }, 0);
}
