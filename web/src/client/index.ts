/** The browser client library of webrtcsignaling (see docs/web-client.md). */
export type { ClientEvents, ClientState } from "./client-events.ts";
export { type MediaConstraintsFromServer, toMediaConstraints } from "./media-constraints.ts";
export {
  type CandidateInit,
  ErrorCode,
  type JoinInfo,
  type JoinReply,
  type MemberRef,
  PUBLISHER,
  type SdpInit,
  SignalingError,
  type UserMediaConfiguration,
} from "./protocol.ts";
export type { RemoteMediaState, RemoteMemberInfo } from "./remote-member.ts";
export { type ClientOptions, WebrtcSignalingClient } from "./webrtc-signaling-client.ts";
