import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { assertEntity, storableCopy } from '../domain/entity.js';
import { errorMessage } from '../domain/errors.js';
import type { EntityFields, RepositoryEntity } from '../domain/types.js';
import { Repository } from '../repository.js';
import { MemoryLocalDataSource } from '../store/memory-store.js';
import { CliError } from './errors.js';
import { assertHoldsType, openExistingStore, openOrCreateStore, withStore } from './store-file.js';
import { formatCount, plural } from './table.js';

/** A line of an import file that cannot become a record. Line numbers start at 1. */
export interface InvalidLine {
  line: number;
  reason: string;
}

export interface ParsedImport {
  records: EntityFields<RepositoryEntity>[];
  invalid: InvalidLine[];
}

/**
 * Reads JSON lines into records to save: each non-blank line one JSON object, the user's fields plus an optional
 * non-empty string `id`. Bookkeeping fields in a line (`version`, `createdAt`, `updatedAt`, `syncPending`) are
 * replaced on save, as `Repository.save` does. An id twice in one file is refused: both lines would claim the
 * same new version. Each record, its bookkeeping filled in, must pass the check every store applies on save
 * (`assertEntity` and `storableCopy`: nesting depth and the rest), so a line the store would refuse is reported here with its
 * number instead of failing the whole write later.
 */
export function parseImportLines(text: string): ParsedImport {
  const records: EntityFields<RepositoryEntity>[] = [];
  const invalid: InvalidLine[] = [];
  const firstLineOfId = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((content, index) => {
    const line = index + 1;
    if (content.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch {
      invalid.push({ line, reason: 'not valid JSON' });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      invalid.push({ line, reason: `expected a JSON object (one record), got ${kind}` });
      return;
    }
    const record = value as Record<string, unknown>;
    if ('id' in record) {
      const id = record.id;
      if (typeof id !== 'string' || id.length === 0) {
        invalid.push({ line, reason: `"id" must be a non-empty string, got ${JSON.stringify(id)}` });
        return;
      }
      const first = firstLineOfId.get(id);
      if (first !== undefined) {
        invalid.push({ line, reason: `id ${JSON.stringify(id)} is already on line ${first}` });
        return;
      }
      firstLineOfId.set(id, line);
    }
    const refusal = storeRefusal(record);
    if (refusal !== undefined) {
      invalid.push({ line, reason: refusal });
      return;
    }
    records.push(record as EntityFields<RepositoryEntity>);
  });
  return { records, invalid };
}

/**
 * Why a store would refuse `fields` once saved, or `undefined`: the record as `Repository.save` builds it (any
 * bookkeeping replaced; the values themselves do not matter, they are always valid) goes through the checks a
 * store applies on save (`OutboxIndex.prepare`), in the same order.
 */
function storeRefusal(fields: Record<string, unknown>): string | undefined {
  const record = {
    ...fields,
    id: fields.id ?? 'new',
    createdAt: 0,
    updatedAt: 0,
    version: 1,
    syncPending: true,
  };
  try {
    assertEntity(record, 'the record');
    storableCopy(record, 'the record');
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** Invalid lines printed before the rest are summed up. */
const LISTED_INVALID = 20;

export interface ImportOptions {
  db: string;
  entity: string;
  file: string;
}

/**
 * `actorsync import`: saves every record of a JSON-lines file as pending, in one store write, creating the store
 * if needed. Any invalid line and nothing is written (the store is not even created).
 */
export async function runImport(options: ImportOptions): Promise<number> {
  // The same rules as the repository the records are saved through, checked before anything is opened.
  new Repository({ entityType: options.entity, local: new MemoryLocalDataSource() });
  const file = resolve(options.file);
  const { records, invalid } = parseImportLines(await readFile(file, 'utf8'));
  if (invalid.length > 0) {
    const lines = [
      `actorsync: ${file}: ${plural(invalid.length, 'invalid line')}; nothing was imported`,
      ...invalid.slice(0, LISTED_INVALID).map(({ line, reason }) => `  line ${line}: ${reason}`),
      ...(invalid.length > LISTED_INVALID
        ? [`  … and ${formatCount(invalid.length - LISTED_INVALID)} more`]
        : []),
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
    return 1;
  }
  return withStore(
    () => openOrCreateStore(options.db),
    async (store) => {
      const repository = new Repository<RepositoryEntity>({
        entityType: options.entity,
        local: store.collection(options.entity),
      });
      const saved = await repository.saveMany(records);
      const created = saved.filter((record) => record.version === 1).length;
      const pending = await repository.pendingCount();
      console.log(
        `Imported ${plural(saved.length, 'record')} into "${options.entity}" of ${store.file} ` +
          `(${formatCount(created)} new, ${formatCount(saved.length - created)} updated); ` +
          `${formatCount(pending)} pending`,
      );
      return 0;
    },
  );
}

/** `actorsync export`: every record of one entity type as JSON lines on stdout, bookkeeping fields included. */
export async function runExport(options: { db: string; entity: string }): Promise<number> {
  return withStore(
    () => openExistingStore(options.db, { readOnly: true }),
    async (store) => {
      assertHoldsType(store, options.entity);
      const records = await store.collection(options.entity).getAll();
      await writeLines(
        process.stdout,
        records.map((record) => JSON.stringify(record)),
      );
      return 0;
    },
  );
}

/** Writes lines, waiting for the stream to drain; a reader that went away (`| head`) ends the output quietly. */
async function writeLines(stream: NodeJS.WritableStream, lines: readonly string[]): Promise<void> {
  let failed: Error | undefined;
  const onError = (error: Error) => {
    failed = error;
  };
  stream.on('error', onError);
  try {
    for (let i = 0; i < lines.length && !failed; i += 500) {
      const chunk = `${lines.slice(i, i + 500).join('\n')}\n`;
      if (!stream.write(chunk)) {
        await new Promise<void>((done) => {
          const finish = () => {
            stream.off('drain', finish);
            stream.off('error', finish);
            done();
          };
          stream.once('drain', finish);
          stream.once('error', finish);
        });
      }
    }
  } finally {
    stream.off('error', onError);
  }
  if (failed && (failed as NodeJS.ErrnoException).code !== 'EPIPE') {
    throw new CliError(`Cannot write the records: ${failed.message}`);
  }
}
