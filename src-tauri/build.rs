//! Tauri's build step: generates the context (config, capabilities, embedded UI from
//! `ui/dist`, which `scripts/test.sh` and `scripts/run.sh` build first).

fn main() {
    tauri_build::build();
}
