//! `ferry-desktop`: starts the Ferry desktop app.

// Without a console window on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    ferry_desktop::run();
}
