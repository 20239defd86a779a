/**
 * Issue 11: one HTTP remote serves every entity type. The README's sample (one `HttpRemoteDataSource`, repositories
 * of several types) must compile under `tsc --strict`, which `npm test` runs over this file, and sync over HTTP.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  type ItemResult,
  MemoryLocalDataSource,
  type RemoteDataSource,
  Repository,
  type RepositoryEntity,
} from '../../src/index.js';
import { Harness } from '../e2e/harness.js';

interface TelemetryEvent extends RepositoryEntity {
  name: string;
  value: number;
}

interface Profile extends RepositoryEntity {
  displayName: string;
}

const h = new Harness();
afterEach(() => h.dispose());

describe('one HttpRemoteDataSource for every entity type', () => {
  it('type-checks as the remote of any entity type', () => {
    const remote = new HttpRemoteDataSource({ baseUrl: 'http://127.0.0.1:1', getToken: () => 'token-1234' });
    expectTypeOf(remote).toExtend<RemoteDataSource<TelemetryEvent>>();
    expectTypeOf(remote).toExtend<RemoteDataSource<Profile>>();
    expectTypeOf(remote).toExtend<RemoteDataSource>();
    // A conflict copy comes back typed as the entity that was sent.
    expectTypeOf(remote.syncBatch<Profile>).returns.resolves.toEqualTypeOf<ItemResult<Profile>[]>();
    // A remote narrowed to one type still fits that type only where it should.
    const narrowed = new HttpRemoteDataSource<Profile>({ baseUrl: 'http://127.0.0.1:1' });
    expectTypeOf(narrowed).toExtend<RemoteDataSource<Profile>>();
  });

  it('syncs repositories of two types through one instance', async () => {
    const server = await h.memoryServer();
    const remote = new HttpRemoteDataSource({ baseUrl: server.url, getToken: () => server.token });
    const events = new Repository<TelemetryEvent>({
      entityType: 'telemetry',
      local: new MemoryLocalDataSource<TelemetryEvent>(),
      remote,
    });
    const profiles = new Repository<Profile>({
      entityType: 'profile',
      local: new MemoryLocalDataSource<Profile>(),
      remote,
    });
    await events.save({ id: 'e1', name: 'cpu', value: 0.5 });
    await profiles.save({ id: 'p1', displayName: 'Ada' });
    const coordinator = h.coordinator();
    coordinator.register(events);
    coordinator.register(profiles);

    const results = await coordinator.syncAll();
    expect(results.map((r) => [r.entityType, r.state, r.syncedItems])).toEqual([
      ['telemetry', 'synced', 1],
      ['profile', 'synced', 1],
    ]);
    expect(server.state.get('telemetry', 'e1')?.item).toMatchObject({ name: 'cpu', value: 0.5 });
    expect(server.state.get('profile', 'p1')?.item).toMatchObject({ displayName: 'Ada' });
  });
});
