import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KeyframeRequester } from "../../src/media/keyframe-requester.ts";

describe("KeyframeRequester", () => {
  it("sends the first request at once and merges the burst into one trailing request", async () => {
    let sent = 0;
    const k = new KeyframeRequester(50, () => sent++);
    k.request();
    assert.equal(sent, 1);
    k.request();
    k.request();
    k.request();
    assert.equal(sent, 1);
    await sleep(80);
    assert.equal(sent, 2);
    k.close();
  });

  it("sends nothing after close", async () => {
    let sent = 0;
    const k = new KeyframeRequester(20, () => sent++);
    k.request();
    k.request();
    k.close();
    await sleep(40);
    k.request();
    assert.equal(sent, 1);
  });
});
