/**
 * The demo page served at `/`: join a room, see your camera and one tile per other member.
 * Everything the end-to-end test reads is on `window.demo` (see demo/demo-snapshot.ts).
 */
import {
  cameraFailure,
  LOCAL_MESSAGES,
  type RemoteMemberInfo,
  SignalingError,
  WebrtcSignalingClient,
} from "./client/index.ts";
import type { DemoSnapshot } from "./demo/demo-snapshot.ts";
import { IceView, iceOptionsFromUrl } from "./demo/ice-view.ts";
import { inboundStats, type OutboundStats, outboundStats } from "./demo/stats.ts";
import { Tile } from "./demo/tile.ts";

const STATS_INTERVAL_MS = 250;
/** After a re-join, how long a member's tile waits for it to come back before it is removed. */
const STALE_TILE_MS = 15_000;

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
const localNumbers = byId<HTMLElement>("local-numbers");
const notice = byId<HTMLElement>("notice");
const noticeText = byId<HTMLElement>("notice-text");
const noticeDetail = byId<HTMLElement>("notice-detail");
const logEl = byId<HTMLElement>("log");
const localTile = byId<HTMLElement>("local-tile");

const params = new URLSearchParams(location.search);
const ice = new IceView(params);
roomInput.value = params.get("room") ?? "";
bearerInput.value = params.get("bearer") ?? "";

let client: WebrtcSignalingClient | undefined;
let localStream: MediaStream | undefined;
let joinStartedAt = 0;
let statsTimer: ReturnType<typeof setInterval> | undefined;
let publishStats: OutboundStats = {
  videoCodec: undefined,
  audioCodec: undefined,
  width: 0,
  height: 0,
  framesPerSecond: 0,
};
let publish: { state: RTCPeerConnectionState | "none"; up: boolean } = { state: "none", up: false };
let reconnects = 0;
let timings: DemoSnapshot["timings"] = {
  clickedAtEpochMs: undefined,
  joinedMs: undefined,
  publishUpMs: undefined,
};
let videoConstraints: MediaTrackConstraints | undefined;
const tiles = new Map<string, Tile>();
/** Per tile: stops telling the server the tile's video size and visibility (setVideoQuality). */
const watching = new Map<string, () => void>();
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

/** A sentence for the person, visible above the tiles; the code (if any) in small print. */
function showNotice(text: string, detail = "", kind: "error" | "warn" = "error"): void {
  noticeText.textContent = text;
  noticeDetail.textContent = detail;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

function clearNotice(): void {
  notice.hidden = true;
  noticeText.textContent = "";
  noticeDetail.textContent = "";
}

/** What went wrong, as a sentence, and the code in small print. */
function describe(err: unknown): { text: string; detail: string } {
  if (err instanceof SignalingError) {
    const detail = err.code ? `error ${err.code} on ${err.action}` : (err.reason ?? "");
    return { text: err.message, detail };
  }
  const camera = cameraFailure(err);
  if (camera) return { text: LOCAL_MESSAGES[camera], detail: (err as Error).name };
  return { text: `Something went wrong: ${err instanceof Error ? err.message : String(err)}`, detail: "" };
}

function tileFor(info: RemoteMemberInfo): Tile {
  let tile = tiles.get(info.socketId);
  // Back after our re-join with the same membership (only this page had lost its own).
  if (tile?.stale) tile.adopt(info);
  if (!tile) {
    // After a re-join (server restart, expired grace) the others come back with new socketIds:
    // their old tile, kept in place, takes the new membership.
    const stale = [...tiles.values()].find((t) => t.stale && t.userId === info.userId && info.userId);
    if (stale) {
      watching.get(stale.socketId)?.();
      watching.delete(stale.socketId);
      tiles.delete(stale.socketId);
      stale.adopt(info);
      tile = stale;
    } else {
      tile = new Tile(info, joinStartedAt);
      tilesEl.append(tile.element);
    }
    tiles.set(info.socketId, tile);
    // The server picks the publisher's simulcast layer for this tile's size; hidden tiles pause.
    if (client) watching.set(info.socketId, client.watchVideo(info.socketId, tile.video));
  }
  return tile;
}

function removeTile(socketId: string): void {
  watching.get(socketId)?.();
  watching.delete(socketId);
  tiles.get(socketId)?.remove();
  tiles.delete(socketId);
}

function dropStaleTiles(): void {
  for (const tile of [...tiles.values()]) {
    if (!tile.stale) continue;
    removeTile(tile.socketId);
    log(`${tile.userId || tile.socketId} did not come back`);
  }
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
  showLocalNumbers();
  await ice.poll(c, tiles.values(), localTile);
}

function showLocalState(): void {
  // Without the signaling socket nothing says media still reaches the server: do not claim it.
  const offline = client?.state === "reconnecting";
  const words = [
    publish.state === "none" ? "not publishing" : publish.state,
    publish.up && publish.state === "connected" && !offline ? "media up" : "",
    publish.state === "failed" ? "publishing again" : "",
    offline ? "server unreachable" : "",
  ];
  localState.textContent = words.filter(Boolean).join(" · ");
  localTile.classList.toggle("offline", offline || publish.state === "failed");
}

/** Sent resolution and frame rate (outbound-rtp), else what the camera delivers. */
function showLocalNumbers(): void {
  const settings = localStream?.getVideoTracks()[0]?.getSettings();
  const width = publishStats.width || settings?.width || 0;
  const height = publishStats.height || settings?.height || 0;
  const fps = publishStats.framesPerSecond || settings?.frameRate || 0;
  localNumbers.textContent = width ? `${width}x${height} ${Math.round(fps)} fps` : "";
}

/** The server sizes everyone's video to the room (smaller when more people are in it). */
function applyVideoConstraints(): void {
  const track = localStream?.getVideoTracks()[0];
  if (!track || !videoConstraints) return;
  track.applyConstraints(videoConstraints).catch((err: unknown) => log(`cannot apply constraints: ${err}`));
}

function wire(c: WebrtcSignalingClient): void {
  c.on("state", (state) => {
    const text: Record<typeof state, string> = {
      idle: "not connected",
      connecting: "connecting…",
      joined: `in room ${c.roomId}`,
      reconnecting: "connection lost, reconnecting…",
      closed: "not connected",
    };
    setStatus(text[state], state);
    showLocalState();
    if (state === "joined") clearNotice();
    // The client gave up (rate limit, taken over, membership gone): reset the page, keep the notice.
    if (state === "closed" && client === c) leave();
    log(`state: ${state}`);
  });
  c.on("reconnecting", ({ attempt, error }) => {
    const unreachable = error?.reason === "unreachable";
    const why = error ? error.message : "The connection to the server was lost.";
    setStatus(
      unreachable
        ? `server unreachable, retrying (attempt ${attempt})`
        : `connection lost, reconnecting (attempt ${attempt})`,
      "reconnecting",
    );
    showNotice(`${why} Retrying (attempt ${attempt})…`, error?.reason ?? "", "warn");
    if (attempt === 1 || attempt % 5 === 0) log(`reconnecting, attempt ${attempt}`);
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
  c.on("memberLeft", ({ socketId, userId, reason }) => {
    if (reason === "rejoin") {
      // We join again; they did not leave. Keep the tile where it is until they are back.
      tiles.get(socketId)?.markStale();
      return;
    }
    removeTile(socketId);
    if (reason !== "left") return;
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
    clearNotice();
    log(`${rejoined ? "re-joined" : "reconnected"} after ${attempts} attempt(s)`);
    // Tiles of members that did not come back within a while after a re-join are gone for good.
    if (rejoined) setTimeout(dropStaleTiles, STALE_TILE_MS);
  });
  c.on("error", (err) => {
    errors.push(String(err));
    console.warn("webrtcsignaling:", err);
    if (err instanceof SignalingError) {
      const { text, detail } = describe(err);
      showNotice(text, detail);
    }
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
  clearNotice();
  const c = new WebrtcSignalingClient({ bearer, ...iceOptionsFromUrl(params) });
  client = c;
  wire(c);
  ice.wire(c, {
    notice: (text, detail) => showNotice(text, detail),
    log,
    name: (socketId) => tiles.get(socketId)?.userId || socketId.slice(0, 8),
  });
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
    const { text, detail } = describe(err);
    showNotice(`Could not join “${roomId}”. ${text}`, detail);
  }
}

function leave(): void {
  client?.leave();
  client = undefined;
  clearInterval(statsTimer);
  for (const track of localStream?.getTracks() ?? []) track.stop();
  localStream = undefined;
  localVideo.srcObject = null;
  localNumbers.textContent = "";
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

roomInput.addEventListener("input", () => roomInput.setCustomValidity(""));
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const roomId = roomInput.value.trim();
  if (!roomId) {
    const text = "Enter a room name: it cannot be empty or only spaces.";
    roomInput.setCustomValidity(text);
    roomInput.reportValidity();
    showNotice(text);
    return;
  }
  // Development servers (no JWT key) take the bearer as the userId.
  const bearer = bearerInput.value.trim() || `guest-${Math.random().toString(36).slice(2, 7)}`;
  void join(roomId, bearer);
});
leaveButton.addEventListener("click", () => {
  clearNotice();
  leave();
});

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
    ice: ice.snapshot(),
    notice: notice.hidden ? "" : (noticeText.textContent ?? ""),
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
