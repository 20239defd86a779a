/**
 * The pending ids of one collection in change order, for paging by sequence number.
 *
 * A Map alone keeps insertion order, but V8 leaves a hole for every deleted entry until the table shrinks, so
 * iterating from the start walks past every item synced so far: paging slowed down as a run went on, and more so
 * the larger the backlog. Here the order lives in append-only arrays searched by sequence number, with removals
 * marked lazily (an entry is live while the map still gives its id that sequence number) and compacted once dead
 * entries outnumber live ones, so a page costs O(log n + page size) and upkeep is amortised O(1) per change.
 */
export class PendingQueue {
  /** id → the sequence number it is pending under. The truth about membership. */
  readonly #seqOf = new Map<string, number>();
  /** Append-only, ascending by sequence number; entry i is live iff `#seqOf.get(#ids[i]) === #seqs[i]`. */
  #ids: string[] = [];
  #seqs: number[] = [];

  get size(): number {
    return this.#seqOf.size;
  }

  has(id: string): boolean {
    return this.#seqOf.has(id);
  }

  /** Adds `id` under `seq`, which must be higher than every sequence number added before. */
  add(id: string, seq: number): void {
    const last = this.#seqs.at(-1);
    if (last !== undefined && seq <= last) {
      throw new RangeError(`PendingQueue: sequence ${seq} is not above ${last}`);
    }
    const readded = this.#seqOf.has(id);
    this.#seqOf.set(id, seq);
    this.#ids.push(id);
    this.#seqs.push(seq);
    // Re-adding a live id leaves its old entry dead, like a delete does.
    if (readded) this.#compactIfSparse();
  }

  delete(id: string): boolean {
    if (!this.#seqOf.delete(id)) return false;
    this.#compactIfSparse();
    return true;
  }

  /**
   * Calls `visit` for each pending id with a sequence number above `after`, in order, until it returns false.
   */
  forEachAfter(after: number, visit: (id: string, seq: number) => boolean): void {
    const ids = this.#ids;
    const seqs = this.#seqs;
    for (let i = this.#firstAbove(after); i < ids.length; i += 1) {
      const id = ids[i] as string;
      const seq = seqs[i] as number;
      if (this.#seqOf.get(id) !== seq) continue;
      if (!visit(id, seq)) return;
    }
  }

  /** The index of the first entry whose sequence number is above `after`. */
  #firstAbove(after: number): number {
    let low = 0;
    let high = this.#seqs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#seqs[middle] as number) <= after) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Dead entries outnumber live ones: rewrite the arrays (amortised O(1) per change). */
  #compactIfSparse(): void {
    if (this.#ids.length > 1024 && this.#ids.length > 2 * this.#seqOf.size) this.#compact();
  }

  #compact(): void {
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.#ids.length; i += 1) {
      const id = this.#ids[i] as string;
      const seq = this.#seqs[i] as number;
      if (this.#seqOf.get(id) === seq) {
        ids.push(id);
        seqs.push(seq);
      }
    }
    this.#ids = ids;
    this.#seqs = seqs;
  }
}
