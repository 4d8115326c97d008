import type { EventSink } from "../events/event-sink.ts";
import type { MediaEvent, MediaPort } from "../media/media-port.ts";
import { event } from "../signaling/protocol/replies.ts";
import type { RoomManager } from "./room-manager.ts";

/** Turns media-plane events into protocol events for the members they name. Returns its disposer. */
export function bridgeMediaEvents(media: MediaPort, rooms: RoomManager, events: EventSink): () => void {
  return media.onEvent((e: MediaEvent) => {
    if (e.type === "freeze") {
      const publisher = rooms.member(e.publisher);
      const room = rooms.room(e.roomId);
      if (!publisher || !room) return;
      const from = { socketId: publisher.socketId, userId: publisher.userId };
      room.broadcast(
        event(e.frozen ? "eventFreeze" : "eventUnfreeze", { from, durationMs: e.durationMs }),
        publisher.socketId,
      );
      events.publish({
        key: "media.freeze",
        payload: { roomId: room.id, ...from, frozen: e.frozen, durationMs: e.durationMs },
      });
      return;
    }
    const to = rooms.member(e.to);
    if (!to || to.roomId !== e.roomId) return;
    const fromMember = e.from === "publisher" ? undefined : rooms.member(e.from);
    const from = fromMember
      ? { socketId: fromMember.socketId, userId: fromMember.userId }
      : { socketId: e.from, userId: "" };
    if (e.type === "sdp") to.send(event("eventExchangeSdp", { from, sdp: e.sdp }));
    else if (e.type === "candidate")
      to.send(event("eventExchangeCandidate", { from, candidate: e.candidate }));
    else to.send(event(e.type === "webrtcUp" ? "eventWebrtcUp" : "eventWebrtcDown", { from }));
  });
}
