import { CandidateQueue } from "./candidate-queue.ts";
import { LocalCandidates } from "./local-candidates.ts";
import type { PeerSignals } from "./peer-signals.ts";
import type { CandidateInit, SdpInit } from "./protocol.ts";

export interface ListenerCallbacks {
  /** A track was added to `stream` (called once per track). */
  track(stream: MediaStream, track: MediaStreamTrack): void;
  state(state: RTCPeerConnectionState): void;
}

/**
 * A receive-only connection carrying one remote publisher's media. The server offers
 * (eventExchangeSdp from the publisher's socketId); this side answers.
 */
export class ListenerConnection {
  readonly pc: RTCPeerConnection;
  readonly stream = new MediaStream();
  readonly #signals: PeerSignals;
  readonly #remote: CandidateQueue;
  readonly #local: LocalCandidates;
  /** ICE credentials and fingerprint of the first offer this connection took. */
  #session: string | undefined;

  constructor(config: RTCConfiguration, signals: PeerSignals, callbacks: ListenerCallbacks) {
    this.#signals = signals;
    this.pc = new RTCPeerConnection(config);
    this.#remote = new CandidateQueue(this.pc, signals.error);
    this.#local = new LocalCandidates(this.pc, signals.sendCandidate);
    this.pc.addEventListener("connectionstatechange", () => callbacks.state(this.pc.connectionState));
    this.pc.addEventListener("track", (e) => {
      const old = this.stream.getTracks().find((t) => t.kind === e.track.kind && t !== e.track);
      if (old) this.stream.removeTrack(old);
      if (!this.stream.getTracks().includes(e.track)) this.stream.addTrack(e.track);
      callbacks.track(this.stream, e.track);
    });
  }

  /**
   * Whether `offer` belongs to this connection: its first offer, or a re-offer with the same ICE
   * credentials and DTLS fingerprint. The server may instead open a new connection for the same
   * publisher (after a re-publish with other codecs): such an offer needs a new ListenerConnection.
   * Decided when the offer arrives, before earlier offers are done being applied.
   */
  takes(offer: SdpInit): boolean {
    const key = sessionKey(offer.sdp);
    this.#session ??= key;
    return this.#session === key;
  }

  /** Applies the server's offer, answers it and sends the answer. */
  async acceptOffer(offer: SdpInit): Promise<void> {
    if (offer.type !== "offer") throw new Error(`expected an offer, got ${offer.type}`);
    this.#local.hold();
    await this.pc.setRemoteDescription(offer);
    this.#remote.flush();
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    const answer = this.pc.localDescription;
    if (!answer) throw new Error("no local description after setLocalDescription");
    const sent = this.#signals.sendSdp({ type: "answer", sdp: answer.sdp });
    this.#local.release();
    await sent;
  }

  addRemoteCandidate(candidate: CandidateInit): void {
    this.#remote.add(candidate);
  }

  close(): void {
    this.pc.close();
    for (const track of this.stream.getTracks()) track.stop();
  }
}

/** ice-ufrag and fingerprint lines of an SDP: they change only with a new connection (or an ICE restart). */
function sessionKey(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((l) => l.startsWith("a=ice-ufrag:") || l.startsWith("a=fingerprint:"))
    .sort()
    .filter((l, i, all) => all.indexOf(l) === i)
    .join("\n");
}
