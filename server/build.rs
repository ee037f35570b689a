//! Rebuilds the server when the admin console's built page changes (`ui/dist-console`,
//! embedded by `http::console`) or a migration is added (`sqlx::migrate!` reads the
//! folder when the crate compiles, and cargo does not watch it by itself).

fn main() {
    println!("cargo:rerun-if-changed=../ui/dist-console");
    println!("cargo:rerun-if-changed=../migrations");
}
