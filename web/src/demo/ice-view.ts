/**
 * The demo's view of the network path: which path each connection uses (host / relay-udp /
 * relay-tcp / relay-tls, shown on its tile), TURN errors (401: credentials refused) and the
 * "media cannot connect" state when a connection finds no path. The page's URL may ask for
 * `?iceTransportPolicy=relay` (media only through TURN).
 */
import {
  type IcePathInfo,
  type IceServerErrorInfo,
  icePath,
  type MediaUnreachableInfo,
  PUBLISHER,
  type WebrtcSignalingClient,
} from "../client/index.ts";

/** What `window.demo.snapshot().ice` shows. */
export interface IceSnapshot {
  /** "all" or "relay" (from the page's URL). */
  policy: RTCIceTransportPolicy;
  /** Selected path per connection: "publisher" or a remote member's socketId. */
  paths: Record<string, IcePathInfo>;
  /** Connections that found no path (the page says "media cannot connect"). */
  unreachable: MediaUnreachableInfo[];
  /** TURN errors seen (icecandidateerror). */
  serverErrors: IceServerErrorInfo[];
}

/** The client's ICE options from the page's URL. */
export function iceOptionsFromUrl(params: URLSearchParams): { iceTransportPolicy?: RTCIceTransportPolicy } {
  const policy = params.get("iceTransportPolicy");
  return policy === "relay" || policy === "all" ? { iceTransportPolicy: policy } : {};
}

export class IceView {
  readonly #policy: RTCIceTransportPolicy;
  #paths = new Map<string, IcePathInfo>();
  readonly #unreachable: MediaUnreachableInfo[] = [];
  readonly #errors: IceServerErrorInfo[] = [];
  /** Connections reported unreachable that have shown no path since (their tile says "no path"). */
  readonly #stuck = new Set<string>();

  constructor(params: URLSearchParams) {
    this.#policy = iceOptionsFromUrl(params).iceTransportPolicy ?? "all";
  }

  /**
   * Shows TURN errors and unreachable media. `notice` puts a sentence above the tiles, `log` a line
   * in the log; `name` gives a person's name for a connection.
   */
  wire(
    c: WebrtcSignalingClient,
    ui: {
      notice(text: string, detail: string): void;
      log(text: string): void;
      name(connection: string): string;
    },
  ): void {
    c.on("iceServerError", (e) => {
      this.#errors.push(e);
      if (e.errorCode === 401) {
        ui.log(`TURN server ${e.url} refused the credentials (401 ${e.errorText})`);
        ui.notice("The relay (TURN) server refused this page's credentials.", `401 from ${e.url}`);
      } else if (e.errorCode >= 300 && e.errorCode < 700) {
        ui.log(`TURN server ${e.url}: ${e.errorCode} ${e.errorText}`);
      }
    });
    this.#stuck.clear();
    c.on("mediaUnreachable", (u) => {
      this.#unreachable.push(u);
      this.#stuck.add(u.connection);
      const who = u.connection === PUBLISHER ? "your camera" : `the video of ${ui.name(u.connection)}`;
      const turn401 = u.iceErrors.some((e) => e.errorCode === 401);
      const why = turn401
        ? "the relay (TURN) server refused this page's credentials"
        : this.#policy === "relay"
          ? "no relay (TURN) server could be used"
          : "no network path to the media server (UDP blocked? a TURN server is needed)";
      ui.log(`media cannot connect (${u.connection}, ${u.why} after ${u.afterMs} ms)`);
      ui.notice(`Media cannot connect (${who}): ${why}.`, `ICE ${u.why} after ${u.afterMs} ms`);
    });
  }

  /** Reads the selected path of every open connection and writes it on the tiles. */
  async poll(
    c: WebrtcSignalingClient,
    tiles: Iterable<{ socketId: string; element: HTMLElement }>,
    localTile: HTMLElement,
  ): Promise<void> {
    const targets: Array<[string, RTCPeerConnection | undefined, HTMLElement]> = [
      [PUBLISHER, c.publisherConnection, localTile],
      ...[...tiles].map((t): [string, RTCPeerConnection | undefined, HTMLElement] => [
        t.socketId,
        c.listenerConnection(t.socketId),
        t.element,
      ]),
    ];
    const paths = new Map<string, IcePathInfo>();
    await Promise.all(
      targets.map(async ([key, pc, element]) => {
        const info = pc && pc.connectionState !== "closed" ? await icePath(pc) : undefined;
        if (info) {
          paths.set(key, info);
          this.#stuck.delete(key);
        }
        showPath(element, info?.path ?? (this.#stuck.has(key) ? "no path" : ""));
      }),
    );
    this.#paths = paths;
  }

  snapshot(): IceSnapshot {
    return {
      policy: this.#policy,
      paths: Object.fromEntries(this.#paths),
      unreachable: [...this.#unreachable],
      serverErrors: [...this.#errors],
    };
  }
}

/** A small label at the right of the tile's state line: "relay-tcp", "host", "no path"... */
function showPath(tile: HTMLElement, path: string): void {
  const footer = tile.querySelector("footer");
  if (!footer) return;
  let label = footer.querySelector<HTMLElement>(".path");
  if (!label) {
    label = document.createElement("span");
    label.className = "path";
    label.title = "network path of this connection (ICE selected candidate pair)";
    label.style.gridArea = "state";
    label.style.justifySelf = "end";
    label.style.opacity = "0.8";
    footer.append(label);
  }
  label.textContent = path;
  tile.dataset.path = path;
}
