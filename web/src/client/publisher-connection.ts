import { CandidateQueue } from "./candidate-queue.ts";
import { LocalCandidates } from "./local-candidates.ts";
import type { PeerSignals } from "./peer-signals.ts";
import type { CandidateInit, SdpInit } from "./protocol.ts";

export interface PublisherCallbacks {
  state(state: RTCPeerConnectionState): void;
}

/**
 * The connection that sends this client's camera and microphone to the server ("publisher").
 * The client offers; the server answers with eventExchangeSdp from "publisher" before exchangeSdpR.
 */
export class PublisherConnection {
  readonly pc: RTCPeerConnection;
  readonly #signals: PeerSignals;
  readonly #remote: CandidateQueue;
  readonly #local: LocalCandidates;
  #answer: { resolve(): void; reject(err: unknown): void } | undefined;
  #stream: MediaStream;

  /**
   * `videoEncodings(track)`: the sendEncodings of the video track (simulcast layers, see
   * video-quality.ts), undefined for one encoding.
   */
  constructor(
    stream: MediaStream,
    config: RTCConfiguration,
    signals: PeerSignals,
    callbacks: PublisherCallbacks,
    videoEncodings?: (track: MediaStreamTrack) => RTCRtpEncodingParameters[] | undefined,
  ) {
    this.#stream = stream;
    this.#signals = signals;
    this.pc = new RTCPeerConnection(config);
    this.#remote = new CandidateQueue(this.pc, signals.error);
    this.#local = new LocalCandidates(this.pc, signals.sendCandidate);
    this.pc.addEventListener("connectionstatechange", () => callbacks.state(this.pc.connectionState));
    for (const track of stream.getTracks()) {
      const sendEncodings = track.kind === "video" ? videoEncodings?.(track) : undefined;
      this.pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [stream],
        ...(sendEncodings ? { sendEncodings } : {}),
      });
    }
  }

  get stream(): MediaStream {
    return this.#stream;
  }

  /** Offers, sends the offer and waits for the server's answer to be applied. */
  async negotiate(timeoutMs = 10_000): Promise<void> {
    if (this.#answer) throw new Error("a negotiation is already running");
    this.#local.hold();
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const offer = this.pc.localDescription;
    if (!offer) throw new Error("no local description after setLocalDescription");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<void>((resolve, reject) => {
      this.#answer = { resolve, reject };
      timer = setTimeout(
        () => reject(new Error(`no answer from the server within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    answered.catch(() => {});
    try {
      const sent = this.#signals.sendSdp({ type: "offer", sdp: offer.sdp });
      this.#local.release();
      await sent;
      await answered;
    } catch (err) {
      if (this.pc.signalingState === "have-local-offer") {
        await this.pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw err;
    } finally {
      clearTimeout(timer);
      this.#answer = undefined;
    }
  }

  /** The server's answer (eventExchangeSdp from "publisher"). */
  async acceptAnswer(sdp: SdpInit): Promise<void> {
    const waiter = this.#answer;
    if (!waiter || sdp.type !== "answer") {
      this.#signals.error(new Error(`unexpected ${sdp.type} from the publisher connection`));
      return;
    }
    try {
      await this.pc.setRemoteDescription(sdp);
      this.#remote.flush();
      waiter.resolve();
    } catch (err) {
      waiter.reject(err);
    }
  }

  addRemoteCandidate(candidate: CandidateInit): void {
    this.#remote.add(candidate);
  }

  /** Sends `stream`'s tracks instead of the current ones (same kinds: no renegotiation needed). */
  async replaceStream(stream: MediaStream): Promise<void> {
    this.#stream = stream;
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.sender.track?.kind ?? transceiver.receiver.track.kind;
      const track = stream.getTracks().find((t) => t.kind === kind) ?? null;
      await transceiver.sender.replaceTrack(track);
    }
  }

  close(): void {
    this.#answer?.reject(new Error("publisher connection closed"));
    this.pc.close();
  }
}
