import { type Logger, pino } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level: string;
  /** Pretty, colourised lines for a human at a terminal; JSON lines otherwise. */
  pretty: boolean;
  destination?: NodeJS.WritableStream;
}

export function newLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: { pid: process.pid } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  if (options.pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true } } });
  }
  return pino(base);
}

/** A logger that writes nothing, for tests and tools. */
export function newSilentLogger(): Logger {
  return pino({ level: "silent" });
}
