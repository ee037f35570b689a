// The avatar against a mocked core: a person with a picture shows it once the core has
// given its data URL (their initials until then, and for good when it cannot be had or
// does not decode); avatars of the same picture ask for it once between them; a failure
// is not asked again until the connection comes back.
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import type { ComponentProps } from "svelte";
import { describe, expect, it } from "vitest";
import { Pictures } from "../chat/pictures.svelte";
import { Session } from "../chat/session.svelte";
import { mockCore, user } from "../../test/fixtures";
import WithPictures from "../../test/WithPictures.svelte";
import Avatar from "./Avatar.svelte";

const ada = { ...user("Ada Lovelace"), picture: "00000000-0000-7000-8000-00000000a0a0" };
const ADA_URL = "data:image/jpeg;base64,/9j/4AAQ";

/** Avatars drawing from one store of pictures, as every avatar in the window does. */
function drawing(pictures = new Pictures(new Session())) {
  return {
    pictures,
    avatar(props: Partial<ComponentProps<typeof Avatar>>) {
      return render(WithPictures, { props: { pictures, id: ada.id, name: ada.display_name, ...props } });
    },
  };
}

/** The mocked IPC answers through promises only: one macrotask lets them all settle. */
const settled = () => new Promise((done) => setTimeout(done, 0));

/** A core whose `user_picture` answers only when the test says. */
function slowCore() {
  let answer!: (url: string) => void;
  const core = mockCore({ user_picture: () => new Promise<string>((resolve) => (answer = resolve)) });
  return { core, answer: (url: string) => answer(url) };
}

describe("an avatar", () => {
  it("shows the initials while the picture comes, then the picture", async () => {
    const { core, answer } = slowCore();
    const { container } = drawing().avatar({ picture: ada.picture });
    expect(container.querySelector(".avatar")).toHaveTextContent("AL");
    expect(screen.queryByTestId("avatar-picture")).toBeNull();
    await waitFor(() => expect(core.argsOf("user_picture")).toEqual([{ picture: ada.picture }]));

    answer(ADA_URL);
    const img = await screen.findByTestId("avatar-picture");
    expect(img).toHaveAttribute("src", ADA_URL);
    // Beside the name (as nearly everywhere) it is decorative.
    expect(img).toHaveAttribute("alt", "");
    expect(container.querySelector(".avatar")).toHaveAttribute("aria-hidden", "true");
    expect(container.querySelector(".avatar")).not.toHaveTextContent("AL");
  });

  it("says whose it is where it stands alone, with or without the picture", async () => {
    const { answer } = slowCore();
    drawing().avatar({ picture: ada.picture, labelled: true });
    expect(screen.getByRole("img", { name: "Ada Lovelace" })).toHaveTextContent("AL");
    answer(ADA_URL);
    const img = await screen.findByTestId("avatar-picture");
    expect(screen.getByRole("img", { name: "Ada Lovelace" })).toBe(img);
  });

  it("shows initials, asking for nothing, when the person has no picture", async () => {
    const core = mockCore();
    const { container } = drawing().avatar({});
    expect(container.querySelector(".avatar")).toHaveTextContent("AL");
    await settled();
    expect(screen.queryByTestId("avatar-picture")).toBeNull();
    expect(core.count("user_picture")).toBe(0);
  });

  it("shows initials outside a window that gives pictures", async () => {
    const core = mockCore({ user_picture: () => ADA_URL });
    const { container } = render(Avatar, { props: { id: ada.id, name: ada.display_name, picture: ada.picture } });
    await settled();
    expect(container.querySelector(".avatar")).toHaveTextContent("AL");
    expect(core.count("user_picture")).toBe(0);
  });

  it("asks once for a picture that two avatars show", async () => {
    const { core, answer } = slowCore();
    const draw = drawing();
    draw.avatar({ picture: ada.picture });
    draw.avatar({ picture: ada.picture, size: 88, labelled: true });
    await waitFor(() => expect(core.count("user_picture")).toBe(1));
    answer(ADA_URL);
    await waitFor(() => expect(screen.getAllByTestId("avatar-picture")).toHaveLength(2));
    // A third, later, has it at once.
    draw.avatar({ picture: ada.picture, size: 32 });
    expect(screen.getAllByTestId("avatar-picture")).toHaveLength(3);
    expect(core.count("user_picture")).toBe(1);
  });

  it("keeps the initials when the picture cannot be had, without asking again until retried", async () => {
    let reachable = false;
    const core = mockCore({
      user_picture: () => {
        if (!reachable) throw { kind: "offline", message: "the server cannot be reached" };
        return ADA_URL;
      },
    });
    const draw = drawing();
    const { container } = draw.avatar({ picture: ada.picture });
    await settled();
    expect(core.count("user_picture")).toBe(1);
    // Another avatar of it asks nothing more, nor does the first one again.
    draw.avatar({ picture: ada.picture });
    await settled();
    expect(core.count("user_picture")).toBe(1);
    expect(container.querySelector(".avatar")).toHaveTextContent("AL");
    expect(screen.queryByTestId("avatar-picture")).toBeNull();

    // The connection is back: the avatars on screen ask once more, together.
    reachable = true;
    draw.pictures.retryFailed();
    await waitFor(() => expect(screen.getAllByTestId("avatar-picture")).toHaveLength(2));
    expect(core.count("user_picture")).toBe(2);
  });

  it("falls back to the initials when the picture does not decode", async () => {
    mockCore({ user_picture: () => "data:application/octet-stream;base64,AAAA" });
    const { container } = drawing().avatar({ picture: ada.picture });
    const img = await screen.findByTestId("avatar-picture");
    await fireEvent.error(img);
    expect(screen.queryByTestId("avatar-picture")).toBeNull();
    expect(container.querySelector(".avatar")).toHaveTextContent("AL");
  });

  it("shows a new picture when the person changes theirs", async () => {
    const GRACE_URL = "data:image/png;base64,iVBORw0KGgo=";
    const newer = "00000000-0000-7000-8000-00000000b0b0";
    const core = mockCore({ user_picture: (args) => (args.picture === newer ? GRACE_URL : ADA_URL) });
    const { rerender } = drawing().avatar({ picture: ada.picture });
    expect(await screen.findByTestId("avatar-picture")).toHaveAttribute("src", ADA_URL);
    await rerender({ picture: newer });
    await waitFor(() => expect(screen.getByTestId("avatar-picture")).toHaveAttribute("src", GRACE_URL));
    await rerender({ picture: null });
    expect(screen.queryByTestId("avatar-picture")).toBeNull();
    expect(core.argsOf("user_picture")).toEqual([{ picture: ada.picture }, { picture: newer }]);
  });
});
