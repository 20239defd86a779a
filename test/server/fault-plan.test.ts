import { describe, expect, it } from 'vitest';
import { FaultPlan } from '../../src/server/faults.js';

describe('FaultPlan.stop', () => {
  it('injects nothing afterwards, scripted or drawn, and keeps what it counted', () => {
    const plan = new FaultPlan({ rate: 1, kinds: ['reset'], script: ['timeout', 'error500'] });
    expect(plan.next()).toBe('timeout');
    expect(plan.injected).toMatchObject({ timeout: 1 });
    plan.stop();
    // The rest of the script and a rate of 1 would both give a fault here.
    for (let n = 0; n < 5; n++) expect(plan.next()).toBeUndefined();
    expect(plan.injected).toMatchObject({ timeout: 1, error500: 0, reset: 0 });
  });
});
