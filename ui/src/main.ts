// Entry point: global styles, then the app.
import { mount } from "svelte";
import App from "./App.svelte";
// Before anything is drawn: the language the messages are said in (the system's, or the one chosen).
import "./lib/i18n.svelte";
import "./app.css";

const target = document.getElementById("app");
if (!target) throw new Error("index.html has no #app element");

export default mount(App, { target });
