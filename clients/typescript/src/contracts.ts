// Generated from docs/schemas by scripts/generate-types.mjs (npm run generate): do not edit.
// Readers must tolerate fields these types do not list (DESIGN §11).

/** Where notifications of one type (or, as `default`, of every type) are delivered. */
export interface ChannelSettings {
  readonly inApp: boolean;
}

/** Reply to a command that was refused; `error.code` is REST's code for the same refusal. */
export interface CommandFailed {
  readonly error: ErrorDetail;
  readonly ok: false;
}

export type CommandReply = CommandSucceeded | CommandFailed;

/** Reply to a command that created (or had already created) its notification, or that
the recipient's preferences suppressed (`suppressed`: no `notification` then). */
export interface CommandSucceeded {
  readonly notification?: Notification | null;
  readonly ok: true;
  readonly reason?: "preference" | null;
  readonly suppressed?: boolean;
}

/** Body of a `notification.create` command: a REST create body with an id and version. */
export interface CreateNotificationCommand {
  readonly commandId: string;
  readonly critical?: boolean;
  readonly data: string | { [key: string]: unknown };
  readonly notifiableId: string;
  readonly notifiableType: "user";
  readonly schemaVersion: 1;
  readonly type: string;
}

/** Data of the `notification.deleted` SSE event. */
export interface DeletedNotification {
  readonly id: string;
}

export type DomainEvent = NotificationCreated | NotificationUpdated | NotificationDeleted;

export interface ErrorDetail {
  readonly code: string;
  readonly message: string;
}

/** One notification as the API returns it and the stream delivers it. */
export interface Notification {
  readonly archivedAt: string | null;
  readonly createdAt: string;
  readonly data: string | { [key: string]: unknown };
  readonly id: string;
  readonly notifiableId: string;
  readonly notifiableType: "user";
  readonly readAt: string | null;
  readonly seenAt: string | null;
  readonly type: string;
}

/** A notification was created for `user_id`. */
export interface NotificationCreated {
  readonly eventId: string;
  readonly eventType: "notification.created";
  readonly notification: Notification;
  readonly occurredAt: string;
  readonly schemaVersion: 1;
  readonly stats: Stats;
  readonly userId: string;
}

/** A notification was deleted (bulk deletes emit one event per id). */
export interface NotificationDeleted {
  readonly eventId: string;
  readonly eventType: "notification.deleted";
  readonly notificationId: string;
  readonly occurredAt: string;
  readonly schemaVersion: 1;
  readonly stats: Stats;
  readonly userId: string;
}

/** A notification's read state changed. */
export interface NotificationUpdated {
  readonly eventId: string;
  readonly eventType: "notification.updated";
  readonly notification: Notification;
  readonly occurredAt: string;
  readonly schemaVersion: 1;
  readonly stats: Stats;
  readonly userId: string;
}

/** `GET /api/v1/notifications/preferences`: a user's delivery preferences.

A type named in `types` follows its own settings, any other `default`. */
export interface Preferences {
  readonly default: ChannelSettings;
  readonly types: { [key: string]: unknown };
}

/** Data of the `recent` SSE event: up to ten unread notifications. */
export interface RecentNotifications {
  readonly notifications: readonly Notification[];
}

/** A user's counters: exact, maintained in the same transaction as each change.

Archived notifications count in none of them. `unseen` (DESIGN §13) is
`unread` when the writer did not send it: before "seen" existed, every
unread notification was an unseen one. */
export interface Stats {
  readonly read: number;
  readonly total: number;
  readonly unread: number;
  readonly unseen: number;
}

/** Data of the `connected` SSE event, the first of every stream (DESIGN §5). */
export interface StreamConnected {
  readonly clientId: string;
  readonly recovered: boolean;
  readonly timestamp: string;
  readonly userId: string;
}

/** The answer to a create that the recipient's preferences turned off: nothing was
stored or sent (DESIGN §13). */
export interface Suppressed {
  readonly reason: "preference";
  readonly suppressed: true;
}
