/** The browser client library of webrtcsignaling (see docs/web-client.md). */
export type { ClientEvents, ClientState, MemberGone } from "./client-events.ts";
export {
  cameraFailure,
  errorMessage,
  errorMessages,
  LOCAL_MESSAGES,
  type LocalFailure,
} from "./error-messages.ts";
export type {
  IceOptions,
  IceServerErrorInfo,
  IceServerInit,
  MediaUnreachableInfo,
} from "./ice-config.ts";
export { type IcePath, type IcePathInfo, icePath } from "./ice-path.ts";
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
export {
  type SimulcastOptions,
  simulcastEncodings,
  VideoQualityWatcher,
  type VideoQualityWish,
} from "./video-quality.ts";
export { type ClientOptions, WebrtcSignalingClient } from "./webrtc-signaling-client.ts";
