// Generated from src-tauri/src/commands.rs by its test `command_bindings`. Do not edit
// this file manually: run FERRY_UPDATE_BINDINGS=1 cargo test -p ferry-desktop.
import type { ConversationSummary } from "./ConversationSummary";
import type { ListPosition } from "./ListPosition";
import type { LocalMessage } from "./LocalMessage";
import type { Presence } from "./Presence";
import type { SearchHit } from "./SearchHit";
import type { SessionView } from "./SessionView";
import type { User } from "./User";

/** Every command the shell registers: its arguments as the UI passes them, and
 * what it answers. */
export type Commands = {
  session: { args: Record<string, never>; returns: SessionView };
  sign_in: { args: { serverUrl: string; username: string; password: string; allowPlainHttp?: boolean | null }; returns: User };
  sign_up: { args: { serverUrl: string; username: string; password: string; displayName: string; allowPlainHttp?: boolean | null }; returns: User };
  sign_out: { args: Record<string, never>; returns: void };
  conversations: { args: { after?: ListPosition | null; limit?: number | null }; returns: Array<ConversationSummary> };
  conversation: { args: { conversationId: string }; returns: ConversationSummary | null };
  messages: { args: { conversationId: string; beforeSeq?: number | null; limit: number }; returns: Array<LocalMessage> };
  send_message: { args: { conversationId: string; body: string; replyTo?: string | null }; returns: LocalMessage };
  send_files: { args: { conversationId: string; paths: Array<string>; caption: string; replyTo?: string | null }; returns: LocalMessage };
  send_file_data: { args: { conversationId: string; name: string; dataBase64: string; caption: string; replyTo?: string | null }; returns: LocalMessage };
  send_clipboard_image: { args: { conversationId: string }; returns: LocalMessage | null };
  cancel_upload: { args: { messageId: string }; returns: void };
  attachment_preview: { args: { messageId: string; index: number }; returns: string };
  download_attachment: { args: { messageId: string; index: number }; returns: string };
  open_image: { args: { messageId: string; index: number }; returns: string };
  save_attachment: { args: { messageId: string; index: number; path: string }; returns: void };
  open_attachment: { args: { messageId: string; index: number }; returns: void };
  edit_message: { args: { messageId: string; body: string }; returns: LocalMessage };
  delete_message: { args: { messageId: string }; returns: LocalMessage | null };
  react: { args: { messageId: string; emoji: string }; returns: LocalMessage };
  retry_message: { args: { messageId: string }; returns: void };
  discard_message: { args: { messageId: string }; returns: void };
  mark_read: { args: { conversationId: string }; returns: void };
  set_typing: { args: { conversationId: string; composing: boolean }; returns: void };
  set_draft: { args: { conversationId: string; body: string }; returns: void };
  set_muted: { args: { conversationId: string; muted: boolean }; returns: void };
  find_users: { args: { prefix: string }; returns: Array<User> };
  open_direct: { args: { username: string }; returns: string };
  create_group: { args: { title: string; memberIds: Array<string> }; returns: string };
  add_members: { args: { conversationId: string; userIds: Array<string> }; returns: void };
  leave_conversation: { args: { conversationId: string }; returns: void };
  accept_request: { args: { conversationId: string }; returns: void };
  dismiss_request: { args: { conversationId: string }; returns: void };
  set_blocked: { args: { userId: string; blocked: boolean }; returns: void };
  blocked_users: { args: Record<string, never>; returns: Array<User> };
  report_user: { args: { userId: string; conversationId?: string | null; messageId?: string | null; reason: string; block: boolean }; returns: void };
  search: { args: { query: string; limit: number }; returns: Array<SearchHit> };
  presence: { args: Record<string, never>; returns: Array<Presence> };
  set_attention: { args: { focused: boolean; openConversation?: string | null }; returns: void };
  reconnect_now: { args: Record<string, never>; returns: void };
  first_paint: { args: Record<string, never>; returns: void };
};
