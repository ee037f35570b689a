// Mentions in the whole window against a mocked core: `<@id>` in a message shows as "@"
// and the member's name now (a chip in the thread, plain in the list, a quote and a
// search hit), and writing one ("@", the popup, a choice) sends, saves and edits the
// token while the box shows the name.
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import type { ConversationSummary } from "./lib/bindings/ConversationSummary";
import type { LocalMessage } from "./lib/bindings/LocalMessage";
import { mentionToken } from "./lib/mentions";
import { seriousViolations } from "./test/a11y";
import { ago, coreEmits, group, ME, member, message, user, type Handlers } from "./test/fixtures";
import { windowCore } from "./test/window";
import "./test/screens";

const ada = user("Ada Lovelace", "ada");
const grace = user("Grace Hopper", "grace");
const STRANGER = "019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a11";

// index.html gives the window its title; jsdom's document has none (axe asks for one).
beforeAll(() => {
  document.title = "Ferry";
});

function team(extra: Partial<ConversationSummary> = {}): ConversationSummary {
  return group("Team", [ada, grace], {
    members: [member(ME, { role: "owner" }), member(ada), member(grace)],
    updated_at: ago(1),
    ...extra,
  });
}

/** The window with the team's conversation open, holding `held`. */
async function open(conversation: ConversationSummary, held: LocalMessage[] = [], handlers: Handlers = {}) {
  const placed = held.map((m) => ({ ...m, conversation_id: conversation.id }));
  const core = windowCore({
    conversations: [conversation],
    messages: { [conversation.id]: placed },
    handlers: {
      send_message: (args) => message({ conversation_id: conversation.id, seq: null, status: "pending", body: args.body as string }),
      ...handlers,
    },
  });
  render(App);
  await userEvent.click(await screen.findByTestId("conversation-item"));
  const composer = (await screen.findByTestId("composer")) as HTMLTextAreaElement;
  if (placed.length) await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(placed.length));
  return { core, composer, placed };
}

function options(): HTMLElement[] {
  return within(screen.getByRole("listbox", { name: "People to mention" })).getAllByRole("option");
}

describe("a mention in a message", () => {
  it("shows the member's name now, in the thread and the list, and follows a rename", async () => {
    const said = message({
      seq: 1,
      mine: false,
      sender_id: grace.id,
      body: `${mentionToken(ada.id)} see https://example.com/plan, ${mentionToken(ME.id)} and ${mentionToken(STRANGER)}`,
    });
    const conversation = team({ last_message: said, last_seq: 1 });
    await open(conversation, [said]);

    const chips = within(screen.getByTestId("thread")).getAllByTestId("mention");
    expect(chips.map((chip) => chip.textContent)).toEqual(["@Ada Lovelace", "@Morgan Me", "@unknown"]);
    expect(chips.map((chip) => chip.classList.contains("me"))).toEqual([false, true, false]);
    // The link after a mention is still a link, and ends where the text says.
    expect(within(screen.getByTestId("thread")).getByTestId("message-link")).toHaveAttribute("href", "https://example.com/plan");
    // What a screen reader says of it names them too.
    expect(screen.getByTestId("message").getAttribute("aria-label")).toContain("@Ada Lovelace see");
    const item = screen.getByTestId("conversation-item");
    expect(within(item).getByText(/Grace: @Ada Lovelace see/)).toBeInTheDocument();

    const renamed = { ...ada, display_name: "Ada King" };
    await coreEmits({
      type: "conversation",
      summary: { ...conversation, members: [member(ME, { role: "owner" }), member(renamed), member(grace)] },
    });
    await waitFor(() => expect(within(screen.getByTestId("thread")).getAllByTestId("mention")[0]).toHaveTextContent("@Ada King"));
    expect(within(item).getByText(/Grace: @Ada King see/)).toBeInTheDocument();
  });

  it("reads as a name in a reply's quote and a search hit", async () => {
    const asked = message({ seq: 1, mine: false, sender_id: grace.id, body: `${mentionToken(ada.id)} lunch?` });
    const reply = message({
      seq: 2,
      mine: false,
      sender_id: ada.id,
      reply_to: asked.id,
      quote: { id: asked.id, sender_id: grace.id, body: asked.body, seq: 1, deleted: false, unreadable: false },
      body: "yes",
    });
    const conversation = team();
    await open(conversation, [asked, reply], {
      search: () => [
        {
          message_id: asked.id,
          conversation_id: conversation.id,
          seq: 1,
          sender_id: grace.id,
          snippet: `${mentionToken(ada.id)} \u0002lunch\u0003?`,
          created_at: ago(3),
        },
      ],
    });
    expect(screen.getByTestId("quote")).toHaveTextContent("@Ada Lovelace lunch?");

    await userEvent.type(screen.getByTestId("search-input"), "lunch");
    const hit = await screen.findByTestId("search-result");
    expect(hit).toHaveTextContent("@Ada Lovelace lunch?");
    expect(within(hit).getByText("lunch").tagName).toBe("MARK");
  });
});

describe("writing a mention", () => {
  it("offers the members matching what follows @, chosen with the keys, and sends the token", async () => {
    const { core, composer } = await open(team());
    await userEvent.type(composer, "hi @");
    expect(options().map((o) => o.dataset.userId)).toEqual([ada.id, grace.id]);
    expect(screen.getByRole("option", { name: "Ada Lovelace @ada" })).toBe(options()[0]);
    // Nobody mentions themself.
    expect(within(screen.getByRole("listbox", { name: "People to mention" })).queryByText("Morgan Me")).toBeNull();
    await userEvent.type(composer, "GR");
    expect(options()).toHaveLength(1);
    expect(composer).toHaveAttribute("aria-activedescendant", options()[0]!.id);
    expect(options()[0]).toHaveAttribute("aria-selected", "true");

    await userEvent.keyboard("{Enter}");
    expect(composer.value).toBe("hi @Grace Hopper ");
    expect(screen.queryByRole("listbox", { name: "People to mention" })).toBeNull();
    expect(composer).not.toHaveAttribute("aria-activedescendant");
    expect(core.count("send_message")).toBe(0);

    await userEvent.type(composer, "and @ada by hand{Enter}");
    await waitFor(() => expect(core.count("send_message")).toBe(1));
    expect(core.argsOf("send_message")[0]).toMatchObject({
      body: `hi ${mentionToken(grace.id)} and @ada by hand`,
    });
  });

  it("moves with Up and Down, chooses with Tab, and closes with Esc without dropping the reply", async () => {
    const asked = message({ seq: 1, mine: false, sender_id: ada.id, body: "who brings the tapes?" });
    const { composer } = await open(team(), [asked]);
    await userEvent.click(within(screen.getByTestId("message")).getByTestId("action-reply"));
    expect(await screen.findByTestId("reply-bar")).toBeInTheDocument();
    await userEvent.type(composer, "@");
    await userEvent.keyboard("{ArrowDown}");
    expect(options()[1]).toHaveAttribute("aria-selected", "true");
    await userEvent.keyboard("{ArrowDown}");
    expect(options()[0]).toHaveAttribute("aria-selected", "true");
    await userEvent.keyboard("{ArrowUp}{Tab}");
    expect(composer.value).toBe("@Grace Hopper ");
    expect(composer).toHaveFocus();

    await userEvent.type(composer, "@a");
    expect(options()).toHaveLength(1);
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("listbox", { name: "People to mention" })).toBeNull();
    expect(composer.value).toBe("@Grace Hopper @a");
    expect(screen.getByTestId("reply-bar")).toBeInTheDocument();
    // Closed, Esc is the composer's again: it drops the reply.
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("reply-bar")).toBeNull();
  });

  it("chooses with a click, keeping the cursor in the box", async () => {
    const { core, composer } = await open(team());
    await userEvent.type(composer, "ping @ad");
    await userEvent.click(options()[0]!);
    expect(composer.value).toBe("ping @Ada Lovelace ");
    expect(composer).toHaveFocus();
    await userEvent.click(screen.getByTestId("send"));
    await waitFor(() => expect(core.argsOf("send_message")[0]).toMatchObject({ body: `ping ${mentionToken(ada.id)}` }));
  });

  it("has nothing serious for axe with the popup open", async () => {
    const { composer } = await open(team());
    await userEvent.type(composer, "@");
    expect(await seriousViolations()).toEqual([]);
  });

  it("keeps the draft with its tokens, and shows it with names", async () => {
    const { core, composer } = await open(team({ draft: `${mentionToken(ada.id)} remember` }));
    expect(composer.value).toBe("@Ada Lovelace remember");
    await userEvent.type(composer, " @gr{Enter}x");
    await fireEvent.blur(composer);
    await waitFor(() =>
      expect(core.argsOf("set_draft").at(-1)).toEqual({
        conversationId: expect.any(String),
        body: `${mentionToken(ada.id)} remember ${mentionToken(grace.id)} x`,
      }),
    );
  });

  it("edits a message with mentions as names, and saves the tokens", async () => {
    const mine = message({ seq: 1, body: `thanks ${mentionToken(ada.id)}` });
    const { core } = await open(team(), [mine], {
      edit_message: (args) => ({ ...mine, body: args.body as string, edited: true }),
    });
    const row = screen.getByTestId("message");
    await userEvent.click(within(row).getByTestId("action-edit"));
    const box = (await within(row).findByTestId("edit-input")) as HTMLTextAreaElement;
    expect(box.value).toBe("thanks @Ada Lovelace");
    await userEvent.type(box, " and @gr");
    expect(options()).toHaveLength(1);
    await userEvent.keyboard("{Enter}");
    expect(box.value).toBe("thanks @Ada Lovelace and @Grace Hopper ");
    // Enter chose; the edit is still open until Enter again.
    expect(core.count("edit_message")).toBe(0);
    await userEvent.keyboard("{Enter}");
    await waitFor(() =>
      expect(core.argsOf("edit_message")).toEqual([
        { messageId: mine.id, body: `thanks ${mentionToken(ada.id)} and ${mentionToken(grace.id)}` },
      ]),
    );
  });
});
