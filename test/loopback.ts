import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Starts `server` on a free port of 127.0.0.1 and returns the port. */
export async function listenLoopback(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Stops accepting and waits until `server` is closed; drops idle keep-alive connections of an HTTP server first. */
export async function closeServer(server: Server | HttpServer | null | undefined): Promise<void> {
  if (!server) return;
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** A port of 127.0.0.1 free right now, for programs that must be told their port up front. */
export async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listenLoopback(s);
  await closeServer(s);
  return port;
}
