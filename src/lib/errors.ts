/** Numeric error codes of the wire protocol (see docs/protocol.md). */
export const ErrorCode = {
  internal: 1280,
  invalidMessage: 1282,
  authFailed: 1286,
  eventBus: 1289,
  unknownAction: 1296,
  notJoined: 1297,
  noSuchTarget: 1298,
  roomEmpty: 1299,
  alreadyJoined: 1315,
  roomFull: 1316,
  noSuchSocket: 1317,
  noSuchRoom: 1319,
  invalidSdp: 1320,
  eventError: 1321,
  rateLimited: 1322,
  network: 1328,
  sdpAlreadyNegotiated: 1330,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

/** An error the client caused or must be told about; carries the code sent in `e`. */
export class ProtocolError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/** A bug in this server (an impossible state, a wrong call). Logged and counted, answered with 1280. */
export class ProgrammerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProgrammerError";
  }
}

/** Invalid configuration at start: the message names the variable and what is wrong. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
