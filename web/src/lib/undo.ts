// Undo/redo over snapshots of the graph. A snapshot equal to the current one is not pushed,
// so committing after a no-op (a click, a drag that went nowhere) leaves history alone.

export class History<T> {
  private past: T[] = [];
  private future: T[] = [];
  private current: T | undefined;
  private readonly same: (a: T, b: T) => boolean;
  private readonly limit: number;

  constructor(same: (a: T, b: T) => boolean, limit = 100) {
    this.same = same;
    this.limit = limit;
  }

  /** Start over from `state` (a workflow was opened). */
  reset(state: T): void {
    this.past = [];
    this.future = [];
    this.current = state;
  }

  /** Record `state` as the newest; returns whether it was new. */
  commit(state: T): boolean {
    if (this.current !== undefined && this.same(this.current, state)) return false;
    if (this.current !== undefined) this.past.push(this.current);
    if (this.past.length > this.limit) this.past.shift();
    this.current = state;
    this.future = [];
    return true;
  }

  undo(): T | undefined {
    const previous = this.past.pop();
    if (previous === undefined || this.current === undefined) return undefined;
    this.future.push(this.current);
    this.current = previous;
    return previous;
  }

  redo(): T | undefined {
    const next = this.future.pop();
    if (next === undefined || this.current === undefined) return undefined;
    this.past.push(this.current);
    this.current = next;
    return next;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }
}
