// Settings → Account in the whole window against a mocked core: opened from the account
// menu (its test id, `account-dialog`, is the one the account dialog had), it reads the account and its sessions from the server, and each part calls its
// command with what was typed, shows the core's refusal beside its form (keeping what
// was typed), and shows the outcome: the header's new name, the new picture (in the
// dialog and the header), a device gone from the list, a confirmed address, the data
// export's progress and where it was saved, and the sign-in screen once the account is
// deleted.
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import App from "../../App.svelte";
import type { Account } from "../bindings/Account";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { User } from "../bindings/User";
import { account, ago, coreEmits, direct, ME, mockCore, sessionInfo, user, type Handlers } from "../../test/fixtures";
import "../../test/screens";

// Made before each test, not as the file is collected: "last used" is read against the
// test's clock.
let here: SessionInfo;
let laptop: SessionInfo;
let forgotten: SessionInfo;
beforeEach(() => {
  here = sessionInfo({ device_name: "Linux · morgan-desk", last_used_at: ago(0), current: true });
  laptop = sessionInfo({ device_name: "macOS · morgan-air", last_used_at: ago(180), last_place: "198.51.100.7" });
  forgotten = sessionInfo({ device_name: null, last_used_at: ago(60 * 24 * 20), last_place: null });
});

/** A 64-hex-digit mailed code, as the server makes them. */
const CODE = "0123456789abcdef".repeat(4);

/** The window signed in as `ME`, against a core whose account the test can change. */
function setup(options: { details?: Account; sessions?: SessionInfo[]; handlers?: Handlers } = {}) {
  const store = {
    details: options.details ?? account(),
    sessions: options.sessions ?? [here, laptop, forgotten],
  };
  const core = mockCore({
    session: () => ({
      user: ME,
      connection: { state: "online" },
      last_account: { server_url: "https://chat.example.com", username: ME.username },
    }),
    conversations: () => [direct(user("Ada Lovelace"))],
    account_details: () => store.details,
    account_sessions: () => store.sessions,
    ...options.handlers,
  });
  render(App);
  return { core, store };
}

/** Opens "Settings…" from the account menu (at Account) and waits for the account to show. */
async function openAccount(): Promise<HTMLElement> {
  await userEvent.click(await screen.findByTestId("account-menu"));
  await userEvent.click(screen.getByRole("menuitem", { name: /Settings/ }));
  const dialog = await screen.findByRole("dialog", { name: "Settings" });
  expect(within(dialog).getByRole("tab", { name: "Account" })).toHaveAttribute("aria-selected", "true");
  await within(dialog).findByTestId("account-profile");
  return dialog;
}

function rows(dialog: HTMLElement): HTMLElement[] {
  return within(dialog).queryAllByTestId("account-session");
}

function row(dialog: HTMLElement, id: string): HTMLElement {
  const found = rows(dialog).find((el) => el.dataset.id === id);
  if (!found) throw new Error(`no session ${id}`);
  return found;
}

describe("the account dialog", () => {
  it("shows the account and the devices it is signed in on, only the others with Sign out", async () => {
    const { core } = setup();
    const dialog = await openAccount();
    expect(core.count("account_details")).toBe(1);
    expect(core.count("account_sessions")).toBe(1);

    expect(within(dialog).getByTestId("account-display-name")).toHaveValue("Morgan Me");
    expect(within(dialog).getByTestId("account-profile")).toHaveTextContent("@me");
    expect(within(dialog).getByTestId("email-none")).toBeInTheDocument();

    expect(rows(dialog).map((el) => within(el).getByTestId("session-name").textContent)).toEqual([
      "Linux · morgan-desk",
      "macOS · morgan-air",
      "Unnamed device",
    ]);
    const current = row(dialog, here.id);
    expect(current).toHaveAttribute("data-current", "true");
    expect(within(current).getByTestId("this-device")).toHaveTextContent("This device");
    expect(within(current).queryByTestId("end-session")).toBeNull();
    expect(row(dialog, laptop.id)).toHaveTextContent("Last used 3 hours ago · from 198.51.100.7");
    expect(within(row(dialog, laptop.id)).queryByTestId("this-device")).toBeNull();
    expect(row(dialog, forgotten.id)).toHaveTextContent(/Last used on \S/);
    expect(row(dialog, forgotten.id)).not.toHaveTextContent("from");
    expect(within(dialog).getAllByTestId("end-session")).toHaveLength(2);
  });

  it("says why it cannot show the account offline, and shows it when tried again", async () => {
    let offline = true;
    setup({
      handlers: {
        account_details: () => {
          if (offline) throw { kind: "offline", message: "the server cannot be reached" };
          return account();
        },
      },
    });
    await userEvent.click(await screen.findByTestId("account-menu"));
    await userEvent.click(screen.getByTestId("account-settings"));
    const dialog = await screen.findByTestId("account-dialog");
    expect(await within(dialog).findByTestId("account-error")).toHaveTextContent("the server cannot be reached");
    expect(within(dialog).queryByTestId("account-profile")).toBeNull();

    offline = false;
    await userEvent.click(within(dialog).getByTestId("account-retry"));
    expect(await within(dialog).findByTestId("account-display-name")).toHaveValue("Morgan Me");
    expect(within(dialog).queryByTestId("account-error")).toBeNull();
  });

  it("renames with the name trimmed, and the header shows it at once; an empty name is refused here", async () => {
    const { core } = setup({
      handlers: { rename: (args) => ({ ...ME, display_name: args.displayName as string }) },
    });
    const dialog = await openAccount();
    const field = within(dialog).getByTestId("account-display-name");
    const save = within(dialog).getByTestId("save-display-name");
    // Nothing to save until the name changes.
    expect(save).toBeDisabled();

    await userEvent.clear(field);
    await userEvent.type(field, "  Morgan Lee  ");
    await userEvent.click(save);
    expect(await within(dialog).findByTestId("profile-saved")).toHaveTextContent("Your name is changed.");
    expect(core.argsOf("rename")).toEqual([{ displayName: "Morgan Lee" }]);
    // No `profile` event came: the answer itself is what the header shows.
    expect(screen.getByTestId("account-menu")).toHaveTextContent("Morgan Lee");
    expect(field).toHaveValue("Morgan Lee");

    await userEvent.clear(field);
    await userEvent.type(field, "   {Enter}");
    expect(within(dialog).getByTestId("profile-error")).toHaveTextContent("Your name cannot be empty.");
    expect(core.count("rename")).toBe(1);
  });

  it("refuses a new password typed differently twice, or too short, without asking the core", async () => {
    const { core } = setup();
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-password"));
    await userEvent.type(section.getByTestId("current-password"), "old password");
    await userEvent.type(section.getByTestId("new-password"), "correct horse");
    await userEvent.type(section.getByTestId("new-password-again"), "correct hose");
    await userEvent.click(section.getByTestId("change-password"));
    expect(section.getByTestId("password-error")).toHaveTextContent("The two new passwords are not the same.");

    await userEvent.clear(section.getByTestId("new-password"));
    await userEvent.type(section.getByTestId("new-password"), "short");
    await userEvent.clear(section.getByTestId("new-password-again"));
    await userEvent.type(section.getByTestId("new-password-again"), "short{Enter}");
    expect(section.getByTestId("password-error")).toHaveTextContent("at least 8 characters");
    expect(core.count("change_password")).toBe(0);
  });

  it("changes the password keeping the other devices when asked, and signing them out when not", async () => {
    const { core } = setup();
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-password"));
    const change = async (keep: boolean) => {
      await userEvent.type(section.getByTestId("current-password"), "old password");
      await userEvent.type(section.getByTestId("new-password"), "correct horse");
      await userEvent.type(section.getByTestId("new-password-again"), "correct horse");
      const box = section.getByTestId("keep-other-sessions");
      if ((box as HTMLInputElement).checked !== keep) await userEvent.click(box);
      await userEvent.click(section.getByTestId("change-password"));
      await section.findByTestId("password-changed");
    };

    expect(section.getByTestId("keep-other-sessions")).not.toBeChecked();
    await change(true);
    expect(core.argsOf("change_password")).toEqual([
      { currentPassword: "old password", newPassword: "correct horse", keepOtherSessions: true },
    ]);
    expect(section.getByTestId("password-changed")).toHaveTextContent("Your other devices stay signed in.");
    expect(section.getByTestId("current-password")).toHaveValue("");
    expect(rows(dialog)).toHaveLength(3);

    await change(false);
    expect(core.argsOf("change_password")[1]).toEqual({
      currentPassword: "old password",
      newPassword: "correct horse",
      keepOtherSessions: false,
    });
    expect(section.getByTestId("password-changed")).toHaveTextContent("Your other devices are signed out");
    // The server ended every other session: only this device is left.
    expect(rows(dialog).map((el) => el.dataset.id)).toEqual([here.id]);
    expect(within(dialog).getByTestId("no-other-sessions")).toBeInTheDocument();
  });

  it("shows the core's refusal of a wrong current password and keeps everything typed", async () => {
    const { core } = setup({
      handlers: {
        change_password: (args) => {
          if (args.currentPassword !== "old password") {
            throw { kind: "invalid_credentials", message: "the current password is wrong" };
          }
          return null;
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-password"));
    await userEvent.type(section.getByTestId("current-password"), "old pasword");
    await userEvent.type(section.getByTestId("new-password"), "correct horse");
    await userEvent.type(section.getByTestId("new-password-again"), "correct horse");
    await userEvent.click(section.getByTestId("keep-other-sessions"));
    await userEvent.click(section.getByTestId("change-password"));

    expect(await section.findByTestId("password-error")).toHaveTextContent("the current password is wrong");
    expect(section.queryByTestId("password-changed")).toBeNull();
    expect(section.getByTestId("current-password")).toHaveValue("old pasword");
    expect(section.getByTestId("new-password")).toHaveValue("correct horse");
    expect(section.getByTestId("new-password-again")).toHaveValue("correct horse");
    expect(section.getByTestId("keep-other-sessions")).toBeChecked();

    await userEvent.clear(section.getByTestId("current-password"));
    await userEvent.type(section.getByTestId("current-password"), "old password{Enter}");
    await section.findByTestId("password-changed");
    expect(section.queryByTestId("password-error")).toBeNull();
    expect(core.argsOf("change_password").map((a) => a.currentPassword)).toEqual(["old pasword", "old password"]);
  });

  it("signs another device out and takes it off the list; a failure is shown and the device stays", async () => {
    let reachable = false;
    const { core } = setup({
      handlers: {
        end_session: () => {
          if (!reachable) throw { kind: "offline", message: "the server cannot be reached" };
          return null;
        },
      },
    });
    const dialog = await openAccount();
    await userEvent.click(within(dialog).getByRole("button", { name: "Sign out macOS · morgan-air" }));
    expect(await within(dialog).findByTestId("sessions-error")).toHaveTextContent("the server cannot be reached");
    expect(rows(dialog)).toHaveLength(3);

    reachable = true;
    await userEvent.click(within(row(dialog, laptop.id)).getByTestId("end-session"));
    await waitFor(() => expect(rows(dialog).map((el) => el.dataset.id)).toEqual([here.id, forgotten.id]));
    expect(core.argsOf("end_session")).toEqual([{ sessionId: laptop.id }, { sessionId: laptop.id }]);
    expect(within(dialog).queryByTestId("sessions-error")).toBeNull();
  });

  it("sets an address with the password, then confirms it with the mailed code", async () => {
    const { core, store } = setup({
      handlers: {
        set_email: (args) => {
          if (args.password !== "pw") throw { kind: "invalid_credentials", message: "wrong password" };
          store.details = account({ email: args.email as string, email_verified: false });
          return store.details;
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-email"));
    await userEvent.type(section.getByTestId("email-input"), "  morgan@example.com ");
    await userEvent.type(section.getByTestId("email-password"), "pw");
    await userEvent.click(section.getByTestId("save-email"));

    expect(await section.findByTestId("email-address")).toHaveTextContent("morgan@example.com");
    expect(core.argsOf("set_email")).toEqual([{ email: "morgan@example.com", password: "pw" }]);
    expect(section.getByTestId("email-state")).toHaveTextContent("Not confirmed");
    expect(section.getByTestId("email-done")).toHaveTextContent("mailed to morgan@example.com");
    const code = section.getByTestId("email-code");
    expect(code).toHaveFocus();

    await userEvent.type(code, ` ${CODE} `);
    await userEvent.click(section.getByTestId("verify-email"));
    await waitFor(() => expect(section.getByTestId("email-state")).toHaveTextContent("Confirmed"));
    expect(section.getByTestId("email-state")).toHaveAttribute("data-verified", "true");
    expect(core.argsOf("verify_email")).toEqual([{ code: CODE }]);
    expect(section.queryByTestId("email-code")).toBeNull();
    expect(section.getByTestId("email-done")).toHaveTextContent("Your address is confirmed.");
  });

  it("says when the server has no mail, keeping the address typed", async () => {
    setup({
      handlers: {
        set_email: () => {
          throw { kind: "invalid_request", message: "this server sends no mail, so it takes no address" };
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-email"));
    await userEvent.type(section.getByTestId("email-input"), "morgan@example.com");
    await userEvent.type(section.getByTestId("email-password"), "pw{Enter}");
    expect(await section.findByTestId("email-error")).toHaveTextContent("this server sends no mail");
    expect(section.getByTestId("email-input")).toHaveValue("morgan@example.com");
    expect(section.getByTestId("email-none")).toBeInTheDocument();
  });

  it("removes a confirmed address with the password", async () => {
    const { core } = setup({
      details: account({ email: "morgan@example.com", email_verified: true }),
      handlers: { set_email: () => account() },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-email"));
    expect(section.getByTestId("email-state")).toHaveTextContent("Confirmed");
    expect(section.queryByTestId("email-code")).toBeNull();

    await userEvent.click(section.getByTestId("remove-email"));
    const password = section.getByTestId("email-password");
    expect(password).toHaveFocus();
    expect(section.getByTestId("confirm-remove-email")).toBeDisabled();
    await userEvent.type(password, "pw");
    await userEvent.click(section.getByTestId("confirm-remove-email"));
    expect(await section.findByTestId("email-none")).toBeInTheDocument();
    expect(core.argsOf("set_email")).toEqual([{ email: null, password: "pw" }]);
  });

  it("turns missed-message mail off and on; a refusal leaves the box as the setting is", async () => {
    let refuse = false;
    const { core, store } = setup({
      details: account({ email: "morgan@example.com", email_verified: true }),
      handlers: {
        set_missed_message_mail: (args) => {
          if (refuse) throw { kind: "network", message: "the server cannot be reached" };
          store.details = { ...store.details, settings: { missed_message_mail: args.on as boolean } };
          return store.details;
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-email"));
    const box = section.getByTestId("missed-mail");
    expect(box).toBeChecked();

    await userEvent.click(box);
    await waitFor(() => expect(section.getByTestId("email-done")).toHaveTextContent("No more mail"));
    expect(box).not.toBeChecked();
    expect(core.argsOf("set_missed_message_mail")).toEqual([{ on: false }]);

    refuse = true;
    await userEvent.click(box);
    expect(await section.findByTestId("email-error")).toHaveTextContent("cannot be reached");
    expect(box).not.toBeChecked();
    expect(core.argsOf("set_missed_message_mail")).toEqual([{ on: false }, { on: true }]);
  });

  describe("its picture", () => {
    const PICTURE = "00000000-0000-7000-8000-0000000000f1";
    const URL = "data:image/jpeg;base64,/9j/4AAQ";
    const withPicture: User = { ...ME, picture: PICTURE };

    /** The window, with a core that keeps the account's picture as the commands change it. */
    function pictureSetup(handlers: Handlers = {}, details = account()) {
      const app = setup({
        details,
        handlers: {
          user_picture: () => URL,
          "plugin:dialog|open": () => "/home/me/Pictures/me.jpg",
          set_picture: () => {
            app.store.details = { ...app.store.details, user: withPicture };
            return withPicture;
          },
          remove_picture: () => {
            app.store.details = { ...app.store.details, user: ME };
            return ME;
          },
          ...handlers,
        },
      });
      return app;
    }

    async function openPicture() {
      const dialog = await openAccount();
      return within(within(dialog).getByTestId("account-picture"));
    }

    it("has a part right after the name, showing the avatar large, with no Remove without a picture", async () => {
      const { core } = pictureSetup();
      const dialog = await openAccount();
      const parts = [...dialog.querySelectorAll("section[data-testid]")].map((el) => el.getAttribute("data-testid"));
      expect(parts.slice(0, 2)).toEqual(["account-profile", "account-picture"]);
      const section = within(within(dialog).getByTestId("account-picture"));
      expect(section.getByRole("heading", { name: "Picture" })).toBeInTheDocument();
      // Alone, the avatar says whose it is: the initials until there is a picture.
      expect(section.getByRole("img", { name: "Morgan Me" })).toHaveTextContent("MM");
      expect(section.getByTestId("choose-picture")).toHaveTextContent("Choose picture…");
      expect(section.getByTestId("choose-picture")).toBeEnabled();
      expect(section.queryByTestId("remove-picture")).toBeNull();
      expect(core.count("user_picture")).toBe(0);
    });

    it("sets the image chosen, saying so while it saves, then shows it here and in the header", async () => {
      let answer!: () => void;
      const { core, store } = pictureSetup({
        set_picture: () =>
          new Promise<User>((resolve) => {
            answer = () => {
              store.details = { ...store.details, user: withPicture };
              resolve(withPicture);
            };
          }),
      });
      const section = await openPicture();
      await userEvent.click(section.getByTestId("choose-picture"));

      await waitFor(() => expect(core.argsOf("set_picture")).toEqual([{ path: "/home/me/Pictures/me.jpg" }]));
      const [asked] = core.argsOf("plugin:dialog|open") as [{ options: { multiple: boolean; filters: unknown } }];
      expect(asked.options.multiple).toBe(false);
      expect(asked.options.filters).toEqual([{ name: "Images", extensions: ["jpg", "jpeg", "png", "gif", "webp"] }]);
      const button = section.getByTestId("choose-picture");
      await waitFor(() => expect(button).toBeDisabled());
      expect(button).toHaveTextContent("Saving…");

      answer();
      expect(await section.findByTestId("picture-saved")).toHaveTextContent("Your picture is changed.");
      expect(button).toBeEnabled();
      expect(button).toHaveTextContent("Choose picture…");
      await waitFor(() => expect(section.getByRole("img", { name: "Morgan Me" })).toHaveAttribute("src", URL));
      const menu = screen.getByTestId("account-menu");
      await waitFor(() => expect(within(menu).getByTestId("avatar-picture")).toHaveAttribute("src", URL));
      expect(section.getByTestId("remove-picture")).toBeEnabled();
      // The dialog and the header show one picture: asked for once.
      expect(core.argsOf("user_picture")).toEqual([{ picture: PICTURE }]);
      expect(section.queryByTestId("picture-error")).toBeNull();
    });

    it("does nothing when the file dialog is cancelled", async () => {
      const { core } = pictureSetup({ "plugin:dialog|open": () => null });
      const section = await openPicture();
      await userEvent.click(section.getByTestId("choose-picture"));
      await waitFor(() => expect(core.count("plugin:dialog|open")).toBe(1));
      expect(core.count("set_picture")).toBe(0);
      expect(section.getByTestId("choose-picture")).toBeEnabled();
      expect(section.getByTestId("choose-picture")).toHaveTextContent("Choose picture…");
      expect(section.queryByTestId("picture-saved")).toBeNull();
      expect(section.queryByTestId("picture-error")).toBeNull();
    });

    it("shows why the picture was refused, and lets another be chosen", async () => {
      let image = false;
      const { core } = pictureSetup({
        set_picture: () => {
          if (!image) throw { kind: "invalid_request", message: "this file is not an image" };
          return withPicture;
        },
      });
      const section = await openPicture();
      await userEvent.click(section.getByTestId("choose-picture"));
      expect(await section.findByTestId("picture-error")).toHaveTextContent("this file is not an image");
      expect(section.getByTestId("choose-picture")).toBeEnabled();
      expect(section.queryByTestId("picture-saved")).toBeNull();
      expect(screen.queryByTestId("avatar-picture")).toBeNull();

      image = true;
      await userEvent.click(section.getByTestId("choose-picture"));
      expect(await section.findByTestId("picture-saved")).toBeInTheDocument();
      expect(section.queryByTestId("picture-error")).toBeNull();
      expect(core.count("set_picture")).toBe(2);
    });

    it("removes the picture: the initials again, and no Remove", async () => {
      const { core } = pictureSetup({}, account({ user: withPicture }));
      const section = await openPicture();
      await waitFor(() => expect(section.getByRole("img", { name: "Morgan Me" })).toHaveAttribute("src", URL));
      await userEvent.click(section.getByTestId("remove-picture"));
      expect(core.count("remove_picture")).toBe(1);
      expect(await section.findByTestId("picture-saved")).toHaveTextContent("Your picture is removed.");
      expect(section.getByRole("img", { name: "Morgan Me" })).toHaveTextContent("MM");
      expect(section.queryByTestId("remove-picture")).toBeNull();
      expect(core.count("plugin:dialog|open")).toBe(0);
    });
  });

  it("has a part for exporting the data, just before the one for deleting the account", async () => {
    const { core } = setup();
    const dialog = await openAccount();
    const parts = [...dialog.querySelectorAll("section[data-testid]")].map((el) => el.getAttribute("data-testid"));
    expect(parts.slice(-2)).toEqual(["account-export", "account-delete"]);
    const section = within(within(dialog).getByTestId("account-export"));
    expect(section.getByRole("heading", { name: "Export your data" })).toBeInTheDocument();
    expect(section.getByText(/Everything this server holds about you/)).toHaveTextContent(
      "your account, where you are signed in, your conversations, the messages you wrote and your files, as one archive.",
    );
    expect(section.getByTestId("export-data")).toHaveTextContent("Export…");
    expect(section.getByTestId("export-data")).toBeEnabled();
    expect(section.queryByTestId("export-progress")).toBeNull();
    expect(core.count("export_account")).toBe(0);
  });

  it("exports to the place chosen, showing how far it got, even after closing, then where it went", async () => {
    const where = "/home/me/Documents/ferry-export-me.tar";
    let finish!: (size: number) => void;
    const { core } = setup({
      handlers: {
        "plugin:dialog|save": () => where,
        export_account: () => new Promise<number>((resolve) => (finish = resolve)),
      },
    });
    let dialog = await openAccount();
    let section = within(within(dialog).getByTestId("account-export"));
    await userEvent.click(section.getByTestId("export-data"));

    await waitFor(() => expect(core.argsOf("export_account")).toEqual([{ path: where }]));
    const [asked] = core.argsOf("plugin:dialog|save") as [{ options: { defaultPath: string; filters: unknown } }];
    expect(asked.options.defaultPath).toMatch(/^ferry-export-me-\d{4}-\d{2}-\d{2}\.tar$/);
    expect(asked.options.filters).toEqual([{ name: "Tar archive", extensions: ["tar"] }]);
    const button = section.getByTestId("export-data");
    await waitFor(() => expect(button).toBeDisabled());
    expect(button).toHaveTextContent("Exporting…");
    // Nothing heard yet: no size to measure against.
    expect(section.getByTestId("export-line")).toHaveTextContent("Starting…");

    await coreEmits({ type: "export_progress", received: 0, total: 42_000_000 });
    await coreEmits({ type: "export_progress", received: 12_900_000, total: 42_000_000 });
    const bar = section.getByRole("progressbar", { name: "Exporting your data" }) as HTMLProgressElement;
    expect(bar).toHaveAttribute("data-testid", "export-progress");
    expect(bar.max).toBe(42_000_000);
    expect(bar.value).toBe(12_900_000);
    expect(section.getByTestId("export-line")).toHaveTextContent("12 MB of 40 MB");

    // The download is the store's: the dialog closed and opened again shows it still going.
    await userEvent.click(within(dialog).getByText("Close", { selector: "footer button" }));
    await waitFor(() => expect(screen.queryByTestId("account-dialog")).toBeNull());
    await coreEmits({ type: "export_progress", received: 30_000_000, total: 42_000_000 });
    dialog = await openAccount();
    section = within(within(dialog).getByTestId("account-export"));
    expect((section.getByTestId("export-progress") as HTMLProgressElement).value).toBe(30_000_000);
    expect(section.getByTestId("export-line")).toHaveTextContent("29 MB of 40 MB");
    expect(section.getByTestId("export-data")).toBeDisabled();

    finish(42_000_000);
    expect(await section.findByTestId("export-done")).toHaveTextContent(`Saved to ${where}`);
    expect(section.queryByTestId("export-progress")).toBeNull();
    expect(section.getByTestId("export-data")).toBeEnabled();
    expect(section.getByTestId("export-data")).toHaveTextContent("Export…");
    expect(core.count("export_account")).toBe(1);
  });

  it("shows why an export failed and lets it be tried again", async () => {
    let reachable = false;
    const { core } = setup({
      handlers: {
        "plugin:dialog|save": () => "/home/me/export.tar",
        export_account: () => {
          if (!reachable) throw { kind: "offline", message: "the server cannot be reached" };
          return 2048;
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-export"));
    await userEvent.click(section.getByTestId("export-data"));
    expect(await section.findByTestId("export-error")).toHaveTextContent("the server cannot be reached");
    expect(section.queryByTestId("export-progress")).toBeNull();
    expect(section.queryByTestId("export-done")).toBeNull();
    expect(section.getByTestId("export-data")).toBeEnabled();

    reachable = true;
    await userEvent.click(section.getByTestId("export-data"));
    expect(await section.findByTestId("export-done")).toHaveTextContent("Saved to /home/me/export.tar");
    expect(section.queryByTestId("export-error")).toBeNull();
    expect(core.argsOf("export_account")).toEqual([{ path: "/home/me/export.tar" }, { path: "/home/me/export.tar" }]);
  });

  it("does nothing when the save dialog is cancelled", async () => {
    const { core } = setup({ handlers: { "plugin:dialog|save": () => null } });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-export"));
    await userEvent.click(section.getByTestId("export-data"));
    await waitFor(() => expect(core.count("plugin:dialog|save")).toBe(1));
    expect(core.count("export_account")).toBe(0);
    expect(section.getByTestId("export-data")).toBeEnabled();
    expect(section.queryByTestId("export-progress")).toBeNull();
    expect(section.queryByTestId("export-done")).toBeNull();
    expect(section.queryByTestId("export-error")).toBeNull();
  });

  it("deletes the account only with the password and the username typed out, then is signed out", async () => {
    const { core } = setup({
      handlers: {
        delete_account: (args) => {
          if (args.password !== "pw") throw { kind: "invalid_credentials", message: "wrong password" };
          return null;
        },
      },
    });
    const dialog = await openAccount();
    const section = within(within(dialog).getByTestId("account-delete"));
    expect(section.getByTestId("delete-explanation")).toHaveTextContent(
      "Every message you wrote is deleted for everyone",
    );
    const remove = section.getByTestId("delete-account");
    expect(remove).toBeDisabled();
    await userEvent.type(section.getByTestId("delete-password"), "pwx");
    expect(remove).toBeDisabled();
    await userEvent.type(section.getByTestId("delete-confirmation"), "mo");
    expect(remove).toBeDisabled();
    await userEvent.type(section.getByTestId("delete-confirmation"), "{Enter}");
    expect(core.count("delete_account")).toBe(0);

    await userEvent.clear(section.getByTestId("delete-confirmation"));
    await userEvent.type(section.getByTestId("delete-confirmation"), "@me");
    expect(remove).toBeEnabled();
    await userEvent.click(remove);
    expect(await section.findByTestId("delete-error")).toHaveTextContent("wrong password");
    expect(screen.getByTestId("account-menu")).toBeInTheDocument();

    await userEvent.clear(section.getByTestId("delete-password"));
    await userEvent.type(section.getByTestId("delete-password"), "pw");
    await userEvent.click(remove);

    // Signed out: the sign-in screen, proposing the server but not the deleted username.
    expect(await screen.findByTestId("server-url")).toHaveValue("https://chat.example.com");
    expect(screen.getByTestId("username")).toHaveValue("");
    expect(screen.queryByTestId("account-dialog")).toBeNull();
    expect(screen.queryByTestId("account-menu")).toBeNull();
    expect(screen.queryByTestId("conversation-item")).toBeNull();
    expect(screen.getByText(/Your account is deleted/)).toBeInTheDocument();
    expect(core.argsOf("delete_account")).toEqual([{ password: "pwx" }, { password: "pw" }]);
  });
});
