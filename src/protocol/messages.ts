import { z } from "zod";

/** Schemas of every client message; the edge parses each frame into `ClientMessage` once. */
const str = (max: number) => z.string().max(max);
const socketIdOrTarget = z.string().min(1).max(64);

const iceCandidate = z.object({
  candidate: z.string().min(1).max(2048),
  sdpMid: z.string().max(64).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
  usernameFragment: z.string().max(256).nullish(),
});

/**
 * End of candidates: the Tribe Android SDK sends `{completed: true}` (no `candidate`), browsers an
 * empty `candidate` string. Both are accepted and ignored, as the original server did.
 */
const endOfCandidates = z.union([
  z.object({ completed: z.literal(true) }).passthrough(),
  z.object({ candidate: z.literal("") }).passthrough(),
]);

const candidate = z.union([
  iceCandidate,
  z.union([endOfCandidates, z.null()]).transform(() => END_OF_CANDIDATES),
]);

/** What `exchangeCandidate.candidate` becomes when the client says gathering is complete. */
const END_OF_CANDIDATES = { endOfCandidates: true } as const;

const sdp = z.object({
  type: z.enum(["offer", "answer", "pranswer", "rollback"]),
  sdp: z.string().max(60 * 1024),
});

/** Nesting allowed in a relayed `sendMessage.message`; far deeper values overflow JSON.stringify. */
const MAX_RELAYED_DEPTH = 64;

function depthAtMost(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= max) return false;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

/** An opaque value relayed as is: any JSON, nested at most MAX_RELAYED_DEPTH levels. */
const relayed = z
  .unknown()
  .refine((v) => depthAtMost(v, MAX_RELAYED_DEPTH), `nested deeper than ${MAX_RELAYED_DEPTH} levels`);

const orientation = z.number().int().min(0).max(359);
const camera = str(32);

export const joinData = z.object({
  roomId: z.string().min(1).max(128),
  bearer: z.string().min(1).max(8192),
  platform: str(64).default(""),
  deviceName: str(128).default(""),
  networkType: str(32).default(""),
  version: str(128).default(""),
  appVersion: str(64).default(""),
  orientation: orientation.default(90),
  camera: camera.default("front"),
  maxVideoBitrate: z.number().int().min(0).max(100_000_000).optional(),
  maxAudioBitrate: z.number().int().min(0).max(10_000_000).optional(),
  /**
   * What the client can do beyond the 2018 protocol. `reoffer`: it accepts a new offer for a
   * listener connection it already has. Clients that do not say so are never re-offered.
   */
  capabilities: z.array(str(32)).max(16).default([]),
});

const schemas = {
  join: joinData,
  reconnect: z.object({
    socketId: z.string().min(1).max(64),
    bearer: z.string().min(1).max(8192),
    /** The `n` of the last event the client read; the server replays what followed. */
    lastSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  exchangeCandidate: z.object({ to: socketIdOrTarget, candidate }),
  exchangeSdp: z.object({ to: socketIdOrTarget, sdp }),
  orientationChange: z.object({ orientation, camera }),
  sendMessage: z.object({ to: socketIdOrTarget, message: relayed }),
  /**
   * MCU rooms: what the sender wants of `to`'s video (a simulcast publisher's layer); every field
   * optional, absent = no limit. Old clients never send it.
   */
  setVideoQuality: z.object({
    to: socketIdOrTarget,
    maxHeight: z.number().int().min(1).max(8192).optional(),
    maxLayer: z.number().int().min(0).max(15).optional(),
    paused: z.boolean().optional(),
  }),
  eventFreeze: z.object({}).passthrough().optional(),
  eventCpu: z.object({ cpuUsed: z.number().min(0).max(100_000) }),
  eventNetworkChange: z.object({ networkType: str(32) }),
} as const;

export type Action = keyof typeof schemas;
export const ACTIONS = Object.keys(schemas) as Action[];

export type ClientMessage = {
  [A in Action]: { a: A; d: z.output<(typeof schemas)[A]> };
}[Action];

export type JoinData = z.output<typeof joinData>;
export type MessageOf<A extends Action> = Extract<ClientMessage, { a: A }>;

export function isAction(a: string): a is Action {
  return Object.hasOwn(schemas, a);
}

export function schemaFor(a: Action): z.ZodType {
  return schemas[a];
}
