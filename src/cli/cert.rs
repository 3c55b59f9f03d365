//! `cert inspect | create | manifest`.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show subject, validity, key, SHA-1 thumbprint (as the Entra portal shows it), x5t, x5t#S256
    Inspect(CertInspectArgs),
    /// Create a self-signed RSA certificate and key (PEM, mode 0600; optionally PFX)
    #[command(after_help = CERT_CREATE_EXAMPLES)]
    Create(CertCreateArgs),
    /// Print the app manifest `keyCredentials` entry for a certificate
    Manifest(CertManifestArgs),
}

const CERT_CREATE_EXAMPLES: &str = "\
Examples:
  entra-token cert create --subject \"CN=reports-job\" --out app.pem --cert-out app.crt
  AZURE_CLIENT_CERTIFICATE_PASSWORD=... entra-token cert create --subject \"CN=x, O=Contoso\" \\
      --days 730 --out app.pem --pfx app.pfx
Upload the certificate (app.crt, or the `value` of `entra-token cert manifest app.pem`) to the app
registration; keep app.pem private.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CertOutputFormat {
    /// Human-readable lines
    Text,
    /// One JSON object
    Json,
}

#[derive(Debug, Args)]
pub struct CertInspectArgs {
    /// PEM, PFX/PKCS#12 or DER certificate file ('-' = stdin)
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: CertOutputFormat,
    /// Read the file's password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH")]
    pub certificate_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CertCreateArgs {
    /// Subject distinguished name, e.g. "CN=my-app, O=Contoso" (CN, O, OU, C, ST, L)
    #[arg(long, value_name = "DN")]
    pub subject: String,
    /// Validity in days from now
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub days: u32,
    /// RSA key size in bits: 2048, 3072 or 4096
    #[arg(long, value_name = "BITS", default_value_t = 3072)]
    pub key_size: u32,
    /// PEM file to write with the private key and the certificate (mode 0600)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Also write the certificate alone (PEM, no key) to PATH, for uploading to the app registration
    #[arg(long, value_name = "PATH")]
    pub cert_out: Option<PathBuf>,
    /// Also write a PFX/PKCS#12 file (AES-256, mode 0600); needs a password
    #[arg(long, value_name = "PATH")]
    pub pfx: Option<PathBuf>,
    /// Read the PFX password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH", requires = "pfx")]
    pub pfx_password_file: Option<PathBuf>,
    /// Replace existing files
    #[arg(long)]
    pub force: bool,
    /// Output format of the summary printed for the new certificate
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: CertOutputFormat,
}

#[derive(Debug, Args)]
pub struct CertManifestArgs {
    /// PEM, PFX/PKCS#12 or DER certificate file ('-' = stdin)
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Read the file's password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH")]
    pub certificate_password_file: Option<PathBuf>,
}
