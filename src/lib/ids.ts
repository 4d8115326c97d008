import { randomBytes } from "node:crypto";

/** 16 random bytes as 32 upper-case hex characters: the wire's socketId. */
export function newSocketId(): string {
  return randomBytes(16).toString("hex").toUpperCase();
}

export function newMessageId(): string {
  return randomBytes(16).toString("hex");
}
