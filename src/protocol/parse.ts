import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import { type Action, type ClientMessage, isAction, schemaFor } from "./messages.ts";

export type ParseResult =
  | { ok: true; message: ClientMessage }
  /** `action` is set when the envelope named a known action, so the reply can be `<action>R`. */
  | { ok: false; action: string; error: ProtocolError };

/** Turns one text frame into a typed message, or says which error reply to send. */
export function parseClientMessage(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail("general", ErrorCode.invalidMessage, "invalid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail("general", ErrorCode.invalidMessage, "message is not an object");
  }
  const envelope = raw as { a?: unknown; d?: unknown };
  if (typeof envelope.a !== "string" || envelope.a.length === 0 || envelope.a.length > 64) {
    return fail("general", ErrorCode.invalidMessage, "missing action");
  }
  if (!isAction(envelope.a)) return fail(safeAction(envelope.a), ErrorCode.unknownAction, "unknown action");
  const action: Action = envelope.a;
  const data = schemaFor(action).safeParse(envelope.d);
  if (!data.success) {
    const issue = data.error.issues[0];
    const where = issue ? `${issue.path.join(".") || "d"}: ${issue.message}` : "invalid data";
    return fail(action, ErrorCode.invalidMessage, where);
  }
  return { ok: true, message: { a: action, d: data.data } as ClientMessage };
}

function fail(
  action: string,
  code: typeof ErrorCode.invalidMessage | typeof ErrorCode.unknownAction,
  message: string,
): ParseResult {
  return { ok: false, action, error: new ProtocolError(code, message) };
}

/** Unknown actions are echoed as `<action>R` only when they look like an identifier. */
function safeAction(a: string): string {
  return /^[A-Za-z][A-Za-z0-9]{0,40}$/.test(a) ? a : "general";
}
