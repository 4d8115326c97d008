import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";

/** A fresh HS256 secret for one benchmark run. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Real HS256 JWTs with a userId claim, signed before the clock starts. */
export async function signTokens(
  secret: string,
  userIds: readonly string[],
  ttlSeconds = 3600,
): Promise<string[]> {
  const key = new TextEncoder().encode(secret);
  const out: string[] = [];
  for (const userId of userIds) {
    out.push(
      await new SignJWT({ userId })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key),
    );
  }
  return out;
}
