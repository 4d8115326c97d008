import type { CandidateInit, SdpInit, VideoQualityInit } from "../protocol/wire.ts";
import type { Member } from "./member.ts";
import type { Room } from "./room.ts";

/** The members and rooms a transport may look up (the RoomManager). */
export interface RoomDirectory {
  member(socketId: string): Member | undefined;
  room(roomId: string): Room | undefined;
}

/**
 * How media-related signaling travels in a room, chosen once when the server is composed: relayed
 * between members (P2P, rooms/p2p-relay.ts) or handled by the MCU's media plane (src/mcu/).
 */
export interface RoomTransport {
  /** Whether `to: "publisher"` (the member's own publishing connection) means something. */
  readonly publisherTarget: boolean;
  /** The member was announced to its room. */
  joined(member: Member): void;
  /** The member has left its room. */
  left(member: Member): void;
  /** `to` is another member of the sender's room, or "publisher" when publisherTarget. */
  sdp(from: Member, to: Member | "publisher", sdp: SdpInit): Promise<void>;
  candidate(from: Member, to: Member | "publisher", candidate: CandidateInit): Promise<void>;
  /** `from`'s wish for `to`'s video (setVideoQuality); absent where the server forwards no media (P2P). */
  videoQuality?(from: Member, to: Member, quality: VideoQualityInit): Promise<void>;
  close(): Promise<void>;
}
