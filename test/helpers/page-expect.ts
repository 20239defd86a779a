/**
 * vitest's `expect` for a browser page: the same Jest matchers (`@vitest/expect` on chai, which is browser-safe),
 * set up the way vitest sets up its own, so a case asserts the same in the page as in Node.
 */
import {
  chai,
  GLOBAL_EXPECT,
  getState,
  JestAsymmetricMatchers,
  JestChaiExpect,
  JestExtend,
  setState,
} from '@vitest/expect';
import type { ExpectStatic } from 'vitest';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

export const expect = ((value: unknown, message?: string) => chai.expect(value, message)) as ExpectStatic;
Object.assign(expect, chai.expect);
setState({ assertionCalls: 0, isExpectingAssertions: false, expectedAssertionsNumber: null }, expect);
expect.getState = () => getState(expect);
(globalThis as Record<symbol, unknown>)[GLOBAL_EXPECT] = expect;
