import { ProgrammerError } from "../lib/errors.ts";
import type { Member } from "./member.ts";
import type { RoomTransport } from "./room-transport.ts";

/** P2P rooms: descriptions and candidates go to the named member as they are, marked with the sender. */
export function newP2pRelay(): RoomTransport {
  return {
    publisherTarget: false,
    joined: () => undefined,
    left: () => undefined,
    async sdp(from, to, sdp) {
      peer(to).send("eventExchangeSdp", { from: from.ref, sdp });
    },
    async candidate(from, to, candidate) {
      peer(to).send("eventExchangeCandidate", { from: from.ref, candidate });
    },
    close: async () => undefined,
  };
}

function peer(to: Member | "publisher"): Member {
  // SignalRouter never passes "publisher" to a transport whose publisherTarget is false.
  if (to === "publisher") throw new ProgrammerError("a P2P room has no publisher connection");
  return to;
}
