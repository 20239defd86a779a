/** Prints the Chromium the browser tests will use; exits 1, naming the three ways, when there is none. */
import { findChromium } from '../test/helpers/chromium.js';

try {
  const { executablePath, source } = await findChromium();
  console.log(`Chromium for the browser tests: ${executablePath} (from ${source})`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
