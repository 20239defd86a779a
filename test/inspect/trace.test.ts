import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncCoordinator } from '../../src/index.js';
import { ActorTree, type InspectorRecord } from '../../src/inspect/inspector-model.js';
import {
  createTraceInspector,
  readTrace,
  TraceFileError,
  TraceFormatError,
} from '../../src/inspect/trace.js';
import { makeRepo, seed } from '../helpers/fixtures.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** Records up to `coordinator.stop()`, which stops every actor (the entity's stop comes first). */
const untilStop = (records: InspectorRecord[]) =>
  records.findIndex(
    (r) => r.kind === 'snapshot' && r.status === 'stopped' && r.systemId?.startsWith('entity:'),
  );

let dir: string;
useTempDir('actorsync-trace-', (created) => (dir = created));

describe('trace inspector', () => {
  it('writes the inspection stream as JSON lines that replay to the actor tree at any moment', async () => {
    const file = join(dir, 'run.jsonl');
    const trace = createTraceInspector({ file, sanitize: { secretValues: ['super-secret-token'] } });
    const coordinator = new SyncCoordinator({ inspect: trace.inspect });
    const { repository, remote } = makeRepo();
    await seed(repository, 150);
    await repository.save({ id: 'leaky', text: 'Authorization: Bearer super-secret-token' });
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    const midRun = trace.count;
    hold.release();
    await run;
    await coordinator.stop();
    await trace.close();

    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('super-secret-token');
    const { header, records } = await readTrace(file);
    expect(header).toMatchObject({ format: 'actorsync-trace', version: 1 });
    expect(records.length).toBe(trace.count);

    // Replaying up to the moment the first batch was in flight shows the whole tree, batch actor included.
    const during = new ActorTree();
    for (const record of records.slice(0, midRun)) during.apply(record);
    const names = during.nodes().map((n) => [n.systemId ?? n.id, n.value]);
    expect(names).toEqual(
      expect.arrayContaining([
        ['coordinator', 'manual'],
        ['entity:note', { syncing: 'pushing' }],
        ['batch:note', 'pushing'],
      ]),
    );
    expect(during.nodes().find((n) => n.systemId === 'batch:note')?.context).toMatchObject({
      batch: { items: 100 },
      batchSeq: 1,
    });

    // After the run, before stop(): the batch actor has left the tree.
    const stoppedAt = untilStop(records);
    expect(stoppedAt).toBeGreaterThan(midRun);
    const after = new ActorTree();
    for (const record of records.slice(0, stoppedAt)) after.apply(record);
    expect(after.nodes().map((n) => n.systemId)).toEqual(['coordinator', 'entity:note']);
    expect(after.nodes()[1]).toMatchObject({
      value: { synced: 'still' },
      context: { progress: { syncedItems: 151, totalItems: 151, percent: 100 } },
    });
  });

  it('drops children that their parent stopped (a cancelled run) from the tree', async () => {
    const file = join(dir, 'cancel.jsonl');
    const trace = createTraceInspector({ file });
    const coordinator = new SyncCoordinator({ inspect: trace.inspect });
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    coordinator.cancel('note');
    await run;
    await coordinator.stop();
    await trace.close();
    const { records } = await readTrace(file);
    const tree = new ActorTree();
    for (const record of records.slice(0, untilStop(records))) tree.apply(record);
    expect(tree.nodes().map((n) => [n.systemId, n.value])).toEqual([
      ['coordinator', 'manual'],
      ['entity:note', 'idle'],
    ]);
  });

  it('refuses files that are not traces, naming the line', async () => {
    const file = join(dir, 'bad.jsonl');
    await writeFile(file, '{"format":"something-else"}\n');
    await expect(readTrace(file)).rejects.toThrow(TraceFormatError);
    await writeFile(
      file,
      '{"format":"actorsync-trace","version":1,"startedAt":1}\n{"kind":"actor","at":1}\nnot json\n',
    );
    await expect(readTrace(file)).rejects.toThrow(/line 3 is not JSON/);
  });

  it('issue 11: a trace file that cannot be opened throws a typed error when the inspector is created', () => {
    const file = join(dir, 'no-such-dir', 't.jsonl');
    let thrown: unknown;
    try {
      createTraceInspector({ file });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TraceFileError);
    expect(thrown).toMatchObject({
      code: 'TRACE_FILE',
      message: `Cannot write trace ${file}: its directory does not exist`,
    });
  });

  it('issue 11: a write that fails later goes to the logger and ends the trace; the sync goes on', async () => {
    const errors: { message: string; details: Record<string, unknown> | undefined }[] = [];
    let reported!: () => void;
    const reportedOnce = new Promise<void>((resolve) => (reported = resolve));
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error(message: string, details?: Record<string, unknown>) {
        errors.push({ message, details });
        reported();
      },
    };
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    const trace = createTraceInspector({ file: '/dev/full', logger });
    const coordinator = new SyncCoordinator({ inspect: trace.inspect });
    const { repository } = makeRepo();
    await seed(repository, 5);
    await reportedOnce;
    expect((await coordinator.sync(repository)).state).toBe('synced');
    await coordinator.stop();
    await trace.close();
    expect(errors).toEqual([
      {
        message: 'Trace /dev/full stopped: a write failed',
        details: { error: expect.stringMatching(/ENOSPC/) },
      },
    ]);
    expect(trace.error?.message).toMatch(/ENOSPC/);
  });
});
