//! `cargo run -p xtask -- dist-assets OUTDIR`: the files a release archive ships beside the
//! binary, generated from entra-token's own clap definition — man pages (`OUTDIR/man/*.1`, one
//! for `entra-token` and one for each subcommand) and shell completions
//! (`OUTDIR/completions/`, the same scripts `entra-token completions SHELL` prints).

use clap::{Parser, Subcommand};
use clap_complete::{Generator, Shell};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Build helpers for entra-token's releases.
#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Write the man pages and shell completions into OUTDIR (created if missing)
    DistAssets {
        /// Output directory
        #[arg(value_name = "OUTDIR")]
        out_dir: PathBuf,
    },
}

/// The shells a release ships completions for (elvish too: the binary supports it).
const SHELLS: [Shell; 5] = [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish];

fn main() -> ExitCode {
    let Task::DistAssets { out_dir } = Xtask::parse().task;
    match dist_assets(&out_dir) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: dist-assets {}: {e}", out_dir.display());
            ExitCode::from(2)
        }
    }
}

/// Writes every asset; returns the paths written.
fn dist_assets(out_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let cmd = entra_token::cli::command();
    let bin_name = cmd.get_name().to_string();

    let man_dir = out_dir.join("man");
    std::fs::create_dir_all(&man_dir)?;
    clap_mangen::generate_to(cmd.clone(), &man_dir)?;
    for entry in std::fs::read_dir(&man_dir)? {
        written.push(entry?.path());
    }
    written.sort();

    let completions_dir = out_dir.join("completions");
    std::fs::create_dir_all(&completions_dir)?;
    for shell in SHELLS {
        // the corrected scripts `entra-token completions SHELL` prints, not clap_complete's raw ones
        let path = completions_dir.join(shell.file_name(&bin_name));
        std::fs::write(&path, entra_token::completion::script(shell))?;
        written.push(path);
    }
    Ok(written)
}
