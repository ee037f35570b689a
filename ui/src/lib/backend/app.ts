/**
 * The app on this computer: settings, its version and its updates. Kept by the shell
 * apart from the account, they hold signed out and offline (though the update feed may
 * be the server's).
 */
import type { AppSettings } from "../bindings/AppSettings";
import type { AvailableUpdate } from "../bindings/AvailableUpdate";

import { call } from "./call";

/** The theme, the language, closing to the tray and starting at login, as stored. */
export function appSettings(): Promise<AppSettings> {
  return call("app_settings");
}

/**
 * Stores `settings` whole; resolves with what was stored. Starting at login is set with
 * the system first: when the system refuses, nothing is stored and it rejects.
 */
export function setAppSettings(settings: AppSettings): Promise<AppSettings> {
  return call("set_app_settings", { settings });
}

/** The version of Ferry running now ("0.1.0"). */
export function appVersion(): Promise<string> {
  return call("app_version");
}

/**
 * Asks the update feed (the build's own, else the signed-in server's) whether a newer
 * Ferry is published; null when this is the newest. A build without an update key, or a
 * server that publishes none, rejects, saying so.
 */
export function checkForUpdate(): Promise<AvailableUpdate | null> {
  return call("check_for_update");
}

/**
 * Downloads the update `checkForUpdate` found (`update_progress` events, then
 * `update_downloaded`), checks its signature, installs it and starts Ferry again as the
 * new version: on success it never resolves, the process being replaced. It rejects
 * only when it failed, and then nothing changed.
 */
export function installUpdate(): Promise<void> {
  return call("install_update");
}
