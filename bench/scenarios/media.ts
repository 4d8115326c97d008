/** Scenarios 3 and 4 (media fan-out, rooms at scale): filled in once the media plane has landed. */
export interface FanoutOptions {
  listeners: number[];
  rounds: number;
  durationMs: number;
  bitrate: number;
  cpuProfDir?: string;
  log?: (line: string) => void;
}
export interface RoomsOptions {
  roomCounts: number[];
  rounds: number;
  durationMs: number;
  bitrate: number;
  cpuProfDir?: string;
  log?: (line: string) => void;
}
export async function runFanout(o: FanoutOptions): Promise<void> {
  (o.log ?? console.log)("\n## 3. Media fan-out: not measured yet (the media plane is not on main)");
}
export async function runRooms(o: RoomsOptions): Promise<void> {
  (o.log ?? console.log)("\n## 4. Rooms at scale: not measured yet (the media plane is not on main)");
}
