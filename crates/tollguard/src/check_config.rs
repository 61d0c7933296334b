//! `tollguard check-config FILE`: validates a guard configuration and explains each error with
//! file:line:column and what to do; on success, summarises what the guard would do. `--lang ja` writes the
//! summary and the positions in Japanese from the loaded settings; the loaders' explanations of an error stay in
//! English (they are the loaders' own sentences, not translated).

use std::path::PathBuf;
use std::process::ExitCode;

use api::notify::Lang;

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// The configuration file to check.
    pub file: PathBuf,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Language of the text output (en, ja).
    #[arg(long, default_value = "en", value_parser = crate::analyze::lang_arg())]
    pub lang: Lang,
}

pub fn run(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let json = match args.format.as_str() {
        "text" => false,
        "json" => true,
        other => anyhow::bail!("--format {other}: use text or json"),
    };
    // One file configures the guard, the operator API ([api]) and the notifications ([notify]): every
    // section's errors are reported together, each with its line.
    let file = args.file.display().to_string();
    let mut sections = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&args.file) {
        if let Err(e) = api::ApiConfig::from_toml_str(&text) {
            sections.push(guard::ConfigError {
                file: file.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            });
        }
        if let Err(e) = api::notify::NotifyConfig::from_toml_str(&text) {
            sections.push(guard::ConfigError {
                file: file.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            });
        }
    }
    let loaded = match guard::Settings::load(&args.file) {
        Ok(s) if sections.is_empty() => Ok(s),
        Ok(_) => Err(guard::ConfigErrors(sections)),
        Err(mut errors) => {
            errors.0.extend(sections);
            Err(errors)
        }
    };
    match loaded {
        Ok(s) => {
            if json {
                let v = serde_json::json!({
                    "file": args.file.display().to_string(),
                    "ok": true,
                    "listeners": s.listeners.iter().map(|l| serde_json::json!({
                        "address": l.address.to_string(),
                        "transport": l.transport.param(),
                        "role": l.role.as_str(),
                    })).collect::<Vec<_>>(),
                    "pbx": s.pbx.address.to_string(),
                    "trunk": s.trunk.map(|t| t.address.to_string()),
                    "tenants": s.tenants.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                });
                println!("{v}");
            } else {
                print_summary(&args, &s);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            if json {
                let v: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| {
                        serde_json::json!({"file": e.file, "line": e.line, "column": e.column, "message": e.message})
                    })
                    .collect();
                println!("{}", serde_json::json!({"ok": false, "errors": v}));
            } else {
                for e in &errors.0 {
                    println!("{}", error_line(e, args.lang));
                }
                match args.lang {
                    Lang::En => println!("{} error(s)", errors.0.len()),
                    Lang::Ja => println!("エラー {}件", errors.0.len()),
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// One error: "file:line:column: message" / "file 12行3列: message".
fn error_line(e: &guard::ConfigError, lang: Lang) -> String {
    match (lang, e.line) {
        (Lang::En, _) => e.to_string(),
        (Lang::Ja, 0) => format!("{}: {}", e.file, e.message),
        (Lang::Ja, line) => format!("{} {line}行{}列: {}", e.file, e.column, e.message),
    }
}

/// What the guard would do with a valid configuration.
fn print_summary(args: &CheckConfigArgs, s: &guard::Settings) {
    let store = s.store_path.as_ref().map(|p| p.display().to_string());
    match args.lang {
        Lang::En => {
            println!("{}: OK", args.file.display());
            for l in &s.listeners {
                println!(
                    "  listen {} {} ({} side)",
                    l.transport.param(),
                    l.address,
                    l.role.as_str()
                );
            }
            println!("  PBX at {} ({})", s.pbx.address, s.pbx.transport.param());
            match s.trunk {
                Some(t) => println!("  carrier at {} ({})", t.address, t.transport.param()),
                None => println!("  no trunk: outbound calls are not guarded"),
            }
            println!(
                "  {} trusted network(s); policy: {:?}; store: {}",
                s.trusted.len(),
                s.policy_source,
                store.unwrap_or_else(|| "none (bans are lost on restart)".into())
            );
        }
        Lang::Ja => {
            println!("{}: 問題ありません", args.file.display());
            for l in &s.listeners {
                println!(
                    "  待ち受け {} {}（{}側）",
                    l.transport.param(),
                    l.address,
                    l.role.as_str()
                );
            }
            println!("  PBX {}（{}）", s.pbx.address, s.pbx.transport.param());
            match s.trunk {
                Some(t) => println!("  通信事業者 {}（{}）", t.address, t.transport.param()),
                None => println!("  トランクなし: 発信は監視されません"),
            }
            println!(
                "  信頼するネットワーク {}件、ポリシー: {:?}、保存先: {}",
                s.trusted.len(),
                s.policy_source,
                store.unwrap_or_else(|| "なし（再起動するとBANが消えます）".into())
            );
        }
    }
}
