import { emit } from "@tauri-apps/api/event";
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

  it("call the request, block and report commands with the shell's argument names", async () => {
    const core = mockCore({ blocked_users: () => [] });
    await backend.acceptRequest("conv-1");
    await backend.dismissRequest("conv-2");
    await backend.setBlocked("u1", true);
    expect(await backend.blockedUsers()).toEqual([]);
    await backend.reportUser("u1", "conv-1", null, "spam", false);
    expect(core.calls).toEqual([
      { cmd: "accept_request", args: { conversationId: "conv-1" } },
      { cmd: "dismiss_request", args: { conversationId: "conv-2" } },
      { cmd: "set_blocked", args: { userId: "u1", blocked: true } },
      { cmd: "blocked_users", args: {} },
      {
        cmd: "report_user",
        args: { userId: "u1", conversationId: "conv-1", messageId: null, reason: "spam", block: false },
      },
    ]);
  });

  it("ask for a safety number with the other user as `with`, answering the digits or null", async () => {
    const digits = "1".repeat(60);
    let number: string | null = digits;
    const core = mockCore({ safety_number: () => number });
    expect(await backend.safetyNumber("conv-1", "u1")).toBe(digits);
    number = null;
    expect(await backend.safetyNumber("conv-1", "u1")).toBeNull();
    expect(core.argsOf("safety_number")).toEqual([
      { conversationId: "conv-1", with: "u1" },
      { conversationId: "conv-1", with: "u1" },
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

  it("call the request, block and report commands with the shell's argument names", async () => {
    const core = mockCore({ blocked_users: () => [] });
    await backend.acceptRequest("conv-1");
    await backend.dismissRequest("conv-2");
    await backend.setBlocked("u1", true);
    expect(await backend.blockedUsers()).toEqual([]);
    await backend.reportUser("u1", "conv-1", null, "spam", false);
    expect(core.calls).toEqual([
      { cmd: "accept_request", args: { conversationId: "conv-1" } },
      { cmd: "dismiss_request", args: { conversationId: "conv-2" } },
      { cmd: "set_blocked", args: { userId: "u1", blocked: true } },
      { cmd: "blocked_users", args: {} },
      {
        cmd: "report_user",
        args: { userId: "u1", conversationId: "conv-1", messageId: null, reason: "spam", block: false },
      },
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

describe("attachment commands", () => {
  it("pass the message, the file's place, paths and bytes in camelCase", async () => {
    const m = message();
    const core = mockCore({
      send_files: () => m,
      send_file_data: () => m,
      attachment_preview: () => "data:image/png;base64,AA==",
      download_attachment: () => "/cache/report.pdf",
      open_image: () => "data:image/jpeg;base64,BB==",
    });
    expect(await backend.sendFiles("conv-1", ["/home/me/a.png", "/home/me/b.pdf"], "two files")).toEqual(m);
    await backend.sendFiles("conv-1", ["/home/me/a.png"], "", "parent-1");
    await backend.sendFileData("conv-1", "Pasted image.png", "iVBORw==", "");
    await backend.cancelUpload(m.id);
    expect(await backend.attachmentPreview(m.id, 0)).toBe("data:image/png;base64,AA==");
    expect(await backend.downloadAttachment(m.id, 1)).toBe("/cache/report.pdf");
    expect(await backend.openImage(m.id, 0)).toBe("data:image/jpeg;base64,BB==");
    await backend.saveAttachment(m.id, 1, "/home/me/Documents/report.pdf");
    await backend.openAttachment(m.id, 1);
    expect(core.calls).toEqual([
      {
        cmd: "send_files",
        args: { conversationId: "conv-1", paths: ["/home/me/a.png", "/home/me/b.pdf"], caption: "two files", replyTo: null },
      },
      { cmd: "send_files", args: { conversationId: "conv-1", paths: ["/home/me/a.png"], caption: "", replyTo: "parent-1" } },
      {
        cmd: "send_file_data",
        args: { conversationId: "conv-1", name: "Pasted image.png", dataBase64: "iVBORw==", caption: "" },
      },
      { cmd: "cancel_upload", args: { messageId: m.id } },
      { cmd: "attachment_preview", args: { messageId: m.id, index: 0 } },
      { cmd: "download_attachment", args: { messageId: m.id, index: 1 } },
      { cmd: "open_image", args: { messageId: m.id, index: 0 } },
      { cmd: "save_attachment", args: { messageId: m.id, index: 1, path: "/home/me/Documents/report.pdf" } },
      { cmd: "open_attachment", args: { messageId: m.id, index: 1 } },
    ]);
  });

  it("pick files and a place to save through the dialog plugin; cancelling picks nothing", async () => {
    let picked: string[] | null = ["/home/me/a.png"];
    const core = mockCore({
      "plugin:dialog|open": () => picked,
      "plugin:dialog|save": () => "/home/me/report.pdf",
    });
    expect(await backend.pickFiles()).toEqual(["/home/me/a.png"]);
    picked = null;
    expect(await backend.pickFiles()).toEqual([]);
    expect(await backend.pickSavePath("report.pdf")).toBe("/home/me/report.pdf");
    expect(core.argsOf("plugin:dialog|open")[0]).toEqual({ options: { multiple: true, title: "Attach files" } });
    expect(core.argsOf("plugin:dialog|save")).toEqual([{ options: { defaultPath: "report.pdf" } }]);
  });

  it("ask where to save the data export, offering tar archives; cancelling picks nothing", async () => {
    let picked: string | null = "/home/me/export.tar";
    const core = mockCore({ "plugin:dialog|save": () => picked });
    expect(await backend.pickExportPath("ferry-export-ada-2026-11-25.tar")).toBe("/home/me/export.tar");
    picked = null;
    expect(await backend.pickExportPath("ferry-export-ada-2026-11-25.tar")).toBeNull();
    expect(core.argsOf("plugin:dialog|save")[0]).toEqual({
      options: {
        defaultPath: "ferry-export-ada-2026-11-25.tar",
        filters: [{ name: "Tar archive", extensions: ["tar"] }],
      },
    });
  });

  it("pick one image for a profile picture, offering images only; cancelling picks nothing", async () => {
    let picked: string | null = "/home/me/Pictures/ada.jpg";
    const core = mockCore({ "plugin:dialog|open": () => picked });
    expect(await backend.pickPicture()).toBe("/home/me/Pictures/ada.jpg");
    picked = null;
    expect(await backend.pickPicture()).toBeNull();
    expect(core.argsOf("plugin:dialog|open")[0]).toEqual({
      options: {
        multiple: false,
        directory: false,
        title: "Choose a picture",
        filters: [{ name: "Images", extensions: ["jpg", "jpeg", "png", "gif", "webp"] }],
      },
    });
  });

  it("reject with a CommandError when the dialog fails", async () => {
    mockCore({
      "plugin:dialog|open": () => {
        throw "dialog.open not allowed";
      },
    });
    await expect(backend.pickFiles()).rejects.toEqual({ kind: "unavailable", message: "dialog.open not allowed" });
  });

  it("tell files dragged over the window, until unlistened", async () => {
    mockCore();
    const seen = vi.fn();
    const stop = await backend.onFileDrag(seen);
    const position = { x: 10, y: 20 };
    await emit("tauri://drag-enter", { paths: ["/home/me/a.png"], position });
    await emit("tauri://drag-over", { position });
    await emit("tauri://drag-leave", null);
    await emit("tauri://drag-drop", { paths: ["/home/me/a.png"], position });
    expect(seen.mock.calls.map(([drag]) => drag)).toEqual([
      { type: "enter", paths: ["/home/me/a.png"] },
      { type: "over" },
      { type: "leave" },
      { type: "drop", paths: ["/home/me/a.png"] },
    ]);
    stop();
    await emit("tauri://drag-drop", { paths: ["/x"], position });
    expect(seen).toHaveBeenCalledTimes(4);
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

describe("account commands", () => {
  it("pass the account's fields, passwords, codes and session ids with the shell's argument names", async () => {
    // The core refuses to send history to a device that did not ask: this one did.
    const core = mockCore({ send_history: () => 12 });
    await backend.accountDetails();
    await backend.rename("Ada");
    await backend.setPicture("/home/me/Pictures/ada.jpg");
    await backend.removePicture();
    await backend.userPicture("00000000-0000-7000-8000-0000000000f1");
    await backend.changePassword("old password", "new password", true);
    await backend.setEmail("ada@example.com", "pw");
    await backend.setEmail(null, "pw");
    await backend.verifyEmail("c0de");
    await backend.setMissedMessageMail(false);
    await backend.accountSessions();
    await backend.endSession("session-2");
    await backend.historyRequests();
    await backend.sendHistory("session-3");
    await backend.dismissHistoryRequest("session-4");
    await backend.askForHistory();
    await backend.exportAccount("/home/me/ferry-export-ada-2026-11-25.tar");
    await backend.deleteAccount("pw");
    await backend.forgotPassword("https://chat.example.com", "ada");
    await backend.resetPassword("http://chat.example.com", "c0de", "new password", true);
    expect(core.calls).toEqual([
      { cmd: "account_details", args: {} },
      { cmd: "rename", args: { displayName: "Ada" } },
      { cmd: "set_picture", args: { path: "/home/me/Pictures/ada.jpg" } },
      { cmd: "remove_picture", args: {} },
      { cmd: "user_picture", args: { picture: "00000000-0000-7000-8000-0000000000f1" } },
      {
        cmd: "change_password",
        args: { currentPassword: "old password", newPassword: "new password", keepOtherSessions: true },
      },
      { cmd: "set_email", args: { email: "ada@example.com", password: "pw" } },
      { cmd: "set_email", args: { email: null, password: "pw" } },
      { cmd: "verify_email", args: { code: "c0de" } },
      { cmd: "set_missed_message_mail", args: { on: false } },
      { cmd: "account_sessions", args: {} },
      { cmd: "end_session", args: { sessionId: "session-2" } },
      { cmd: "history_requests", args: {} },
      { cmd: "send_history", args: { sessionId: "session-3" } },
      { cmd: "dismiss_history_request", args: { sessionId: "session-4" } },
      { cmd: "ask_for_history", args: {} },
      { cmd: "export_account", args: { path: "/home/me/ferry-export-ada-2026-11-25.tar" } },
      { cmd: "delete_account", args: { password: "pw" } },
      { cmd: "forgot_password", args: { serverUrl: "https://chat.example.com", login: "ada", allowPlainHttp: false } },
      {
        cmd: "reset_password",
        args: { serverUrl: "http://chat.example.com", code: "c0de", newPassword: "new password", allowPlainHttp: true },
      },
    ]);
  });
});
