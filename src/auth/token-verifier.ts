import {
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  importSPKI,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import type { Config } from "../config/config.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";

export interface Identity {
  userId: string;
  /** When the token names a room, the bearer may only join that room. */
  roomId?: string;
}

export interface TokenVerifier {
  verify(bearer: string): Promise<Identity>;
  readonly mode: "jwt" | "development";
}

const HMAC_ALGS = ["HS256", "HS384", "HS512"];
const ASYM_ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/** Builds the verifier the configuration asks for. Never accepts alg "none". */
export async function newTokenVerifier(auth: Config["auth"]): Promise<TokenVerifier> {
  if (auth.devMode) return newDevelopmentVerifier();
  const secret = auth.secret ? new TextEncoder().encode(auth.secret) : undefined;
  let asymmetric: JWTVerifyGetKey | undefined;
  if (auth.jwksUrl) asymmetric = createRemoteJWKSet(new URL(auth.jwksUrl));
  else if (auth.publicKeyPem) asymmetric = await keyFromPem(auth.publicKeyPem);
  const allowed = auth.algorithms.length > 0 ? [...auth.algorithms] : undefined;
  const options = {
    ...(auth.audience ? { audience: auth.audience } : {}),
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
  };
  return {
    mode: "jwt",
    async verify(bearer: string): Promise<Identity> {
      let payload: JWTPayload;
      try {
        const alg = headerAlg(bearer);
        if (secret && HMAC_ALGS.includes(alg)) {
          ({ payload } = await jwtVerify(bearer, secret, { ...options, algorithms: allowed ?? HMAC_ALGS }));
        } else if (asymmetric && ASYM_ALGS.includes(alg)) {
          ({ payload } = await jwtVerify(bearer, asymmetric, {
            ...options,
            algorithms: allowed ?? ASYM_ALGS,
          }));
        } else {
          throw new Error(`algorithm ${alg} not accepted`);
        }
      } catch (err) {
        throw new ProtocolError(ErrorCode.authFailed, `bearer rejected: ${(err as Error).message}`, {
          cause: err,
        });
      }
      return identityFrom(payload, auth.userClaim);
    },
  };
}

function newDevelopmentVerifier(): TokenVerifier {
  return {
    mode: "development",
    async verify(bearer: string): Promise<Identity> {
      if (bearer.length > 256) throw new ProtocolError(ErrorCode.authFailed, "development bearer too long");
      return { userId: bearer };
    },
  };
}

async function keyFromPem(pem: string): Promise<JWTVerifyGetKey> {
  const jwks = { keys: [] as Record<string, unknown>[] };
  for (const alg of ["RS256", "ES256", "PS256", "EdDSA"]) {
    try {
      const key = await importSPKI(pem, alg, { extractable: true });
      jwks.keys.push({ ...(await exportJWK(key)), alg });
    } catch {
      // the PEM does not fit this algorithm family
    }
  }
  if (jwks.keys.length === 0) throw new Error("JWT_PUBLIC_KEY_FILE holds no usable SPKI public key");
  return createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
}

function headerAlg(token: string): string {
  const head = token.split(".")[0] ?? "";
  const json = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown };
  if (typeof json.alg !== "string") throw new Error("token header has no alg");
  return json.alg;
}

function identityFrom(payload: JWTPayload, claim: string): Identity {
  const userId = payload[claim];
  if (typeof userId !== "string" && typeof userId !== "number") {
    throw new ProtocolError(ErrorCode.authFailed, `bearer has no ${claim} claim`);
  }
  const roomId = payload.roomId;
  if (roomId !== undefined && typeof roomId !== "string") {
    throw new ProtocolError(ErrorCode.authFailed, "bearer roomId claim is not a string");
  }
  return { userId: String(userId), ...(roomId !== undefined ? { roomId } : {}) };
}
