// Entry point of the admin console (console.html): its stylesheet, then the console,
// talking to the server that serves the page.
import { mount } from "svelte";
import { Server } from "./api";
import Console from "./Console.svelte";
import "./console.css";

const target = document.getElementById("console");
if (!target) throw new Error("console.html has no #console element");

export default mount(Console, { target, props: { server: new Server() } });
