/**
 * fast-check generators of hostile signaling frames: valid envelopes with wrong field types,
 * mutated valid messages, huge strings, deep nesting, unicode (lone surrogates included),
 * out-of-range numbers, raw JSON fragments, random bytes sent as text, and binary frames.
 */
import fc from "fast-check";
import type { Frame } from "./fuzz-client.ts";

export const ACTIONS = [
  "join",
  "reconnect",
  "exchangeCandidate",
  "exchangeSdp",
  "orientationChange",
  "sendMessage",
  "eventFreeze",
  "eventCpu",
  "eventNetworkChange",
] as const;

const unicode = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({ unit: "grapheme", maxLength: 64 }),
  fc.constantFrom(
    "\u0000",
    "\ud800",
    "\udfff",
    "\u202e",
    "\ufeff",
    "𝕏",
    "🧨".repeat(40),
    "__proto__",
    "constructor",
  ),
);

/** Strings up to 100 KB: below, at and above the 64 KiB frame limit. */
const hugeString = fc
  .tuple(fc.integer({ min: 1_000, max: 100_000 }), fc.constantFrom("x", "é", "🧨", "\\", '"'))
  .map(([n, c]) => c.repeat(Math.ceil(n / c.length)));

const weirdNumber = fc.oneof(
  fc.constantFrom(-1, -0, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, 360, 1025, 100_001),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** A JSON value nested `depth` levels deep. */
export function nested(depth: number, leaf: unknown = 0): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? { k: v } : [v];
  return v;
}

const deep = fc.integer({ min: 10, max: 3_000 }).map((d) => nested(d));

export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  unicode,
  weirdNumber,
  deep,
  fc.constantFrom(null, true, false, [], {}, "", " "),
  hugeString,
);

/** Valid values per field, so mutated messages reach the handlers, not only the schema. */
function validFields(targets: readonly string[]): Record<string, fc.Arbitrary<unknown>> {
  const to = fc.oneof(
    fc.constantFrom("publisher", ...targets),
    fc.string({ unit: fc.constantFrom(..."0123456789ABCDEF"), minLength: 32, maxLength: 32 }),
  );
  return {
    roomId: fc.constantFrom("calm", "fuzz-room", "other"),
    bearer: fc.constantFrom("fuzzer", "witness-a"),
    socketId: fc.constantFrom(...targets, "00000000000000000000000000000000"),
    to,
    candidate: fc.record({
      candidate: fc.constantFrom("candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host", ""),
      sdpMid: fc.constantFrom("0", "1", null),
      sdpMLineIndex: fc.constantFrom(0, 1, null),
    }),
    sdp: fc.record({ type: fc.constantFrom("offer", "answer"), sdp: fc.constantFrom("v=0\r\n", "") }),
    orientation: fc.integer({ min: 0, max: 359 }),
    camera: fc.constantFrom("front", "back"),
    message: fc.jsonValue({ maxDepth: 3 }),
    cpuUsed: fc.integer({ min: 0, max: 100 }),
    networkType: fc.constantFrom("wifi", "4g"),
    platform: fc.constantFrom("Web", "iOS"),
    maxVideoBitrate: fc.integer({ min: 0, max: 2_000_000 }),
  };
}

const FIELDS: Record<(typeof ACTIONS)[number], readonly string[]> = {
  join: ["roomId", "bearer", "platform", "orientation", "camera", "maxVideoBitrate"],
  reconnect: ["socketId", "bearer"],
  exchangeCandidate: ["to", "candidate"],
  exchangeSdp: ["to", "sdp"],
  orientationChange: ["orientation", "camera"],
  sendMessage: ["to", "message"],
  eventFreeze: [],
  eventCpu: ["cpuUsed"],
  eventNetworkChange: ["networkType"],
};

/** A known action whose data has each field valid (mostly) or replaced by a weird value. */
function mutatedMessage(targets: readonly string[]): fc.Arbitrary<string> {
  const valid = validFields(targets);
  return fc.constantFrom(...ACTIONS).chain((a) => {
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of FIELDS[a]) {
      const v = valid[f] ?? fc.constant("");
      shape[f] = fc.oneof({ weight: 3, arbitrary: v }, { weight: 1, arbitrary: weirdValue });
    }
    const extra = fc.dictionary(unicode, weirdValue, { maxKeys: 2 });
    return fc
      .tuple(fc.record(shape), extra, fc.boolean())
      .map(([d, more, withExtra]) => JSON.stringify({ a, d: withExtra ? { ...more, ...d } : d }));
  });
}

/** Envelopes whose `a` or `d` has the wrong type or an unknown value. */
const wrongEnvelope = fc
  .record({
    a: fc.oneof(fc.constantFrom(...ACTIONS), unicode, weirdValue),
    d: weirdValue,
  })
  .map((m) => JSON.stringify(m));

/** Text that is not a protocol message at all. */
const junkText = fc.oneof(
  fc.constantFrom(
    "",
    "null",
    "[]",
    '"join"',
    "1e999",
    '{"a":"join","d":1e999}',
    '{"a":"eventCpu","d":{"cpuUsed":1e999}}',
    '{"a":"orientationChange","d":{"orientation":-0,"camera":"x"}}',
    '{"a":"join","a":"reconnect"}',
    '{"__proto__":{"a":"join"}}',
    '{"a":"sendMessage","d":{"to":"x","message":1}',
  ),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.json(),
);

/** A frame of nested brackets around a message field, parsed by JSON.parse and then by the schema. */
function deepText(targets: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom("sendMessage", "join", "eventFreeze", "bogus"),
      fc.constantFrom("x", ...targets),
      fc.integer({ min: 100, max: 30_000 }),
    )
    .map(([a, to, n]) => `{"a":"${a}","d":{"to":"${to}","message":${"[".repeat(n)}${"]".repeat(n)}}}`);
}

export function frameArb(targets: readonly string[]): fc.Arbitrary<Frame> {
  return fc.oneof(
    { weight: 6, arbitrary: mutatedMessage(targets).map((text): Frame => ({ kind: "text", text })) },
    { weight: 3, arbitrary: wrongEnvelope.map((text): Frame => ({ kind: "text", text })) },
    { weight: 2, arbitrary: junkText.map((text): Frame => ({ kind: "text", text })) },
    { weight: 1, arbitrary: deepText(targets).map((text): Frame => ({ kind: "text", text })) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes): Frame => ({ kind: "bytes-as-text", bytes })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Frame => ({ kind: "binary", bytes })),
    },
  );
}

/** Describes a frame briefly for failure messages. */
export function describeFrame(f: Frame): string {
  if (f.kind === "text") return `text(${f.text.length}) ${f.text.slice(0, 160)}`;
  return `${f.kind}(${f.bytes.length})`;
}
