// One tab stop for a list whose rows hold controls: only the current row's controls are
// in the tab order, and controls added later are placed as they come.
import { waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import { RovingControls } from "./roving";

afterEach(() => {
  document.body.innerHTML = "";
});

function list(): HTMLElement {
  document.body.innerHTML = `
    <div id="list">
      <article data-id="a" tabindex="-1"><button>Reply</button><a href="https://example.com">link</a></article>
      <article data-id="b" tabindex="0"><button>Reply</button></article>
      <p>not a row <button id="outside">keep</button></p>
    </div>`;
  return document.getElementById("list")!;
}

const tabbable = (root: ParentNode) =>
  [...root.querySelectorAll<HTMLElement>("button, a")].filter((el) => el.tabIndex >= 0).map((el) => el.textContent);

describe("RovingControls", () => {
  it("keeps every row's controls out of the tab order until one row is current", () => {
    const el = list();
    const roving = new RovingControls(el);
    roving.setCurrent(null);
    expect(tabbable(el)).toEqual(["keep"]);
    roving.setCurrent("a");
    expect(tabbable(el.querySelector("[data-id=a]")!)).toEqual(["Reply", "link"]);
    expect(tabbable(el.querySelector("[data-id=b]")!)).toEqual([]);
    // The rows keep their own tabindex.
    expect(el.querySelector<HTMLElement>("[data-id=b]")!.tabIndex).toBe(0);
    roving.stop();
  });

  it("places controls that arrive later", async () => {
    const el = list();
    const roving = new RovingControls(el);
    roving.setCurrent("b");
    const row = document.createElement("article");
    row.dataset.id = "c";
    row.innerHTML = "<button>Retry</button>";
    el.append(row);
    el.querySelector("[data-id=b]")!.insertAdjacentHTML("beforeend", "<button>Open</button>");
    await waitFor(() => expect(row.querySelector("button")!.tabIndex).toBe(-1));
    expect(tabbable(el.querySelector("[data-id=b]")!)).toEqual(["Reply", "Open"]);
    roving.stop();
  });
});
