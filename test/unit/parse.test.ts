import assert from "node:assert/strict";
import { test } from "node:test";
import { parseClientMessage } from "../../src/protocol/parse.ts";

test("invalid JSON is generalR 1282", () => {
  const r = parseClientMessage("{nope");
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.action, "general");
    assert.equal(r.error.code, 1282);
  }
});

test("unknown action keeps its name for the reply, 1296", () => {
  const r = parseClientMessage(JSON.stringify({ a: "dance", d: {} }));
  assert.ok(!r.ok && r.action === "dance" && r.error.code === 1296);
  const weird = parseClientMessage(JSON.stringify({ a: "<script>", d: {} }));
  assert.ok(!weird.ok && weird.action === "general");
});

test("wrong field types are <action>R 1282", () => {
  const r = parseClientMessage(JSON.stringify({ a: "join", d: { roomId: 5, bearer: "x" } }));
  assert.ok(!r.ok && r.action === "join" && r.error.code === 1282);
  const arr = parseClientMessage("[1,2]");
  assert.ok(!arr.ok && arr.error.code === 1282);
});

test("a join fills defaults and keeps the values it was given", () => {
  const r = parseClientMessage(
    JSON.stringify({ a: "join", d: { roomId: "r", bearer: "u", orientation: 180 } }),
  );
  assert.ok(r.ok);
  if (r.ok && r.message.a === "join") {
    assert.equal(r.message.d.orientation, 180);
    assert.equal(r.message.d.camera, "front");
    assert.equal(r.message.d.platform, "");
  }
});

test("eventFreeze needs no data", () => {
  assert.ok(parseClientMessage(JSON.stringify({ a: "eventFreeze" })).ok);
});
