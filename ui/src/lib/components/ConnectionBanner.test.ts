import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import type { ConnectionState } from "../bindings/ConnectionState";
import { clockTimeWithSeconds } from "../time";
import ConnectionBanner from "./ConnectionBanner.svelte";

function props(connection: ConnectionState) {
  return { connection, onretry: vi.fn(), onsignin: vi.fn() };
}

describe("ConnectionBanner", () => {
  it("says nothing while online", () => {
    render(ConnectionBanner, props({ state: "online" }));
    expect(screen.queryByTestId("offline-banner")).toBeNull();
  });

  it("says offline with the next retry time, and offers to retry now", async () => {
    const retryAt = new Date(2024, 4, 15, 14, 3, 9).toISOString();
    const p = props({ state: "offline", retry_at: retryAt, reason: "connection refused" });
    render(ConnectionBanner, p);
    const banner = screen.getByTestId("offline-banner");
    expect(banner).toHaveAttribute("data-state", "offline");
    expect(banner).toHaveTextContent(`Offline — retrying at ${clockTimeWithSeconds(retryAt)}`);
    expect(banner).toHaveTextContent("connection refused");
    await fireEvent.click(screen.getByRole("button", { name: "Retry now" }));
    expect(p.onretry).toHaveBeenCalledOnce();
  });

  it("says what offline means in words, with the core's reason a click away", async () => {
    const reason = "cannot connect: IO error: Connection refused (os error 111)";
    render(ConnectionBanner, props({ state: "offline", retry_at: null, reason }));
    const banner = screen.getByTestId("offline-banner");
    expect(screen.getByTestId("offline-explanation")).toBeVisible();
    expect(screen.getByTestId("offline-explanation")).toHaveTextContent("Ferry can't reach the server right now.");
    expect(screen.getByTestId("offline-reason")).not.toBeVisible();
    // What a person reads first carries no technical message.
    const shown = Array.from(banner.children)
      .filter((el) => el.tagName !== "DETAILS")
      .map((el) => el.textContent)
      .join(" ");
    expect(shown).not.toMatch(/os error|IO error|refused/);

    await fireEvent.click(screen.getByText("Details"));
    expect(screen.getByTestId("offline-reason")).toBeVisible();
    expect(screen.getByTestId("offline-reason")).toHaveTextContent(reason);
  });

  it("offers no details when the core gave no reason", () => {
    render(ConnectionBanner, props({ state: "offline", retry_at: null, reason: null }));
    expect(screen.getByTestId("offline-explanation")).toBeInTheDocument();
    expect(screen.queryByTestId("offline-details")).toBeNull();
  });

  it("says connecting while connecting", () => {
    render(ConnectionBanner, props({ state: "connecting" }));
    expect(screen.getByTestId("offline-banner")).toHaveTextContent("Connecting…");
    expect(screen.queryByRole("button", { name: "Retry now" })).toBeNull();
  });

  it("says connected without live updates while polling, not offline", async () => {
    const reason = "cannot connect: HTTP error: 403 Forbidden";
    const p = props({ state: "polling", retry_at: null, reason });
    render(ConnectionBanner, p);
    const banner = screen.getByTestId("offline-banner");
    expect(banner).toHaveAttribute("data-state", "polling");
    expect(banner).toHaveTextContent("Connected without live updates");
    expect(banner).not.toHaveTextContent("Offline");
    expect(screen.getByTestId("polling-explanation")).toHaveTextContent("checks for new messages");
    expect(screen.queryByTestId("offline-explanation")).toBeNull();
    expect(screen.getByTestId("offline-reason")).not.toBeVisible();
    await fireEvent.click(screen.getByText("Details"));
    expect(screen.getByTestId("offline-reason")).toHaveTextContent(reason);
    await fireEvent.click(screen.getByRole("button", { name: "Try live again" }));
    expect(p.onretry).toHaveBeenCalledOnce();
  });

  it("says back online for a moment when the socket comes back after polling", async () => {
    vi.useFakeTimers();
    const { rerender } = render(ConnectionBanner, props({ state: "polling", retry_at: null, reason: null }));
    await rerender({ connection: { state: "online" } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-state", "back-online");
  });

  it("says back online for a moment after being offline", async () => {
    vi.useFakeTimers();
    const p = props({ state: "offline", retry_at: null, reason: null });
    const { rerender } = render(ConnectionBanner, p);
    await rerender({ connection: { state: "connecting" } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-retrying", "true");
    await rerender({ connection: { state: "online" } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-state", "back-online");
    expect(screen.getByTestId("offline-banner")).toHaveTextContent("Back online");
    await vi.advanceTimersByTimeAsync(3100);
    expect(screen.queryByTestId("offline-banner")).toBeNull();
  });

  it("keeps the offline banner, whole, while the link tries again", async () => {
    const first = new Date(2024, 4, 15, 14, 3, 9).toISOString();
    const reason = "cannot connect: Connection refused";
    const { rerender } = render(ConnectionBanner, props({ state: "offline", retry_at: first, reason }));
    const shape = () => Array.from(screen.getByTestId("offline-banner").children).map((el) => el.outerHTML);
    const offline = shape();

    // Every attempt passes through "connecting": the banner keeps its words and parts,
    // so nothing below it moves; only Retry is busy.
    await rerender({ connection: { state: "connecting" } });
    const banner = screen.getByTestId("offline-banner");
    expect(banner).toHaveAttribute("data-state", "offline");
    expect(banner).toHaveAttribute("data-retrying", "true");
    expect(banner).toHaveAttribute("aria-busy", "true");
    expect(banner).toHaveTextContent(`Offline — retrying at ${clockTimeWithSeconds(first)}`);
    expect(screen.getByTestId("offline-reason")).toHaveTextContent(reason);
    expect(screen.getByTestId("retry-now")).toBeDisabled();
    expect(shape().map((html) => html.replace(" disabled=\"\"", ""))).toEqual(offline);

    // The attempt failed: the next retry time, and Retry works again.
    const next = new Date(2024, 4, 15, 14, 3, 19).toISOString();
    await rerender({ connection: { state: "offline", retry_at: next, reason } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-retrying", "false");
    expect(screen.getByTestId("offline-banner")).toHaveTextContent(clockTimeWithSeconds(next));
    expect(screen.getByTestId("retry-now")).toBeEnabled();
  });

  it("keeps the polling banner while the socket tries again", async () => {
    const { rerender } = render(ConnectionBanner, props({ state: "polling", retry_at: null, reason: null }));
    await rerender({ connection: { state: "connecting" } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-state", "polling");
    expect(screen.getByTestId("retry-now")).toBeDisabled();
  });

  it("says connecting again once the link was back, then lost", async () => {
    const { rerender } = render(ConnectionBanner, props({ state: "offline", retry_at: null, reason: null }));
    await rerender({ connection: { state: "online" } });
    await rerender({ connection: { state: "connecting" } });
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-state", "connecting");
    expect(screen.getByTestId("offline-banner")).toHaveTextContent("Connecting…");
  });

  it("does not say back online after the first connection", async () => {
    const { rerender } = render(ConnectionBanner, props({ state: "connecting" }));
    await rerender({ connection: { state: "online" } });
    expect(screen.queryByTestId("offline-banner")).toBeNull();
  });

  it("lives in a polite status region", () => {
    render(ConnectionBanner, props({ state: "connecting" }));
    expect(screen.getByRole("status")).toContainElement(screen.getByTestId("offline-banner"));
  });

  it("asks to sign in again when the session ended", async () => {
    const p = props({ state: "signed_out" });
    render(ConnectionBanner, p);
    await fireEvent.click(screen.getByTestId("sign-in-again"));
    expect(p.onsignin).toHaveBeenCalledOnce();
  });
});
