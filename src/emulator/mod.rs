//! A faithful local API Gateway -> Lambda -> SageMaker XGBoost endpoint (see AWS_WIRE.md).

pub mod auth;
pub mod model;
pub mod pyfloat;
pub mod serve;

// STUB until the emulator branch lands: the library API other code uses.
#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {}

pub struct Emulator {
    addr: std::net::SocketAddr,
}

impl Emulator {
    pub async fn start(_cfg: EmulatorConfig) -> anyhow::Result<Emulator> {
        anyhow::bail!("emulator not implemented yet")
    }
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn invoke_url(&self) -> String {
        format!("http://{}/species/irispredict", self.addr)
    }
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn endpoint_name(&self) -> &str {
        "iris-xgb"
    }
    pub fn region(&self) -> &str {
        "us-east-1"
    }
}
