/**
 * ICE settings of every RTCPeerConnection the client opens: the application's own
 * RTCConfiguration, the TURN servers the server hands out in joinR / reconnectR (time-limited
 * credentials, refreshed on every reconnect), and the `iceTransportPolicy` option ("relay": only
 * through TURN). Also watches each connection: TURN errors (icecandidateerror, e.g. 401 for
 * refused credentials) and connections that do not connect in time ("media cannot connect").
 */

import type { IceServerInit } from "../../../src/protocol/wire.ts";

export type { IceServerInit };

export interface IceOptions {
  /** Passed to every RTCPeerConnection; its iceServers come before the server's. */
  rtcConfiguration?: RTCConfiguration;
  /** "relay": media only through the TURN servers (tests, networks that block UDP); default "all". */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** A connection not connected after this long is reported (`mediaUnreachable`); default 10 s. */
  mediaConnectTimeoutMs?: number;
}

/** A TURN/STUN server answered an error, or did not answer (icecandidateerror). */
export interface IceServerErrorInfo {
  /** "publisher" or the remote publisher's socketId. */
  connection: string;
  url: string;
  /** STUN error code: 401 refused credentials, 403 forbidden, 701 no answer (browser-specific). */
  errorCode: number;
  errorText: string;
}

/** A connection that could not carry media: no ICE path within the timeout, or ICE failed. */
export interface MediaUnreachableInfo {
  connection: string;
  /** "timeout": not connected after mediaConnectTimeoutMs; "failed": ICE/DTLS failed. */
  why: "timeout" | "failed";
  afterMs: number;
  /** Errors the TURN servers gave for this connection (e.g. 401), if any. */
  iceErrors: IceServerErrorInfo[];
}

export interface IceSink {
  iceServerError(info: IceServerErrorInfo): void;
  mediaUnreachable(info: MediaUnreachableInfo): void;
}

export class IceConfig {
  readonly #base: RTCConfiguration;
  readonly #policy: RTCIceTransportPolicy | undefined;
  readonly #timeoutMs: number;
  readonly #sink: IceSink;
  #fromServer: RTCIceServer[] = [];

  constructor(options: IceOptions, sink: IceSink) {
    this.#base = options.rtcConfiguration ?? { iceServers: [] };
    this.#policy = options.iceTransportPolicy;
    this.#timeoutMs = options.mediaConnectTimeoutMs ?? 10_000;
    this.#sink = sink;
  }

  /** The configuration for a new connection. */
  configuration(): RTCConfiguration {
    const config: RTCConfiguration = {
      ...this.#base,
      iceServers: [...(this.#base.iceServers ?? []), ...this.#fromServer],
    };
    if (this.#policy) config.iceTransportPolicy = this.#policy;
    return config;
  }

  /** TURN servers from joinR / reconnectR (absent: the server has none); `open` connections get them too. */
  update(iceServers: readonly IceServerInit[] | undefined, open: readonly RTCPeerConnection[] = []): void {
    this.#fromServer = (iceServers ?? []).map((s) => ({
      urls: s.urls,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.credential !== undefined ? { credential: s.credential } : {}),
    }));
    const config = this.configuration();
    for (const pc of open) {
      if (pc.connectionState === "closed") continue;
      try {
        // Fresh credentials for the TURN allocation's refreshes and any later ICE restart.
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: config.iceServers ?? [] });
      } catch {
        // A browser that refuses the change keeps the old credentials until the connection is replaced.
      }
    }
  }

  /** Reports TURN errors of `pc` and whether it connects within the timeout. */
  watch(pc: RTCPeerConnection, connection: string): void {
    const started = performance.now();
    const iceErrors: IceServerErrorInfo[] = [];
    let reported = false;
    const report = (why: MediaUnreachableInfo["why"]) => {
      if (reported || pc.connectionState === "closed" || pc.connectionState === "connected") return;
      reported = true;
      this.#sink.mediaUnreachable({
        connection,
        why,
        afterMs: Math.round(performance.now() - started),
        iceErrors: [...iceErrors],
      });
    };
    const timer = setTimeout(() => report("timeout"), this.#timeoutMs);
    pc.addEventListener("icecandidateerror", (e) => {
      const ev = e as RTCPeerConnectionIceErrorEvent;
      const info = { connection, url: ev.url, errorCode: ev.errorCode, errorText: ev.errorText };
      iceErrors.push(info);
      this.#sink.iceServerError(info);
    });
    pc.addEventListener("connectionstatechange", () => {
      const state = pc.connectionState;
      if (state === "connected" || state === "closed") clearTimeout(timer);
      if (state === "failed") {
        clearTimeout(timer);
        report("failed");
      }
    });
  }
}
