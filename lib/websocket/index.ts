// `fastify-authentication/websocket`: what WebSocket routes need beyond the core plugin.
export {
  MemoryTicketStore, TicketUser, webSocketTickets,
  type MemoryTicketStoreOptions, type TicketOwner, type TicketStore, type WebSocketTickets, type WebSocketTicketsOptions
} from './tickets'
