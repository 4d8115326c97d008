import type { EventSink } from "../events/event-sink.ts";
import type { MediaEvent, MediaPort } from "../media/media-port.ts";
import { PUBLISHER } from "../protocol/wire.ts";
import type { Member } from "../rooms/member.ts";
import type { RoomDirectory, RoomTransport } from "../rooms/room-transport.ts";
import { toProtocolError } from "./media-errors.ts";

export interface McuTransportOptions {
  media: MediaPort;
  events: EventSink;
  /** Deadline of one media call (signal/candidate): a stuck media plane cannot hold a member's requests. */
  callTimeoutMs: number;
}

/** The server's own publishing connection, as `from` of the events about it. */
const PUBLISHER_REF = { socketId: PUBLISHER, userId: "" };

/**
 * MCU rooms: `to: "publisher"` is the member's publishing connection, `to: <socketId>` its listener
 * connection for that publisher; both go to the media plane, with a deadline. The publish answer
 * is sent as eventExchangeSdp before the request's reply; media events (listener offers, server
 * candidates, up/down, freeze) become protocol events for the members they name. MediaErrors are
 * answered with their wire codes (media-errors.ts).
 */
export function newMcuTransport(rooms: RoomDirectory, o: McuTransportOptions): RoomTransport {
  const { media } = o;
  const unsubscribe = media.onEvent((e) => deliver(rooms, o, e));
  const deadline = () => ({ signal: AbortSignal.timeout(o.callTimeoutMs) });
  const targetOf = (to: Member | "publisher") => (to === PUBLISHER ? PUBLISHER : to.socketId);

  return {
    publisherTarget: true,
    joined(member: Member): void {
      media.addMember({
        roomId: member.roomId,
        socketId: member.socketId,
        userId: member.userId,
        reoffer: member.capabilities.has("reoffer"),
      });
    },
    left(member: Member): void {
      media.removeMember(member.roomId, member.socketId);
    },
    async sdp(from, to, sdp) {
      let answer: Awaited<ReturnType<MediaPort["signal"]>>;
      try {
        answer = await media.signal(from.roomId, from.socketId, targetOf(to), sdp, deadline());
      } catch (err) {
        throw toProtocolError(err);
      }
      if (answer) from.send("eventExchangeSdp", { from: PUBLISHER_REF, sdp: answer });
    },
    async candidate(from, to, candidate) {
      try {
        await media.candidate(from.roomId, from.socketId, targetOf(to), candidate, deadline());
      } catch (err) {
        throw toProtocolError(err);
      }
    },
    async videoQuality(from, to, quality) {
      try {
        await media.setVideoQuality(from.roomId, from.socketId, to.socketId, quality, deadline());
      } catch (err) {
        throw toProtocolError(err);
      }
    },
    async close() {
      unsubscribe();
      await media.close();
    },
  };
}

function deliver(rooms: RoomDirectory, o: McuTransportOptions, e: MediaEvent): void {
  if (e.type === "freeze") {
    const publisher = rooms.member(e.publisher);
    const room = rooms.room(e.roomId);
    if (!publisher || !room) return;
    const from = publisher.ref;
    room.broadcast(
      e.frozen ? "eventFreeze" : "eventUnfreeze",
      { from, durationMs: e.durationMs },
      from.socketId,
    );
    o.events.publish({
      key: "media.freeze",
      payload: { roomId: room.id, ...from, frozen: e.frozen, durationMs: e.durationMs },
    });
    return;
  }
  const to = rooms.member(e.to);
  if (!to || to.roomId !== e.roomId) return;
  const from =
    e.from === PUBLISHER ? PUBLISHER_REF : (rooms.member(e.from)?.ref ?? { socketId: e.from, userId: "" });
  if (e.type === "sdp") to.send("eventExchangeSdp", { from, sdp: e.sdp });
  else if (e.type === "candidate") to.send("eventExchangeCandidate", { from, candidate: e.candidate });
  else to.send(e.type === "webrtcUp" ? "eventWebrtcUp" : "eventWebrtcDown", { from });
}
