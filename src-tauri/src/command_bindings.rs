//! The UI's command bindings, generated from the commands themselves: this test reads
//! the commands the shell registers (`generate_handler!` in `lib.rs`) and their
//! signatures in `commands/`, and writes `ui/src/lib/bindings/Commands.ts`: each
//! command's name, its arguments as the UI passes them (camelCase, as Tauri takes them)
//! and what it answers. `ui/src/lib/backend` calls commands only through that type, so a
//! renamed command, argument or answer fails the UI's type check (`npm run check`)
//! instead of failing at run time. The test fails when the committed file is stale (run
//! with `FERRY_UPDATE_BINDINGS=1` to rewrite it), as the ts-rs bindings' does.
//!
//! (tauri-specta does this as a library, but only as a release candidate for Tauri 2.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use syn::{FnArg, GenericArgument, Item, Pat, PathArguments, ReturnType, Type};

/// Parameters Tauri fills itself: they are not the UI's to pass.
const INJECTED: [&str; 4] = ["State", "AppHandle", "Window", "WebviewWindow"];

fn source(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commands `generate_handler!` registers, in its order.
fn registered() -> Vec<String> {
    let lib = source("lib.rs");
    let start = lib
        .find("generate_handler![")
        .expect("lib.rs registers commands");
    let end = start + lib[start..].find(']').expect("the list ends");
    lib[start..end]
        .split("commands::")
        .skip(1)
        .map(|name| name.trim().trim_end_matches(',').trim().to_owned())
        .collect()
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) => path.path.segments.last(),
        Type::Reference(reference) => last_segment(&reference.elem),
        _ => None,
    }
}

fn generic(segment: &syn::PathSegment) -> Option<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

/// The TypeScript of a Rust type the commands use; named types are ts-rs bindings.
fn typescript(ty: &Type, imports: &mut BTreeSet<String>) -> String {
    if let Type::Tuple(tuple) = ty
        && tuple.elems.is_empty()
    {
        return "void".into();
    }
    let segment = last_segment(ty).expect("a command's types are paths, references or ()");
    let name = segment.ident.to_string();
    let argument = generic(segment);
    let inner =
        |imports: &mut BTreeSet<String>| typescript(argument.expect("a type argument"), imports);
    match name.as_str() {
        "String" | "str" | "Uuid" | "PathBuf" => "string".into(),
        "bool" => "boolean".into(),
        "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "usize" | "f64" => "number".into(),
        "Option" => format!("{} | null", inner(imports)),
        "Vec" => format!("Array<{}>", inner(imports)),
        "Result" => inner(imports),
        _ => {
            imports.insert(name.clone());
            name
        }
    }
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Every file of `src/commands/`, parsed: the commands are split there by topic.
fn command_files() -> Vec<syn::File> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            syn::parse_file(&text).unwrap_or_else(|e| panic!("{} parses: {e}", path.display()))
        })
        .collect()
}

/// The generated file's text.
fn generate() -> String {
    let files = command_files();
    let mut imports = BTreeSet::new();
    let mut entries = Vec::new();
    for name in registered() {
        let command = files
            .iter()
            .flat_map(|file| &file.items)
            .find_map(|item| match item {
                Item::Fn(f) if f.sig.ident == name => Some(f),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} is registered but not in src/commands/"));
        let mut args = Vec::new();
        for input in &command.sig.inputs {
            let FnArg::Typed(arg) = input else { continue };
            let injected = last_segment(&arg.ty)
                .is_some_and(|s| INJECTED.contains(&s.ident.to_string().as_str()));
            let Pat::Ident(ident) = &*arg.pat else {
                panic!("{name}: a parameter that is not a plain name");
            };
            if injected {
                continue;
            }
            let ty = typescript(&arg.ty, &mut imports);
            // Tauri takes a missing optional argument as `None`.
            let optional = if ty.ends_with(" | null") { "?" } else { "" };
            args.push(format!(
                "{}{optional}: {ty}",
                camel(&ident.ident.to_string())
            ));
        }
        let returns = match &command.sig.output {
            ReturnType::Default => "void".into(),
            ReturnType::Type(_, ty) => typescript(ty, &mut imports),
        };
        let args = if args.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            format!("{{ {} }}", args.join("; "))
        };
        entries.push(format!("  {name}: {{ args: {args}; returns: {returns} }};"));
    }
    let mut text = String::from(
        "// Generated from src-tauri/src/commands/ by its test `command_bindings`. Do not edit\n\
         // this file manually: run FERRY_UPDATE_BINDINGS=1 cargo test -p ferry-desktop.\n",
    );
    for import in &imports {
        text.push_str(&format!(
            "import type {{ {import} }} from \"./{import}\";\n"
        ));
    }
    text.push_str(
        "\n/** Every command the shell registers: its arguments as the UI passes them, and\n \
         * what it answers. */\nexport type Commands = {\n",
    );
    text.push_str(&entries.join("\n"));
    text.push_str("\n};\n");
    text
}

#[test]
fn command_bindings_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings/Commands.ts");
    let text = generate();
    if std::env::var_os("FERRY_UPDATE_BINDINGS").is_some() {
        std::fs::write(&path, &text).expect("write the command bindings");
    } else {
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some(text.as_str()),
            "stale {} (run FERRY_UPDATE_BINDINGS=1 cargo test -p ferry-desktop)",
            path.display()
        );
    }
}
