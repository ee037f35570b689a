// The console rendered against a `FakeFerry` and signed in as its operator, for the
// component tests: what an administrator sees once past the sign-in form.
import { render, screen } from "@testing-library/svelte";
import { Server } from "./api";
import Console from "./Console.svelte";
import type { FakeFerry } from "./fake-server";

export async function openConsole(fake: FakeFerry): Promise<Server> {
  const server = new Server({ fetch: fake.fetch, storage: null });
  await server.signIn(fake.operator.username, fake.password);
  render(Console, { props: { server } });
  await screen.findByTestId("whoami");
  return server;
}
