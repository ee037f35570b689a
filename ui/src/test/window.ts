// The whole window's core for tests that walk it (the keyboard, axe): a mocked core
// holding who is signed in, the conversation list and each conversation's messages, as
// the real one answers for them, and a safety number with each member of an encrypted
// conversation.
import type { ConversationSummary } from "../lib/bindings/ConversationSummary";
import type { LocalMessage } from "../lib/bindings/LocalMessage";
import type { User } from "../lib/bindings/User";
import { listPage, ME, mockCore, safetyDigits, type Handlers } from "./fixtures";

export function windowCore(options: {
  me?: User | null;
  conversations?: ConversationSummary[];
  messages?: Record<string, LocalMessage[]>;
  handlers?: Handlers;
}) {
  const store = {
    me: options.me === undefined ? ME : options.me,
    conversations: options.conversations ?? [],
    messages: options.messages ?? {},
  };
  const mock = mockCore({
    session: () => ({
      user: store.me,
      connection: store.me ? { state: "online" } : { state: "signed_out" },
      last_account: null,
    }),
    conversations: (args) => listPage(store.conversations, args),
    conversation: (args) => store.conversations.find((c) => c.id === args.conversationId) ?? null,
    messages: (args) => {
      const all = store.messages[args.conversationId as string] ?? [];
      const before = args.beforeSeq as number | null;
      const limit = args.limit as number;
      if (before !== null) return all.filter((m) => m.seq !== null && m.seq < before).slice(-limit);
      const sent = all.filter((m) => m.seq !== null).slice(-limit);
      return [...sent, ...all.filter((m) => m.seq === null)];
    },
    safety_number: (args) => {
      const held = store.conversations.find((c) => c.id === args.conversationId);
      const member = held?.encrypted && held.members.some((m) => m.user.id === args.with);
      return member && store.me ? safetyDigits(store.me.id, args.with as string) : null;
    },
    ...options.handlers,
  });
  return { store, ...mock };
}
