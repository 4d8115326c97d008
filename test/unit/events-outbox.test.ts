import assert from "node:assert/strict";
import { test } from "node:test";
import { Outbox } from "../../src/events/outbox.ts";

function takeAll(outbox: Outbox<string>): string[] {
  const out: string[] = [];
  for (let next = outbox.takeUnsent(); next; next = outbox.takeUnsent()) out.push(next.item);
  return out;
}

test("entries are handed out once, in order, and rewound after a lost channel", () => {
  const outbox = new Outbox<string>(10);
  const a = outbox.push("a");
  outbox.push("b");
  outbox.push("c");
  assert.deepEqual(takeAll(outbox), ["a", "b", "c"]);
  assert.deepEqual(takeAll(outbox), []);
  assert.equal(outbox.confirm(a.seq), true);
  outbox.rewind();
  assert.deepEqual(takeAll(outbox), ["b", "c"], "only unconfirmed entries come back, in order");
  assert.equal(outbox.size, 2);
});

test("when full the oldest entry is evicted, sent or not", () => {
  const outbox = new Outbox<string>(3);
  for (const item of ["a", "b", "c"]) outbox.push(item);
  assert.equal(outbox.takeUnsent()?.item, "a");
  assert.equal(outbox.push("d").evicted, "a");
  assert.equal(outbox.push("e").evicted, "b");
  assert.deepEqual(takeAll(outbox), ["c", "d", "e"]);
  assert.equal(outbox.size, 3);
});

test("a long outage keeps memory bounded and the newest entries", () => {
  const outbox = new Outbox<number>(100);
  let evicted = 0;
  for (let i = 0; i < 100_000; i++) if (outbox.push(i).evicted !== undefined) evicted++;
  assert.equal(evicted, 99_900);
  assert.equal(outbox.size, 100);
  const items: number[] = [];
  for (let next = outbox.takeUnsent(); next; next = outbox.takeUnsent()) items.push(next.item);
  assert.deepEqual(
    items,
    Array.from({ length: 100 }, (_, i) => 99_900 + i),
  );
});

test("confirming an evicted entry is harmless; drain empties", () => {
  const outbox = new Outbox<string>(1);
  const a = outbox.push("a");
  outbox.push("b");
  assert.equal(outbox.confirm(a.seq), false);
  assert.deepEqual(outbox.drain(), ["b"]);
  assert.equal(outbox.size, 0);
  assert.equal(outbox.takeUnsent(), undefined);
});

test("max must be a positive integer", () => {
  assert.throws(() => new Outbox(0), RangeError);
});
