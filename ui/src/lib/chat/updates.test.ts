// Ferry's updates against a mocked shell: the version read once, a check's three answers
// (nothing newer, an update, the shell's refusal in its words), an install followed by
// its events up to a failure that leaves the update to try again, and an update the
// shell found by itself announced, dismissed, and not announced twice. The events come
// through the window's `Chat`, signed out too: updates are the app's, not the account's.
import { waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { Chat } from "../chat.svelte";
import { availableUpdate, coreEmits, ME, mockCore } from "../../test/fixtures";
import { Updates } from "./updates.svelte";

/**
 * The window's store signed in (or not), listening to a shell whose feed answers `feed`
 * (an update unless told otherwise) and whose `install_update` waits until the test
 * settles it (`install().reject(...)`).
 */
async function windowWithUpdate({ signedIn = true, feed = () => availableUpdate() as unknown } = {}) {
  const installs: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  const core = mockCore({
    session: () => ({ user: signedIn ? ME : null, connection: signedIn ? { state: "online" } : { state: "signed_out" } }),
    conversations: () => [],
    check_for_update: () => feed(),
    install_update: () => new Promise<void>((resolve, reject) => installs.push({ resolve, reject })),
  });
  const chat = new Chat();
  await chat.start();
  return { core, chat, updates: chat.updates, install: () => installs.at(-1)! };
}

describe("updates", () => {
  it("read the running version once", async () => {
    const core = mockCore({ app_version: () => "0.3.1" });
    const updates = new Updates();
    expect(updates.version).toBeNull();
    await updates.load();
    await updates.load();
    expect(updates.version).toBe("0.3.1");
    expect(core.count("app_version")).toBe(1);
  });

  it("show no version with a shell that cannot say", async () => {
    mockCore({
      app_version: () => {
        throw "command app_version not found";
      },
    });
    const updates = new Updates();
    await updates.load();
    expect(updates.version).toBeNull();
  });

  it("say so when the feed has nothing newer", async () => {
    const core = mockCore({ check_for_update: () => null });
    const updates = new Updates();
    const checking = updates.check();
    expect(updates.phase).toEqual({ state: "checking" });
    expect(updates.busy).toBe(true);
    await checking;
    expect(updates.phase).toEqual({ state: "up_to_date" });
    expect(updates.offer).toBeNull();
    expect(core.count("check_for_update")).toBe(1);
  });

  it("hold the update a check found, without announcing it (the person asked)", async () => {
    mockCore({ check_for_update: () => availableUpdate({ version: "0.4.0" }) });
    const updates = new Updates();
    await updates.check();
    expect(updates.phase).toEqual({ state: "available" });
    expect(updates.offer).toEqual(availableUpdate({ version: "0.4.0" }));
    expect(updates.announcement).toBeNull();
  });

  it("ask once for two clicks in a row", async () => {
    let answer = null as ((found: null) => void) | null;
    // The first question waits for the test; later ones are answered at once.
    const core = mockCore({
      check_for_update: () => (answer ? null : new Promise<null>((resolve) => (answer = resolve))),
    });
    const updates = new Updates();
    const first = updates.check();
    const second = updates.check();
    await waitFor(() => expect(core.count("check_for_update")).toBe(1));
    answer!(null);
    await Promise.all([first, second]);
    expect(core.count("check_for_update")).toBe(1);
    expect(updates.phase).toEqual({ state: "up_to_date" });
    // Once answered, the next click asks again.
    await updates.check();
    expect(core.count("check_for_update")).toBe(2);
  });

  it("show the shell's refusal as it is, keeping an update found before", async () => {
    let refuse = false;
    mockCore({
      check_for_update: () => {
        if (refuse) throw { kind: "local", message: "could not ask for updates (timed out); try again later" };
        return availableUpdate();
      },
    });
    const updates = new Updates();
    await updates.check();
    refuse = true;
    await updates.check();
    expect(updates.phase).toEqual({
      state: "failed",
      during: "check",
      message: "could not ask for updates (timed out); try again later",
    });
    expect(updates.offer).toEqual(availableUpdate());
    expect(updates.busy).toBe(false);
  });

  it("follow an install through its events, and after a failure let it be tried again", async () => {
    const { core, chat, updates, install } = await windowWithUpdate();
    await updates.check();
    const first = updates.install();
    expect(updates.phase).toEqual({ state: "downloading", received: 0, total: null });
    expect(updates.busy).toBe(true);
    // Neither a check nor a second install starts while one is under way.
    await updates.check();
    await updates.install();
    expect(core.count("check_for_update")).toBe(1);
    expect(core.count("install_update")).toBe(1);

    await coreEmits({ type: "update_progress", received: 3_355_443, total: 13_107_200 });
    expect(updates.phase).toEqual({ state: "downloading", received: 3_355_443, total: 13_107_200 });
    await coreEmits({ type: "update_progress", received: 13_107_200, total: 13_107_200 });
    await coreEmits({ type: "update_downloaded" });
    expect(updates.phase).toEqual({ state: "installing" });
    expect(updates.busy).toBe(true);

    const refusal = "the download of Ferry 0.2.0 is not signed with Ferry's update key, so it was refused and nothing changed";
    install().reject({ kind: "local", message: refusal });
    await first;
    expect(updates.phase).toEqual({ state: "failed", during: "install", message: refusal });
    expect(updates.offer).toEqual(availableUpdate());
    expect(updates.busy).toBe(false);

    // Tried again: a new download, from nothing.
    const second = updates.install();
    expect(core.count("install_update")).toBe(2);
    expect(updates.phase).toEqual({ state: "downloading", received: 0, total: null });
    await coreEmits({ type: "update_progress", received: 1024, total: null });
    expect(updates.phase).toEqual({ state: "downloading", received: 1024, total: null });
    install().reject({ kind: "local", message: "Ferry 0.2.0 could not be installed (disk full); nothing changed" });
    await second;
    expect(updates.phase).toEqual({
      state: "failed",
      during: "install",
      message: "Ferry 0.2.0 could not be installed (disk full); nothing changed",
    });
    chat.stop();
  });

  it("take no download events for an install this window did not start", async () => {
    const { chat, updates } = await windowWithUpdate();
    await coreEmits({ type: "update_progress", received: 10, total: 100 });
    await coreEmits({ type: "update_downloaded" });
    expect(updates.phase).toEqual({ state: "idle" });
    chat.stop();
  });

  it("install nothing before there is an update on offer", async () => {
    const { core, chat, updates } = await windowWithUpdate();
    await updates.install();
    expect(core.count("install_update")).toBe(0);
    expect(updates.phase).toEqual({ state: "idle" });
    chat.stop();
  });

  it("announce an update the shell found by itself, signed out too, until it is dismissed", async () => {
    const { chat, updates } = await windowWithUpdate({ signedIn: false });
    expect(chat.session.me).toBeNull();
    await coreEmits({ type: "update_available", update: availableUpdate() });
    expect(updates.announcement).toEqual(availableUpdate());
    expect(updates.offer).toEqual(availableUpdate());
    expect(updates.phase).toEqual({ state: "available" });

    updates.dismiss();
    expect(updates.announcement).toBeNull();
    // The shell looks again every day: the same version is not announced again...
    await coreEmits({ type: "update_available", update: availableUpdate() });
    expect(updates.announcement).toBeNull();
    // ...a newer one is.
    await coreEmits({ type: "update_available", update: availableUpdate({ version: "0.3.0" }) });
    expect(updates.announcement?.version).toBe("0.3.0");
    chat.stop();
  });

  it("stop announcing once the install starts", async () => {
    const { core, chat, updates } = await windowWithUpdate();
    await coreEmits({ type: "update_available", update: availableUpdate() });
    void updates.install();
    expect(updates.announcement).toBeNull();
    // The shell's daily look does not change what is being installed.
    await coreEmits({ type: "update_available", update: availableUpdate({ version: "0.3.0" }) });
    expect(updates.offer?.version).toBe("0.2.0");
    expect(updates.phase.state).toBe("downloading");
    expect(core.count("install_update")).toBe(1);
    chat.stop();
  });

  it("stop announcing when a check finds nothing after all (the feed took it back)", async () => {
    const { chat, updates } = await windowWithUpdate({ feed: () => null });
    await coreEmits({ type: "update_available", update: availableUpdate() });
    expect(updates.announcement).not.toBeNull();
    await updates.check();
    expect(updates.announcement).toBeNull();
    expect(updates.offer).toBeNull();
    expect(updates.phase).toEqual({ state: "up_to_date" });
    chat.stop();
  });

  it("keep a failure shown when the shell finds an update by itself meanwhile", async () => {
    const { chat, updates } = await windowWithUpdate({
      feed: () => {
        throw { kind: "signed_out", message: "Sign in first." };
      },
    });
    await updates.check();
    await coreEmits({ type: "update_available", update: availableUpdate() });
    expect(updates.phase).toEqual({ state: "failed", during: "check", message: "Sign in first." });
    expect(updates.offer).toEqual(availableUpdate());
    chat.stop();
  });
});
