//! STUB until the emulator branch lands.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub async fn serve(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented")
}
