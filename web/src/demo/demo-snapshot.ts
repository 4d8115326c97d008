import type { ClientState, RemoteMediaState } from "../client/index.ts";
import type { IceSnapshot } from "./ice-view.ts";

/** One remote member's tile, as read by people (on screen) and by the end-to-end test (window.demo). */
export interface TileSnapshot {
  socketId: string;
  userId: string;
  state: RemoteMediaState;
  up: boolean;
  /** eventFreeze from the server, or no frame decoded for a second (web/src/demo/tile.ts STALL_MS). */
  frozen: boolean;
  /** Kept in place while this page re-joins (the member has not come back yet). */
  stale: boolean;
  /** inbound-rtp video framesDecoded (getStats). */
  framesDecoded: number;
  /** Frames the <video> element presented (requestVideoFrameCallback). */
  framesPresented: number;
  framesPerSecond: number;
  width: number;
  height: number;
  /** inbound-rtp audio packetsReceived (getStats). */
  audioPacketsReceived: number;
  videoCodec: string | undefined;
  audioCodec: string | undefined;
  /** From the click on Join to the server's offer for this publisher, in ms. */
  offerMs: number | undefined;
  /** From the click on Join to the connection being "connected", in ms. */
  connectedMs: number | undefined;
  /** From the click on Join to this tile's first decoded frame, in ms. */
  firstFrameMs: number | undefined;
}

/** Everything the page exposes as `window.demo.snapshot()`. */
export interface DemoSnapshot {
  state: ClientState;
  socketId: string | undefined;
  userId: string | undefined;
  roomId: string | undefined;
  /** From the click on Join to joinR, and to the server's eventWebrtcUp for our publishing connection, in ms. */
  timings: {
    clickedAtEpochMs: number | undefined;
    joinedMs: number | undefined;
    publishUpMs: number | undefined;
  };
  publish: {
    state: RTCPeerConnectionState | "none";
    up: boolean;
    videoCodec?: string;
    audioCodec?: string;
    width?: number;
    height?: number;
    framesPerSecond?: number;
  };
  tiles: TileSnapshot[];
  /** eventLeave seen, by socketId. */
  left: string[];
  reconnects: number;
  errors: string[];
  /** Network paths, TURN errors and "media cannot connect" reports (demo/ice-view.ts). */
  ice: IceSnapshot;
  /** The sentence shown above the tiles (empty when none). */
  notice: string;
}
