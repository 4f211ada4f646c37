import { describe, expect, it } from "vitest";
import { History } from "./undo";

const numbers = (limit?: number) => new History<number>((a, b) => a === b, limit);

describe("History", () => {
  it("starts with nothing to undo or redo", () => {
    const h = numbers();
    expect(h.canUndo).toBe(false);
    expect(h.canRedo).toBe(false);
    expect(h.undo()).toBeUndefined();
    expect(h.redo()).toBeUndefined();
  });

  it("undoes and redoes commits in order", () => {
    const h = numbers();
    h.reset(0);
    expect(h.commit(1)).toBe(true);
    expect(h.commit(2)).toBe(true);
    expect(h.undo()).toBe(1);
    expect(h.undo()).toBe(0);
    expect(h.undo()).toBeUndefined();
    expect(h.canUndo).toBe(false);
    expect(h.redo()).toBe(1);
    expect(h.redo()).toBe(2);
    expect(h.redo()).toBeUndefined();
    expect(h.canRedo).toBe(false);
  });

  it("treats the first commit as the starting point, not an undo step", () => {
    const h = numbers();
    expect(h.commit(5)).toBe(true);
    expect(h.canUndo).toBe(false);
    h.commit(6);
    expect(h.undo()).toBe(5);
  });

  it("ignores a commit equal to the current state", () => {
    const h = new History<{ v: number }>((a, b) => a.v === b.v);
    h.reset({ v: 0 });
    h.commit({ v: 1 });
    expect(h.commit({ v: 1 })).toBe(false);
    expect(h.undo()).toEqual({ v: 0 });
    expect(h.canUndo).toBe(false);
  });

  it("keeps redo after a no-op commit but clears it after a real one", () => {
    const h = numbers();
    h.reset(0);
    h.commit(1);
    h.commit(2);
    h.undo();
    expect(h.commit(1)).toBe(false);
    expect(h.canRedo).toBe(true);
    expect(h.commit(7)).toBe(true);
    expect(h.canRedo).toBe(false);
    expect(h.redo()).toBeUndefined();
    expect(h.undo()).toBe(1);
  });

  it("reset forgets past and future", () => {
    const h = numbers();
    h.reset(0);
    h.commit(1);
    h.commit(2);
    h.undo();
    h.reset(10);
    expect(h.canUndo).toBe(false);
    expect(h.canRedo).toBe(false);
    expect(h.commit(10)).toBe(false);
    h.commit(11);
    expect(h.undo()).toBe(10);
  });

  it("keeps at most `limit` undo steps, dropping the oldest", () => {
    const h = numbers(3);
    h.reset(0);
    for (let i = 1; i <= 10; i++) h.commit(i);
    const undone: number[] = [];
    for (let s = h.undo(); s !== undefined; s = h.undo()) undone.push(s);
    expect(undone).toEqual([9, 8, 7]);
  });

  it("defaults to a limit of 100 steps", () => {
    const h = numbers();
    h.reset(0);
    for (let i = 1; i <= 150; i++) h.commit(i);
    let steps = 0;
    while (h.undo() !== undefined) steps++;
    expect(steps).toBe(100);
  });
});
