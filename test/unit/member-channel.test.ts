import assert from "node:assert/strict";
import { test } from "node:test";
import { type ChannelLink, MemberChannel } from "../../src/signaling/member-channel.ts";

class Link implements ChannelLink {
  readonly texts: string[] = [];
  replaced = false;
  superseded = false;
  sendText(text: string): void {
    this.texts.push(text);
  }
  replace(): void {
    this.replaced = true;
  }
  supersede(): void {
    this.superseded = true;
  }
  seqs(): number[] {
    return this.texts.map((t) => (JSON.parse(t) as { n: number }).n);
  }
}

const limits = { queueMax: 100, bufferBytes: 1 << 20 };

test("events are numbered, serialised once and written to the current link", () => {
  const link = new Link();
  const ch = new MemberChannel(link, limits);
  ch.send("eventMessage", { from: { socketId: "A", userId: "a" }, message: "hi" });
  ch.send("eventUserMediaConfiguration", {
    audio: true,
    video: {
      width: { min: "1", max: "2" },
      height: { min: "1", max: "2" },
      frameRate: { min: "1", max: "2" },
    },
  });
  assert.deepEqual(link.seqs(), [1, 2]);
  assert.deepEqual(JSON.parse(link.texts[0] ?? ""), {
    n: 1,
    a: "eventMessage",
    d: { from: { socketId: "A", userId: "a" }, message: "hi" },
  });
  assert.equal(ch.lastSeq, 2);
});

test("after a drop, events are kept and a reconnect replays exactly what followed lastSeq", () => {
  const first = new Link();
  const ch = new MemberChannel(first, limits);
  for (let i = 0; i < 3; i++) ch.send("eventMessage", { from: { socketId: "A", userId: "a" }, message: i });
  ch.detach();
  assert.equal(ch.connected, false);
  ch.send("eventMessage", { from: { socketId: "A", userId: "a" }, message: 3 });
  const second = new Link();
  // The client read up to 2: 3 was written into the dead socket, 4 came during the drop.
  assert.equal(ch.attach(second, 2), 0);
  assert.deepEqual(second.seqs(), [3, 4]);
  assert.equal(ch.isLinkedTo(second), true);
});

test("a reconnect while the old link is still open replaces it (4000); supersede closes it (4001)", () => {
  const first = new Link();
  const ch = new MemberChannel(first, limits);
  const second = new Link();
  ch.attach(second);
  assert.equal(first.replaced, true);
  ch.supersede();
  assert.equal(second.superseded, true);
  assert.equal(ch.connected, false);
});

test("what fell out of the bounded buffer is reported as missed", () => {
  const link = new Link();
  const ch = new MemberChannel(link, { queueMax: 2, bufferBytes: 1 << 20 });
  for (let i = 0; i < 5; i++) ch.send("eventMessage", { from: { socketId: "A", userId: "a" }, message: i });
  ch.detach();
  const next = new Link();
  assert.equal(ch.attach(next, 0), 3);
  assert.deepEqual(next.seqs(), [4, 5]);
  ch.close();
  assert.equal(ch.closed, true);
});
