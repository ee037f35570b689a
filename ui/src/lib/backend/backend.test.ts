import { describe, expect, it, vi } from "vitest";
import { coreEmits, message, mockCore } from "../../test/fixtures";
import * as backend from ".";

describe("backend commands", () => {
  it("call the Rust commands by name with camelCase arguments", async () => {
    const core = mockCore({ messages: () => [], conversations: () => [], open_direct: () => "conv-1" });
    await backend.messages("conv-1", 40, 50);
    await backend.signUp("http://127.0.0.1:8080", "ada", "pw", "Ada");
    await backend.setAttention(true, "conv-1");
    await backend.createGroup("Team", ["u1", "u2"]);
    expect(await backend.openDirect("grace")).toBe("conv-1");
    await backend.firstPaint();
    await backend.conversations();
    await backend.conversations({ updated_at: "2024-01-01T00:00:00.000Z", id: "conv-9" }, 100);
    expect(core.calls).toEqual([
      { cmd: "messages", args: { conversationId: "conv-1", beforeSeq: 40, limit: 50 } },
      {
        cmd: "sign_up",
        args: {
          serverUrl: "http://127.0.0.1:8080",
          username: "ada",
          password: "pw",
          displayName: "Ada",
          allowPlainHttp: false,
        },
      },
      { cmd: "set_attention", args: { focused: true, openConversation: "conv-1" } },
      { cmd: "create_group", args: { title: "Team", memberIds: ["u1", "u2"] } },
      { cmd: "open_direct", args: { username: "grace" } },
      { cmd: "first_paint", args: {} },
      { cmd: "conversations", args: { after: null, limit: null } },
      {
        cmd: "conversations",
        args: { after: { updated_at: "2024-01-01T00:00:00.000Z", id: "conv-9" }, limit: 100 },
      },
    ]);
  });

  it("reject with the core's CommandError", async () => {
    mockCore({
      sign_in: () => {
        throw { kind: "invalid_credentials", message: "wrong username or password" };
      },
    });
    await expect(backend.signIn("http://x", "a", "b")).rejects.toEqual({
      kind: "invalid_credentials",
      message: "wrong username or password",
    });
  });

  it("turn Tauri's own string errors into CommandErrors", async () => {
    mockCore({
      session: () => {
        throw "command session not found";
      },
    });
    await expect(backend.session()).rejects.toEqual({
      kind: "unavailable",
      message: "command session not found",
    });
  });
});

describe("message change commands", () => {
  it("pass the message, the text, the emoji and the reply target in camelCase", async () => {
    const m = message();
    const core = mockCore({ send_message: () => m, edit_message: () => m, react: () => m, delete_message: () => null });
    await backend.sendMessage("conv-1", "plain");
    await backend.sendMessage("conv-1", "an answer", "parent-1");
    expect(await backend.editMessage(m.id, "fixed")).toEqual(m);
    expect(await backend.react(m.id, "🎉")).toEqual(m);
    // Null: the message was never sent and is simply gone.
    expect(await backend.deleteMessage(m.id)).toBeNull();
    expect(core.calls).toEqual([
      { cmd: "send_message", args: { conversationId: "conv-1", body: "plain", replyTo: null } },
      { cmd: "send_message", args: { conversationId: "conv-1", body: "an answer", replyTo: "parent-1" } },
      { cmd: "edit_message", args: { messageId: m.id, body: "fixed" } },
      { cmd: "react", args: { messageId: m.id, emoji: "🎉" } },
      { cmd: "delete_message", args: { messageId: m.id } },
    ]);
  });

  it("reject with the core's CommandError", async () => {
    mockCore({
      edit_message: () => {
        throw { kind: "forbidden", message: "only the author can edit a message" };
      },
    });
    await expect(backend.editMessage("m", "x")).rejects.toEqual({
      kind: "forbidden",
      message: "only the author can edit a message",
    });
  });
});

describe("backend events", () => {
  it("deliver the core's event payloads until unlistened", async () => {
    mockCore();
    const seen = vi.fn();
    const stop = await backend.onEvent(seen);
    const m = message();
    await coreEmits({ type: "message", message: m });
    expect(seen).toHaveBeenCalledWith({ type: "message", message: m });
    stop();
    await coreEmits({ type: "resync" });
    expect(seen).toHaveBeenCalledTimes(1);
  });
});

describe("openUrl", () => {
  it("opens web links through the opener plugin", async () => {
    const core = mockCore();
    await backend.openUrl("https://example.com/x");
    expect(core.calls).toEqual([
      { cmd: "plugin:opener|open_url", args: { url: "https://example.com/x", with: undefined } },
    ]);
  });

  it("refuses anything but http(s)", async () => {
    const core = mockCore();
    await expect(backend.openUrl("javascript:alert(1)")).rejects.toMatchObject({ kind: "invalid_request" });
    expect(core.calls).toEqual([]);
  });
});
