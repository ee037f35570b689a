import { fireEvent, render, screen, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import type { SearchHit } from "../bindings/SearchHit";
import { ago, direct, ME, user } from "../../test/fixtures";
import SearchResults from "./SearchResults.svelte";

const ada = user("Ada Lovelace");
const chat = direct(ada);

function hit(snippet: string, extra: Partial<SearchHit> = {}): SearchHit {
  return {
    message_id: `m-${snippet.length}-${Math.random()}`,
    conversation_id: chat.id,
    seq: 7,
    sender_id: ada.id,
    snippet,
    created_at: ago(10),
    ...extra,
  };
}

describe("SearchResults", () => {
  it("highlights the matched words with <mark>", () => {
    render(SearchResults, {
      hits: [hit("the \u0002ferry\u0003 leaves at \u0002noon\u0003")],
      conversations: [chat],
      meId: ME.id,
      searching: false,
      onpick: vi.fn(),
    });
    const result = screen.getByTestId("search-result");
    const marks = Array.from(result.querySelectorAll("mark")).map((m) => m.textContent);
    expect(marks).toEqual(["ferry", "noon"]);
    expect(result).toHaveTextContent("Ada Lovelace: the ferry leaves at noon");
    expect(result.textContent).not.toMatch(/[\u0002\u0003]/);
  });

  it("shows markup in snippets as text", () => {
    render(SearchResults, {
      hits: [hit("\u0002<img src=x onerror=alert(1)>\u0003")],
      conversations: [chat],
      meId: ME.id,
      searching: false,
      onpick: vi.fn(),
    });
    const result = screen.getByTestId("search-result");
    expect(result.querySelector("img")).toBeNull();
    expect(result.querySelector("mark")?.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("names the conversation and says You for own messages", () => {
    render(SearchResults, {
      hits: [hit("mine", { sender_id: ME.id })],
      conversations: [chat],
      meId: ME.id,
      searching: false,
      onpick: vi.fn(),
    });
    const result = screen.getByTestId("search-result");
    expect(within(result).getByText("Ada Lovelace")).toBeInTheDocument();
    expect(within(result).getByText("You:")).toBeInTheDocument();
  });

  it("opens the hit when chosen", async () => {
    const onpick = vi.fn();
    const h = hit("x");
    render(SearchResults, { hits: [h], conversations: [chat], meId: ME.id, searching: false, onpick });
    await fireEvent.click(screen.getByTestId("search-result"));
    expect(onpick).toHaveBeenCalledWith(h);
  });

  it("says when nothing matched", () => {
    render(SearchResults, { hits: [], conversations: [chat], meId: ME.id, searching: false, onpick: vi.fn() });
    expect(screen.getByText("No messages found")).toBeInTheDocument();
  });
});
