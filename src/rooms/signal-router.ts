import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import { type CandidateInit, PUBLISHER, type SdpInit, type VideoQualityInit } from "../protocol/wire.ts";
import type { Member } from "./member.ts";
import type { RoomManager } from "./room-manager.ts";

/**
 * Routes exchangeSdp / exchangeCandidate / sendMessage within the sender's room: checks the target,
 * then hands descriptions and candidates to the room transport (P2P relay or MCU). Never across rooms.
 */
export class SignalRouter {
  readonly #rooms: RoomManager;

  constructor(rooms: RoomManager) {
    this.#rooms = rooms;
  }

  /** Returns false when `to` left the room moments ago: the message raced the departure and is dropped. */
  async exchangeSdp(from: Member, to: string, sdp: SdpInit): Promise<boolean> {
    if (this.#departed(from, to)) return false;
    await this.#rooms.transport.sdp(from, this.#target(from, to), sdp);
    return true;
  }

  /** Returns false when `to` left the room moments ago: the candidate raced the departure and is dropped. */
  async exchangeCandidate(from: Member, to: string, candidate: CandidateInit): Promise<boolean> {
    if (this.#departed(from, to)) return false;
    await this.#rooms.transport.candidate(from, this.#target(from, to), candidate);
    return true;
  }

  /** setVideoQuality: `to` is another member of the sender's room (1298 otherwise); MCU rooms only (1296). */
  async videoQuality(from: Member, to: string, quality: VideoQualityInit): Promise<void> {
    const transport = this.#rooms.transport;
    if (!transport.videoQuality) {
      throw new ProtocolError(
        ErrorCode.unknownAction,
        "setVideoQuality needs a room whose media the server forwards",
      );
    }
    await transport.videoQuality(from, this.#peer(from, to), quality);
  }

  sendMessage(from: Member, to: string, message: unknown): void {
    this.#peer(from, to).send("eventMessage", { from: from.ref, message });
  }

  /** "publisher" where the transport has one, else another member of the sender's room, or 1298. */
  #target(from: Member, to: string): Member | "publisher" {
    if (to === PUBLISHER && this.#rooms.transport.publisherTarget) return PUBLISHER;
    return this.#peer(from, to);
  }

  /** Another member of the sender's room, or 1298. */
  #peer(from: Member, to: string): Member {
    const target = this.#rooms.requireRoom(from).get(to);
    if (!target || target.socketId === from.socketId) {
      throw new ProtocolError(ErrorCode.noSuchTarget, "no such member in this room");
    }
    return target;
  }

  /**
   * A peer connection's last candidates and answers often cross its peer's departure (the Tribe
   * app sends them; the original answered with success). `sendMessage` is not covered: 1298 there.
   */
  #departed(from: Member, to: string): boolean {
    const room = this.#rooms.requireRoom(from);
    return to !== PUBLISHER && !room.has(to) && room.leftRecently(to);
  }
}
