/** Domain events published to the event bus (RabbitMQ exchange `live_events`); see docs/events.asyncapi.yaml. */
export interface SessionRef {
  socketId: string;
  userId: string;
}

export interface RoomJoinPayload {
  roomId: string;
  roomSize: number;
  socketId: string;
  userId: string;
  platform: string;
  deviceName: string;
  networkType: string;
  appVersion: string;
  version: string;
  ip: string;
  bitrate: number;
}

export interface RoomLeavePayload {
  roomId: string;
  roomSize: number;
  socketId: string;
  userId: string;
}

export interface RoomLivePayload {
  roomId: string;
  roomSize: number;
  sessions: SessionRef[];
}

export interface MemberRef {
  roomId: string;
  socketId: string;
  userId: string;
}

export type DomainEvent =
  | { key: "room.join"; payload: RoomJoinPayload }
  | { key: "room.leave"; payload: RoomLeavePayload }
  | { key: "room.live"; payload: RoomLivePayload }
  | { key: "client.freeze"; payload: MemberRef }
  | { key: "client.cpu"; payload: MemberRef & { cpuUsed: number } }
  | { key: "client.network"; payload: MemberRef & { networkType: string } }
  | { key: "media.freeze"; payload: MemberRef & { frozen: boolean; durationMs: number } };

export type EventKey = DomainEvent["key"];
