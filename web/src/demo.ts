/**
 * The demo page served at `/`: join a room, see your camera and one tile per other member.
 * Everything the end-to-end test reads is on `window.demo` (see demo/demo-snapshot.ts).
 */
import { type RemoteMemberInfo, WebrtcSignalingClient } from "./client/index.ts";
import type { DemoSnapshot } from "./demo/demo-snapshot.ts";
import { inboundStats, type OutboundStats, outboundStats } from "./demo/stats.ts";
import { Tile } from "./demo/tile.ts";

const STATS_INTERVAL_MS = 250;

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

const form = byId<HTMLFormElement>("join-form");
const roomInput = byId<HTMLInputElement>("room");
const bearerInput = byId<HTMLInputElement>("bearer");
const joinButton = byId<HTMLButtonElement>("join");
const leaveButton = byId<HTMLButtonElement>("leave");
const status = byId<HTMLElement>("status");
const tilesEl = byId<HTMLElement>("tiles");
const localVideo = byId<HTMLVideoElement>("local-video");
const localLabel = byId<HTMLElement>("local-user");
const localState = byId<HTMLElement>("local-state");
const logEl = byId<HTMLElement>("log");

const params = new URLSearchParams(location.search);
roomInput.value = params.get("room") ?? "";
bearerInput.value = params.get("bearer") ?? "";

let client: WebrtcSignalingClient | undefined;
let localStream: MediaStream | undefined;
let joinStartedAt = 0;
let statsTimer: ReturnType<typeof setInterval> | undefined;
let publishStats: OutboundStats = { videoCodec: undefined, audioCodec: undefined };
let publish: { state: RTCPeerConnectionState | "none"; up: boolean } = { state: "none", up: false };
let reconnects = 0;
let timings: DemoSnapshot["timings"] = {
  clickedAtEpochMs: undefined,
  joinedMs: undefined,
  publishUpMs: undefined,
};
let videoConstraints: MediaTrackConstraints | undefined;
const tiles = new Map<string, Tile>();
const left: string[] = [];
const errors: string[] = [];

function log(text: string): void {
  const line = document.createElement("li");
  line.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  logEl.prepend(line);
  while (logEl.childElementCount > 50) logEl.lastElementChild?.remove();
}

function setStatus(text: string, state: string): void {
  status.textContent = text;
  status.dataset.state = state;
}

function tileFor(info: RemoteMemberInfo): Tile {
  let tile = tiles.get(info.socketId);
  if (!tile) {
    tile = new Tile(info, joinStartedAt);
    tiles.set(info.socketId, tile);
    tilesEl.append(tile.element);
  }
  return tile;
}

function removeTile(socketId: string): void {
  tiles.get(socketId)?.remove();
  tiles.delete(socketId);
}

async function pollStats(): Promise<void> {
  const c = client;
  if (!c) return;
  await Promise.all(
    [...tiles.values()].map(async (tile) => {
      const pc = c.listenerConnection(tile.socketId);
      if (pc && pc.connectionState !== "closed") tile.setStats(await inboundStats(pc));
    }),
  );
  const pc = c.publisherConnection;
  if (pc && pc.connectionState !== "closed") publishStats = await outboundStats(pc);
}

function showLocalState(): void {
  const words = [publish.state === "none" ? "not publishing" : publish.state, publish.up ? "media up" : ""];
  localState.textContent = words.filter(Boolean).join(" · ");
}

/** The server sizes everyone's video to the room (smaller when more people are in it). */
function applyVideoConstraints(): void {
  const track = localStream?.getVideoTracks()[0];
  if (!track || !videoConstraints) return;
  track.applyConstraints(videoConstraints).catch((err: unknown) => log(`cannot apply constraints: ${err}`));
}

function wire(c: WebrtcSignalingClient): void {
  c.on("state", (state) => {
    setStatus(state === "joined" ? `in room ${c.roomId}` : state, state);
    log(`state: ${state}`);
  });
  c.on("joined", (reply) => {
    timings.joinedMs ??= Math.round(performance.now() - joinStartedAt);
    localLabel.textContent = `${reply.userId} (you)`;
    log(`joined ${reply.roomId} as ${reply.userId}, ${reply.roomSize} in the room`);
  });
  c.on("memberJoined", (info) => {
    tileFor(info);
    log(`${info.userId || info.socketId} is in the room`);
  });
  c.on("memberLeft", ({ socketId, userId }) => {
    removeTile(socketId);
    left.push(socketId);
    log(`${userId || socketId} left`);
  });
  c.on("remoteStream", (info) => tileFor(info).show(info.stream));
  c.on("remoteState", (info) => tileFor(info).update(info));
  c.on("publishState", (p) => {
    publish = p;
    if (p.up) timings.publishUpMs ??= Math.round(performance.now() - joinStartedAt);
    showLocalState();
  });
  c.on("userMediaConfiguration", ({ constraints }) => {
    videoConstraints = constraints.video;
    applyVideoConstraints();
  });
  c.on("freeze", ({ from, frozen }) =>
    log(`${from.userId || from.socketId} ${frozen ? "froze" : "recovered"}`),
  );
  c.on("reconnected", ({ attempts, rejoined }) => {
    reconnects++;
    log(`${rejoined ? "re-joined" : "reconnected"} after ${attempts} attempt(s)`);
  });
  c.on("error", (err) => {
    errors.push(String(err));
    console.warn("webrtcsignaling:", err);
  });
}

async function join(roomId: string, bearer: string): Promise<void> {
  joinStartedAt = performance.now();
  timings = {
    clickedAtEpochMs: Math.round(performance.timeOrigin + joinStartedAt),
    joinedMs: undefined,
    publishUpMs: undefined,
  };
  joinButton.disabled = true;
  roomInput.disabled = true;
  bearerInput.disabled = true;
  const c = new WebrtcSignalingClient({ bearer });
  client = c;
  wire(c);
  try {
    const [stream] = await Promise.all([
      navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } }),
      c.join(roomId),
    ]);
    localStream = stream;
    localVideo.srcObject = stream;
    applyVideoConstraints();
    leaveButton.disabled = false;
    statsTimer = setInterval(() => void pollStats().catch(() => {}), STATS_INTERVAL_MS);
    await c.publish(stream);
  } catch (err) {
    errors.push(String(err));
    log(`cannot join: ${err}`);
    leave();
  }
}

function leave(): void {
  client?.leave();
  client = undefined;
  clearInterval(statsTimer);
  for (const track of localStream?.getTracks() ?? []) track.stop();
  localStream = undefined;
  localVideo.srcObject = null;
  videoConstraints = undefined;
  for (const socketId of [...tiles.keys()]) removeTile(socketId);
  publish = { state: "none", up: false };
  showLocalState();
  localLabel.textContent = "you";
  setStatus("not connected", "idle");
  joinButton.disabled = false;
  leaveButton.disabled = true;
  roomInput.disabled = false;
  bearerInput.disabled = false;
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const roomId = roomInput.value.trim();
  if (!roomId) return;
  // Development servers (no JWT key) take the bearer as the userId.
  const bearer = bearerInput.value.trim() || `guest-${Math.random().toString(36).slice(2, 7)}`;
  void join(roomId, bearer);
});
leaveButton.addEventListener("click", () => leave());

function snapshot(): DemoSnapshot {
  return {
    state: client?.state ?? "idle",
    socketId: client?.socketId,
    userId: client?.userId,
    roomId: client?.roomId,
    timings: { ...timings },
    publish: { ...publish, ...publishStats },
    tiles: [...tiles.values()].map((t) => t.snapshot()),
    left: [...left],
    reconnects,
    errors: [...errors],
  };
}

/** For the end-to-end test and for curious people in the console. */
Object.assign(window, {
  demo: {
    snapshot,
    get client() {
      return client;
    },
    leave,
  },
});
