// @qahub/notifications: the browsers' client of QaHub notifications (DESIGN §10).
export type {
  DeletedNotification,
  Notification,
  Preferences,
  RecentNotifications,
  Stats,
  StreamConnected,
} from "./contracts.js";
export { createInbox, type Inbox, type InboxOptions, type Message } from "./inbox.js";
export type { ChannelLike, LockManagerLike } from "./leader.js";
export type { Frame, InboxError, InboxState, Status } from "./reducer.js";
export type { GetToken } from "./token.js";
