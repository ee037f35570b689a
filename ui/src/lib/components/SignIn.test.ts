// "Forgot your password?" on the sign-in screen, in the whole window against a mocked
// core: the reset mail asked for with the form's server, then the mailed code and the new
// password (checked here first), then back to sign in with the new password.
import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import App from "../../App.svelte";
import type { KnownAccount } from "../bindings/KnownAccount";
import { ME, mockCore, type Handlers } from "../../test/fixtures";
import "../../test/screens";

/** A 64-hex-digit mailed code, as the server makes them. */
const CODE = "fedcba9876543210".repeat(4);

/** The window signed out, proposing `lastAccount` (if any). */
function signedOut(handlers: Handlers = {}, lastAccount: KnownAccount | null = null) {
  const core = mockCore({
    session: () => ({ user: null, connection: { state: "signed_out" }, last_account: lastAccount }),
    conversations: () => [],
    sign_in: () => ME,
    ...handlers,
  });
  render(App);
  return core;
}

async function typeNewPassword(password: string, again = password) {
  await userEvent.type(screen.getByTestId("reset-new-password"), password);
  await userEvent.type(screen.getByTestId("reset-new-password-again"), again);
}

describe("a forgotten password", () => {
  it("is reset with a mailed code: the mail asked for, the new password set, then signed in with it", async () => {
    const core = signedOut({}, { server_url: "https://chat.example.com", username: "me" });
    await userEvent.click(await screen.findByTestId("forgot-password"));
    // The username proposed is the account the mail is most likely for.
    const login = screen.getByTestId("forgot-login");
    expect(login).toHaveValue("me");
    expect(login).toHaveFocus();
    await userEvent.click(screen.getByTestId("send-reset-code"));

    const code = await screen.findByTestId("reset-code");
    expect(code).toHaveFocus();
    expect(core.argsOf("forgot_password")).toEqual([
      { serverUrl: "https://chat.example.com", login: "me", allowPlainHttp: false },
    ]);
    expect(screen.getByTestId("reset-explanation")).toHaveTextContent("If me names an account");

    await userEvent.type(code, `  ${CODE} `);
    await typeNewPassword("correct horse", "correct hose");
    await userEvent.click(screen.getByTestId("reset-password"));
    expect(screen.getByTestId("auth-error")).toHaveTextContent("The two new passwords are not the same.");
    await userEvent.clear(screen.getByTestId("reset-new-password-again"));
    await userEvent.type(screen.getByTestId("reset-new-password-again"), "correct horse");
    expect(core.count("reset_password")).toBe(0);
    await userEvent.click(screen.getByTestId("reset-password"));

    expect(await screen.findByTestId("auth-notice")).toHaveTextContent("Sign in with the new password.");
    expect(core.argsOf("reset_password")).toEqual([
      { serverUrl: "https://chat.example.com", code: CODE, newPassword: "correct horse", allowPlainHttp: false },
    ]);
    expect(screen.queryByTestId("auth-error")).toBeNull();
    expect(screen.getByTestId("username")).toHaveValue("me");
    const password = screen.getByTestId("password");
    expect(password).toHaveValue("");
    expect(password).toHaveFocus();

    await userEvent.type(password, "correct horse{Enter}");
    await screen.findByTestId("new-chat");
    expect(core.argsOf("sign_in")).toEqual([
      { serverUrl: "https://chat.example.com", username: "me", password: "correct horse", allowPlainHttp: false },
    ]);
  });

  it("refuses a new password under 8 characters without asking the server", async () => {
    const core = signedOut();
    await userEvent.click(await screen.findByTestId("forgot-password"));
    await userEvent.click(screen.getByTestId("have-reset-code"));
    await userEvent.type(screen.getByTestId("reset-code"), CODE);
    await typeNewPassword("short");
    await userEvent.click(screen.getByTestId("reset-password"));
    expect(screen.getByTestId("auth-error")).toHaveTextContent("at least 8 characters");
    expect(core.count("reset_password")).toBe(0);
    expect(core.count("forgot_password")).toBe(0);
  });

  it("shows the server's refusals where they happen, keeping what was typed", async () => {
    let mail = false;
    const core = signedOut({
      forgot_password: () => {
        if (!mail) throw { kind: "invalid_request", message: "this server cannot send mail" };
        return null;
      },
      reset_password: () => {
        throw { kind: "invalid_request", message: "the code is unknown, used or expired" };
      },
    });
    await userEvent.click(await screen.findByTestId("forgot-password"));
    await userEvent.type(screen.getByTestId("forgot-login"), "morgan@example.com{Enter}");
    expect(await screen.findByTestId("auth-error")).toHaveTextContent("this server cannot send mail");
    expect(screen.getByTestId("forgot-login")).toHaveValue("morgan@example.com");
    expect(screen.queryByTestId("reset-code")).toBeNull();

    mail = true;
    await userEvent.click(screen.getByTestId("send-reset-code"));
    await userEvent.type(await screen.findByTestId("reset-code"), CODE);
    await typeNewPassword("correct horse");
    await userEvent.click(screen.getByTestId("reset-password"));
    expect(await screen.findByTestId("auth-error")).toHaveTextContent("the code is unknown, used or expired");
    expect(screen.getByTestId("reset-code")).toHaveValue(CODE);
    expect(screen.getByTestId("reset-new-password")).toHaveValue("correct horse");
    expect(core.argsOf("forgot_password").map((a) => a.login)).toEqual(["morgan@example.com", "morgan@example.com"]);

    // Back to sign in, with nothing said there; an address does not fill the username.
    await userEvent.click(screen.getByTestId("back-to-sign-in"));
    expect(screen.getByTestId("username")).toHaveValue("");
    expect(screen.queryByTestId("auth-error")).toBeNull();
    expect(screen.queryByTestId("auth-notice")).toBeNull();
  });

  it("asks over plain http to another machine only once the user agrees", async () => {
    const core = signedOut({}, { server_url: "http://10.0.0.5:8080", username: "morgan" });
    await userEvent.click(await screen.findByTestId("forgot-password"));
    const send = screen.getByTestId("send-reset-code");
    expect(send).toBeDisabled();
    await userEvent.click(screen.getByTestId("allow-plain-http"));
    await userEvent.click(send);
    await waitFor(() =>
      expect(core.argsOf("forgot_password")).toEqual([
        { serverUrl: "http://10.0.0.5:8080", login: "morgan", allowPlainHttp: true },
      ]),
    );
    await userEvent.type(await screen.findByTestId("reset-code"), CODE);
    await typeNewPassword("correct horse");
    await userEvent.click(screen.getByTestId("reset-password"));
    await screen.findByTestId("auth-notice");
    expect(core.argsOf("reset_password")).toEqual([
      { serverUrl: "http://10.0.0.5:8080", code: CODE, newPassword: "correct horse", allowPlainHttp: true },
    ]);
  });
});
