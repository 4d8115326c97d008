/**
 * Worker thread that plays 1 publisher + N listeners for the cost measurement, so that their werift
 * work is not billed to the media plane's thread. It talks to the plane only through plain
 * MediaPort data over postMessage (the boundary a per-core media worker would use).
 */
import { parentPort, workerData } from "node:worker_threads";
import type {
  IceCandidate,
  MediaEvent,
  MediaPort,
  MediaTarget,
  SessionDescription,
} from "../../src/media/media-port.ts";
import { SimulcastTestPublisher } from "./simulcast-publisher.ts";
import { shuttle, TestMember, TestPublisher } from "./werift-peers.ts";

export type ToWorker =
  | { kind: "event"; event: MediaEvent }
  | { kind: "publish" }
  | { kind: "start"; packetsPerFrame: number }
  | { kind: "stop" };
export type FromWorker =
  | { kind: "signal"; socketId: string; target: MediaTarget; sdp: SessionDescription }
  | { kind: "progress"; up: number; received: number };

const port = parentPort;
if (!port) throw new Error("run as a worker");
const { roomId, listeners, simulcast } = workerData as {
  roomId: string;
  listeners: string[];
  /** Publish 3 VP8 layers (SimulcastTestPublisher) instead of one encoding. */
  simulcast?: boolean;
};
const post = (m: FromWorker) => port.postMessage(m);
const subscribers = new Set<(e: MediaEvent) => void>();
const proxy: MediaPort = {
  addMember: () => undefined,
  removeMember: () => undefined,
  signal: async (_roomId: string, socketId: string, target: MediaTarget, sdp: SessionDescription) => {
    post({ kind: "signal", socketId, target, sdp });
    return undefined;
  },
  candidate: async (_r: string, _s: string, _t: MediaTarget, _c: IceCandidate) => undefined,
  setVideoQuality: async () => undefined,
  onEvent: (l) => {
    subscribers.add(l);
    return () => subscribers.delete(l);
  },
  close: async () => undefined,
};
const members = new Map<string, TestMember>();
for (const id of ["pub", ...listeners]) members.set(id, new TestMember(roomId, id));
shuttle(proxy, members);
const publisher = simulcast ? new SimulcastTestPublisher() : new TestPublisher();
// The shuttle only needs the publisher's pc (the server's answer and candidates).
members.get("pub")!.publisher = publisher as TestPublisher;

const progress = setInterval(() => {
  let up = 0;
  let received = 0;
  for (const id of listeners) {
    const m = members.get(id)!;
    if (m.ups.has("pub")) up++;
    received += m.listeners.get("pub")?.video.length ?? 0;
  }
  post({ kind: "progress", up, received });
}, 100);

port.on("message", (m: ToWorker) => {
  if (m.kind === "event") for (const s of subscribers) s(m.event);
  else if (m.kind === "publish")
    void publisher.offer().then((sdp) => post({ kind: "signal", socketId: "pub", target: "publisher", sdp }));
  else if (m.kind === "start") {
    if (publisher instanceof TestPublisher) publisher.start(m.packetsPerFrame);
    else publisher.start();
  } else {
    clearInterval(progress);
    void Promise.all([...members.values()].map((x) => x.close())).then(() => port.close());
  }
});
