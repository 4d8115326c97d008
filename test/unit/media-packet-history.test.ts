import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { PacketHistory } from "../../src/media/packet-history.ts";

describe("PacketHistory", () => {
  it("returns packets by sequence number within the age limit", () => {
    const h = new PacketHistory<string>(1000, 16);
    h.add(65535, "a", 0);
    h.add(0, "b", 10);
    assert.equal(h.get(65535, 500), "a");
    assert.equal(h.get(0, 500), "b");
    assert.equal(h.get(1, 500), undefined);
    assert.equal(h.get(65535, 1001), undefined, "too old");
  });

  it("forgets an entry overwritten by a packet with another seq in the same slot", () => {
    const h = new PacketHistory<string>(1000, 16);
    h.add(3, "old", 0);
    h.add(19, "new", 1);
    assert.equal(h.get(3, 2), undefined);
    assert.equal(h.get(19, 2), "new");
  });

  it("keeps far more than werift's 128 packets", () => {
    const h = new PacketHistory<number>(1000);
    for (let i = 0; i < 3000; i++) h.add(i, i, i * 0.3);
    assert.equal(h.get(100, 900), 100);
  });
});

test("a NACKed packet is resent once per interval, however often it is asked for", () => {
  const h = new PacketHistory<string>(1000, 16);
  h.add(7, "p7", 0);
  assert.equal(h.takeForResend(7, 10, 100), "p7");
  for (const t of [15, 20, 50, 109]) assert.equal(h.takeForResend(7, t, 100), "suppressed");
  assert.equal(h.takeForResend(7, 111, 100), "p7");
  assert.equal(h.takeForResend(8, 111, 100), "miss");
  assert.equal(h.takeForResend(7, 2000, 100), "miss");
});
