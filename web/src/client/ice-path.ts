/**
 * Which network path a connection uses, from getStats: the selected candidate pair's local
 * candidate. "host" (direct, UDP), "host-tcp" (direct over ICE-TCP), "srflx"/"prflx" (direct
 * through a NAT), or "relay-udp" / "relay-tcp" / "relay-tls" (through a TURN server, by the
 * protocol between the browser and the TURN server).
 */
export type IcePath = "host" | "host-tcp" | "srflx" | "prflx" | "relay-udp" | "relay-tcp" | "relay-tls";

export interface IcePathInfo {
  path: IcePath;
  /** The selected pair's local candidate (RTCIceCandidateStats). */
  localType: string;
  /** Transport of the local candidate towards the remote one ("udp" for a relay: TURN relays UDP). */
  protocol: string;
  /** Browser to TURN server: "udp", "tcp" or "tls" (relay candidates only). */
  relayProtocol: string | undefined;
  remoteType: string;
  remoteAddress: string | undefined;
}

type Stat = Record<string, unknown> & { type: string; id: string };

/** The selected pair of `pc`, or undefined while there is none. */
export async function icePath(pc: RTCPeerConnection): Promise<IcePathInfo | undefined> {
  const report = await pc.getStats();
  const byId = new Map<string, Stat>();
  report.forEach((s: Stat) => {
    byId.set(s.id, s);
  });
  let pair: Stat | undefined;
  for (const s of byId.values()) {
    if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") {
      pair = byId.get(s.selectedCandidatePairId);
      if (pair) break;
    }
  }
  pair ??= [...byId.values()].find(
    (s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded",
  );
  if (!pair) return undefined;
  const local = byId.get(String(pair.localCandidateId));
  const remote = byId.get(String(pair.remoteCandidateId));
  if (!local) return undefined;
  const localType = String(local.candidateType);
  const protocol = String(local.protocol);
  const relayProtocol = typeof local.relayProtocol === "string" ? local.relayProtocol : undefined;
  let path: IcePath;
  if (localType === "relay") path = `relay-${(relayProtocol ?? "udp") as "udp" | "tcp" | "tls"}`;
  else if (localType === "host") path = protocol === "tcp" ? "host-tcp" : "host";
  else path = localType === "srflx" ? "srflx" : "prflx";
  return {
    path,
    localType,
    protocol,
    relayProtocol,
    remoteType: String(remote?.candidateType),
    remoteAddress: typeof remote?.address === "string" ? remote.address : undefined,
  };
}
